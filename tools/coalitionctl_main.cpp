#include "tools/ctl/commands.hpp"

#include <iostream>

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    return coalition::ctl::run_ctl(args, std::cout, std::cerr, coalition::process_environment());
}
