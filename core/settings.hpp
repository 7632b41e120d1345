#pragma once
// Settings of both programs: a JSON config file (COALITION_CONFIG or --config) overlaid by
// COALITION_* environment variables. Every value is validated when loaded; a bad one is a
// SettingsError whose what() is the one-line reason the programs print before exiting 2.
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace coalition {

class SettingsError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The server's default number of I/O threads: half the cores this process may use
// (available_cores: a container's CPU quota, not the host's cores), at least 1. The I/O threads
// share the cores with the batcher, the database workers and, often, PostgreSQL itself: on 2
// cores one I/O thread booked as many claims as two, for 2–13 % less of the server's CPU per
// claim (docs/performance.md, "One I/O thread on two cores").
int default_io_threads();

struct Settings {
    std::string db;  // libpq connection string; empty means "not configured"
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 8443;
    std::string tls_cert;
    std::string tls_key;
    std::string client_ca;  // non-empty enables mutual TLS
    bool client_cert_required = false;

    int threads = default_io_threads();  // I/O threads of the server
    int db_pool_size = 8;                // database connections the server keeps
    int max_connections = 2048;

    // A deadline on every I/O step (Beast server-flex habit).
    int handshake_timeout_ms = 5000;
    int header_timeout_ms = 10000;
    int body_timeout_ms = 30000;
    int idle_timeout_ms = 60000;
    int shutdown_timeout_ms = 10000;
    int db_connect_timeout_s = 3;
    // The server's database sessions wait at most this long for a lock (PostgreSQL's
    // lock_timeout; 0: no limit). A claim that meets a lock held longer, by an operator's DDL or
    // an open psql transaction, is answered 503 instead of holding its batch, its pool worker
    // and its connection for as long as the lock is held.
    int db_lock_timeout_ms = 5000;
    int db_retry_after_s = 2;  // Retry-After sent with 503 unavailable

    // Per-partner token bucket.
    int rate_limit_per_s = 2000;
    int rate_limit_burst = 4000;

    // How often the server re-reads partners, their secrets and status, and the program
    // currency, so that coalitionctl changes reach it without a restart (the contract allows at
    // most 5 s). Tokens and prices are read from the database on each request.
    int refresh_interval_ms = 2000;

    // Group commit: claims from all connections are booked together, in one transaction of at
    // most batch_max_claims claims. A batch leaves when it is full, when no batch is committing
    // (an idle server adds no wait), or batch_max_wait_ms after its first claim arrived; at most
    // batch_max_in_flight batches run at once (each on one pool connection), so that under load
    // the next batch grows while the previous ones commit. batch_max_claims = 1 books one claim
    // per transaction.
    int batch_max_claims = 256;
    int batch_max_wait_ms = 5;
    int batch_max_in_flight = 2;

    // The daily clearing job closes a date this long after it ended.
    int settle_grace_s = 900;

    std::string log_level = "info";  // debug | info | warn | error
};

// Reads an environment variable; injectable so tests need not touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_environment();

// Loads settings: defaults, then the config file (explicit path, else COALITION_CONFIG if set),
// then COALITION_* variables. Throws SettingsError on any unknown key or invalid value.
Settings load_settings(const EnvLookup& env, const std::optional<std::string>& config_path = {});

// What the server needs on top of what load_settings checks; throws SettingsError.
void require_server_settings(const Settings& settings);
// What every database command needs; throws SettingsError.
void require_database_setting(const Settings& settings);

// The names of the process's environment variables.
std::vector<std::string> process_environment_names();

// Throws SettingsError naming the first of `names` that looks like a misspelt setting variable:
// a COALITION_* name that is no setting's (nor COALITION_CONFIG) but within an edit or two of
// one (COALITION_CLIENTCA for COALITION_CLIENT_CA). Unread, it would leave its setting at the
// file's value or the default without a word: mutual TLS off, say. Other COALITION_* names
// (the scripts' and tests' own) pass.
void refuse_misspelt_setting_variables(const std::vector<std::string>& names);

// The names of all settings, as "file key / ENVIRONMENT_NAME" lines, for --help and docs.
std::vector<std::string> describe_settings();

}  // namespace coalition
