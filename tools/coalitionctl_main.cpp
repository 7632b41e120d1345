#include "core/one_line.hpp"
#include "core/settings.hpp"
#include "tools/ctl/commands.hpp"

#include <csignal>
#include <iostream>

int main(int argc, char** argv) {
    // Output to a closed pipe fails a write (run_ctl then exits 1 with one line) rather than
    // killing the process with no word, after a change whose printed secret is lost.
    std::signal(SIGPIPE, SIG_IGN);
    const std::vector<std::string> args(argv + 1, argv + argc);
    // `help` lists the settings' names: it is where a misspelt one is put right. The command
    // follows the options (`--config FILE` or `--config=FILE`).
    std::size_t command = 0;
    while (command < args.size() && args[command].rfind("--config", 0) == 0) {
        command += args[command] == "--config" ? 2U : 1U;
    }
    const bool help = command < args.size() && (args[command] == "help" ||
                                                args[command] == "--help" || args[command] == "-h");
    try {
        if (!help)
            coalition::refuse_misspelt_setting_variables(coalition::process_environment_names());
    } catch (const coalition::SettingsError& e) {
        std::cerr << "coalitionctl: " << coalition::one_line(e.what()) << "\n";
        return 2;
    }
    return coalition::ctl::run_ctl(args, std::cout, std::cerr, coalition::process_environment());
}
