// loadgen: signed claims against a local coalition-server. All logic is in the library
// (tools/loadgen/*.cpp); this parses the command line, runs, prints and picks the exit status.
#include "tools/loadgen/client.hpp"
#include "tools/loadgen/options.hpp"

#include <exception>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    using namespace coalition::loadgen;
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (const auto& arg : args) {
        if (arg == "--help" || arg == "-h") {
            std::cout << usage_text();
            return 0;
        }
    }
    try {
        const Options options = parse_options(args);
        if (options.idle_mode()) {
            const auto summary = run_idle(options, std::cout);
            std::cout << (options.json ? format_idle_json(summary) + "\n"
                                       : format_idle_text(summary));
            return summary.clean() ? 0 : 1;
        }
        const auto partners = load_partners_file(options.partners_file);
        const auto summary = run_load(options, partners);
        std::cout << (options.json ? format_json(summary) + "\n" : format_text(summary));
        return summary.clean() ? 0 : 1;
    } catch (const UsageError& e) {
        std::cerr << "loadgen: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "loadgen: " << e.what() << "\n";
        return 1;
    }
}
