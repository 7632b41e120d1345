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

int main(int argc, char** argv) {
    std::optional<std::string> config_path;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else {
            std::fprintf(stderr, "coalition-server: unknown argument '%s' (usage: coalition-server [--config FILE])\n", argv[i]);
            return 2;
        }
    }
    std::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write must not kill the process
    try {
        const auto settings = coalition::load_settings(coalition::process_environment(), config_path);
        coalition::require_server_settings(settings);
        coalition::storage::check_conninfo(settings.db);
        return coalition::server::run_server(settings);
    } catch (const coalition::SettingsError& e) {
        std::fprintf(stderr, "coalition-server: %s\n", coalition::one_line(e.what()).c_str());
        return 2;
    }
}
