#include "tools/ctl/commands.hpp"

#include <csignal>
#include <iostream>

int main(int argc, char** argv) {
    // Output to a closed pipe fails a write (run_ctl then exits 1 with one line) rather than
    // killing the process with no word, after a change whose printed secret is lost.
    std::signal(SIGPIPE, SIG_IGN);
    const std::vector<std::string> args(argv + 1, argv + argc);
    return coalition::ctl::run_ctl(args, std::cout, std::cerr, coalition::process_environment());
}
