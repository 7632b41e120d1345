// coalition-server: loads and validates settings, then serves. All logic lives in the library.
#include "core/one_line.hpp"
#include "core/settings.hpp"
#include "server/server.hpp"
#include "storage/database.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

namespace {

constexpr const char* kUsage = "usage: coalition-server [--config FILE]";

// The same spellings coalitionctl takes: `--config FILE` or `--config=FILE`, once.
int refuse(const std::string& reason) {
    // one_line: an argument may hold a newline, and the reason is one line.
    std::fprintf(stderr, "coalition-server: %s (%s)\n", coalition::one_line(reason).c_str(),
                 kUsage);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<std::string> config_path;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::printf(
                "%s\nSettings: a JSON config file and COALITION_* variables; see "
                "docs/operators.md.\n",
                kUsage);
            return 0;
        }
        const bool spelled_apart = arg == "--config";
        if (!spelled_apart && arg.rfind("--config=", 0) != 0) {
            return refuse("unknown argument '" + arg + "'");
        }
        if (config_path) return refuse("--config is given twice");
        if (spelled_apart && i + 1 >= argc) return refuse("--config needs a value");
        config_path = spelled_apart ? argv[++i] : arg.substr(std::strlen("--config="));
    }
    std::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write must not kill the process
    try {
        coalition::refuse_misspelt_setting_variables(coalition::process_environment_names());
        const auto settings = coalition::load_settings(coalition::process_environment(), config_path);
        coalition::require_server_settings(settings);
        coalition::storage::check_conninfo(settings.db);
        coalition::storage::check_conninfo_values(settings.db);
        return coalition::server::run_server(settings);
    } catch (const coalition::SettingsError& e) {
        std::fprintf(stderr, "coalition-server: %s\n", coalition::one_line(e.what()).c_str());
        return 2;
    }
}
