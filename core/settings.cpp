#include "core/settings.hpp"

#include "core/cores.hpp"
#include "core/files.hpp"
#include "core/json_input.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <string_view>

#include <unistd.h>  // environ

namespace coalition {
namespace {

// One setting: its key in the config file, its environment variable and how to apply a value.
struct SettingSpec {
    const char* key;
    const char* env;
    std::function<void(Settings&, const std::string&)> apply;
};

long long parse_integer(const std::string& name, const std::string& text, long long min,
                        long long max) {
    long long value = 0;
    const auto* begin = text.data();
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(begin, end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
        throw SettingsError(name + ": expected an integer, got '" + text + "'");
    }
    if (value < min || value > max) {
        throw SettingsError(name + ": " + text + " is outside " + std::to_string(min) + ".." +
                            std::to_string(max));
    }
    return value;
}

std::function<void(Settings&, const std::string&)> int_setting(int Settings::*member,
                                                               const char* name, int min,
                                                               int max) {
    return [member, name, min, max](Settings& s, const std::string& v) {
        s.*member = static_cast<int>(parse_integer(name, v, min, max));
    };
}

bool parse_bool(const std::string& name, const std::string& text) {
    if (text == "true" || text == "1" || text == "yes") return true;
    if (text == "false" || text == "0" || text == "no") return false;
    throw SettingsError(name + ": expected true or false, got '" + text + "'");
}

// "host:port" or "[v6]:port".
void apply_listen(Settings& s, const std::string& text) {
    const std::string name = "COALITION_LISTEN";
    std::string host;
    std::string port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            throw SettingsError(name + ": expected [IPV6]:PORT, got '" + text + "'");
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string::npos || colon == 0) {
            throw SettingsError(name + ": expected HOST:PORT, got '" + text + "'");
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string::npos) {
            throw SettingsError(name + ": write an IPv6 address as [ADDRESS]:PORT, got '" + text + "'");
        }
    }
    if (host.empty()) throw SettingsError(name + ": empty host in '" + text + "'");
    s.listen_host = host;
    s.listen_port = static_cast<std::uint16_t>(parse_integer(name, port, 1, 65535));
}

const std::vector<SettingSpec>& specs() {
    static const std::vector<SettingSpec> kSpecs = {
        {"db", "COALITION_DB", [](Settings& s, const std::string& v) { s.db = v; }},
        {"listen", "COALITION_LISTEN", apply_listen},
        {"tls_cert", "COALITION_TLS_CERT",
         [](Settings& s, const std::string& v) { s.tls_cert = v; }},
        {"tls_key", "COALITION_TLS_KEY", [](Settings& s, const std::string& v) { s.tls_key = v; }},
        {"client_ca", "COALITION_CLIENT_CA",
         [](Settings& s, const std::string& v) { s.client_ca = v; }},
        {"client_cert_required", "COALITION_CLIENT_CERT_REQUIRED",
         [](Settings& s, const std::string& v) {
             s.client_cert_required = parse_bool("COALITION_CLIENT_CERT_REQUIRED", v);
         }},
        {"threads", "COALITION_THREADS",
         int_setting(&Settings::threads, "COALITION_THREADS", 1, 256)},
        {"db_pool_size", "COALITION_DB_POOL_SIZE",
         int_setting(&Settings::db_pool_size, "COALITION_DB_POOL_SIZE", 1, 512)},
        {"max_connections", "COALITION_MAX_CONNECTIONS",
         int_setting(&Settings::max_connections, "COALITION_MAX_CONNECTIONS", 1, 1000000)},
        {"handshake_timeout_ms", "COALITION_HANDSHAKE_TIMEOUT_MS",
         int_setting(&Settings::handshake_timeout_ms, "COALITION_HANDSHAKE_TIMEOUT_MS", 10,
                     600000)},
        {"header_timeout_ms", "COALITION_HEADER_TIMEOUT_MS",
         int_setting(&Settings::header_timeout_ms, "COALITION_HEADER_TIMEOUT_MS", 10, 600000)},
        {"body_timeout_ms", "COALITION_BODY_TIMEOUT_MS",
         int_setting(&Settings::body_timeout_ms, "COALITION_BODY_TIMEOUT_MS", 10, 600000)},
        {"idle_timeout_ms", "COALITION_IDLE_TIMEOUT_MS",
         int_setting(&Settings::idle_timeout_ms, "COALITION_IDLE_TIMEOUT_MS", 10, 3600000)},
        {"shutdown_timeout_ms", "COALITION_SHUTDOWN_TIMEOUT_MS",
         int_setting(&Settings::shutdown_timeout_ms, "COALITION_SHUTDOWN_TIMEOUT_MS", 10, 600000)},
        {"db_connect_timeout_s", "COALITION_DB_CONNECT_TIMEOUT_S",
         int_setting(&Settings::db_connect_timeout_s, "COALITION_DB_CONNECT_TIMEOUT_S", 1, 60)},
        {"db_lock_timeout_ms", "COALITION_DB_LOCK_TIMEOUT_MS",
         int_setting(&Settings::db_lock_timeout_ms, "COALITION_DB_LOCK_TIMEOUT_MS", 0, 600000)},
        {"db_retry_after_s", "COALITION_DB_RETRY_AFTER_S",
         int_setting(&Settings::db_retry_after_s, "COALITION_DB_RETRY_AFTER_S", 1, 3600)},
        {"rate_limit_per_s", "COALITION_RATE_LIMIT_PER_S",
         int_setting(&Settings::rate_limit_per_s, "COALITION_RATE_LIMIT_PER_S", 1, 10000000)},
        {"rate_limit_burst", "COALITION_RATE_LIMIT_BURST",
         int_setting(&Settings::rate_limit_burst, "COALITION_RATE_LIMIT_BURST", 1, 10000000)},
        {"refresh_interval_ms", "COALITION_REFRESH_INTERVAL_MS",
         // At most 4 s: the re-read waits its turn in the database pool and takes its own
         // time, and CONTRACT.md §4 gives a ctl change 5 s to reach the server.
         int_setting(&Settings::refresh_interval_ms, "COALITION_REFRESH_INTERVAL_MS", 50, 4000)},
        {"batch_max_claims", "COALITION_BATCH_MAX_CLAIMS",
         int_setting(&Settings::batch_max_claims, "COALITION_BATCH_MAX_CLAIMS", 1, 10000)},
        {"batch_max_wait_ms", "COALITION_BATCH_MAX_WAIT_MS",
         int_setting(&Settings::batch_max_wait_ms, "COALITION_BATCH_MAX_WAIT_MS", 0, 1000)},
        {"batch_max_in_flight", "COALITION_BATCH_MAX_IN_FLIGHT",
         int_setting(&Settings::batch_max_in_flight, "COALITION_BATCH_MAX_IN_FLIGHT", 1, 512)},
        {"settle_grace_s", "COALITION_SETTLE_GRACE_S",
         int_setting(&Settings::settle_grace_s, "COALITION_SETTLE_GRACE_S", 0, 86400)},
        {"log_level", "COALITION_LOG_LEVEL",
         [](Settings& s, const std::string& v) {
             if (v != "debug" && v != "info" && v != "warn" && v != "error") {
                 throw SettingsError("COALITION_LOG_LEVEL: expected debug, info, warn or error, got '" +
                                     v + "'");
             }
             s.log_level = v;
         }},
    };
    return kSpecs;
}

// The caller says which file and key.
std::string json_scalar_to_string(const nlohmann::json& value) {
    if (value.is_string()) {
        // "\u0000" is a NUL in the string: every use of a setting (a path, a conninfo, an
        // address) stops at it, so "…/server.pem\u0000.bak" would serve server.pem unnoticed.
        auto text = value.get<std::string>();
        if (holds_nul_byte(text)) throw SettingsError("a value must not hold a NUL character");
        return text;
    }
    if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
    if (value.is_number_integer()) return value.dump();
    throw SettingsError("expected a string, integer or boolean");
}

// Applies the file's settings; returns the keys it set.
std::set<std::string> apply_config_file(Settings& settings, const std::string& path) {
    const auto text = read_file(path);
    if (!text) throw SettingsError("config file '" + path + "' cannot be read");
    // A key given twice would silently keep its last value (nlohmann's choice), the first one
    // being as misleading as a misspelt key: refused like one.
    std::set<std::string> seen;
    std::optional<std::string> twice;
    const nlohmann::json::parser_callback_t note_keys =
        [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
            if (event == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string() &&
                !seen.insert(parsed.get<std::string>()).second && !twice) {
                twice = parsed.get<std::string>();
            }
            return true;
        };
    const auto doc = nlohmann::json::parse(*text, note_keys, /*allow_exceptions=*/false);
    if (doc.is_discarded() || holds_nul_byte(*text))
        throw SettingsError("config file '" + path + "' is not valid JSON");
    if (!doc.is_object()) throw SettingsError("config file '" + path + "' must hold a JSON object");
    // Keys are named in the messages below, which would stop at an escaped NUL ("\u0000").
    for (const auto& [key, value] : doc.items()) {
        if (holds_nul_byte(key)) {
            throw SettingsError("config file '" + path + "': a key holds a NUL character");
        }
    }
    if (twice) throw SettingsError("config file '" + path + "': key '" + *twice + "' given twice");
    for (const auto& [key, value] : doc.items()) {
        const SettingSpec* spec = nullptr;
        for (const auto& candidate : specs()) {
            if (key == candidate.key) spec = &candidate;
        }
        // An unknown key is refused, so a misspelt setting never silently keeps its default.
        if (spec == nullptr) throw SettingsError("config file '" + path + "': unknown key '" + key + "'");
        // The value's checks name the environment variable; say where this one came from.
        try {
            spec->apply(settings, json_scalar_to_string(value));
        } catch (const SettingsError& e) {
            throw SettingsError("config file '" + path + "', key '" + key + "': " + e.what());
        }
    }
    return seen;
}

}  // namespace

EnvLookup process_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
    };
}

std::vector<std::string> process_environment_names() {
    std::vector<std::string> names;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        names.emplace_back(text.substr(0, text.find('=')));
    }
    return names;
}

namespace {

// Edit distance where a swap of two neighbours counts as one edit, like an insertion, a deletion
// or a substitution (optimal string alignment), for names of a few dozen bytes.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                                d[i - 1][j - 1] + (a[i - 1] != b[j - 1] ? 1 : 0)});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

std::string upper_case(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

void refuse_misspelt_setting_variables(const std::vector<std::string>& names) {
    constexpr std::string_view kPrefix = "COALITION_";
    std::vector<std::string_view> settings{"COALITION_CONFIG"};
    for (const auto& spec : specs()) settings.emplace_back(spec.env);
    for (const auto& name : names) {
        if (name.rfind(kPrefix, 0) != 0) continue;
        if (std::find(settings.begin(), settings.end(), name) != settings.end()) continue;
        // Case is ignored: COALITION_db is COALITION_DB mistyped.
        const std::string own = upper_case(std::string_view(name).substr(kPrefix.size()));
        for (const auto setting : settings) {
            const std::string_view wanted = setting.substr(kPrefix.size());
            // One edit for short names (COALITION_DB), two for the rest: COALITION_X or a
            // script's COALITION_ROOT are not near any.
            const std::size_t allowed = wanted.size() < 6 ? 1 : 2;
            if (edit_distance(own, wanted) <= allowed) {
                throw SettingsError(name + " is not a setting: did you mean " +
                                    std::string(setting) + "? Unset it, or spell the setting");
            }
        }
    }
}

int default_io_threads() { return std::clamp(available_cores() / 2, 1, 256); }

Settings load_settings(const EnvLookup& env, const std::optional<std::string>& config_path) {
    Settings settings;
    // `--config ""` (or `--config=`) names no file: refused, not read as "no config file", which
    // would also skip COALITION_CONFIG. So is an empty COALITION_CONFIG, as every empty
    // variable is: `COALITION_CONFIG=$UNSET_NAME` would drop the whole file (its client_ca with
    // it) without a word.
    if (config_path && config_path->empty())
        throw SettingsError("--config: the file name is empty");
    std::optional<std::string> path = config_path;
    if (!path) {
        path = env("COALITION_CONFIG");
        if (path && path->empty()) {
            throw SettingsError("COALITION_CONFIG is set but empty: unset it, or name the file");
        }
    }
    std::set<std::string> given;
    if (path) given = apply_config_file(settings, *path);
    for (const auto& spec : specs()) {
        if (auto value = env(spec.env)) {
            // Set but empty (an unfilled `Environment=` template, say) would silently replace
            // the file's value: an empty COALITION_CLIENT_CA would turn mutual TLS off.
            if (value->empty()) {
                throw SettingsError(std::string(spec.env) +
                                    " is set but empty: unset it, or give it a value");
            }
            spec.apply(settings, *value);
            given.insert(spec.key);
        }
    }
    // Left to its default, batch_max_in_flight follows a smaller pool (db_pool_size 1 is a
    // documented value, and refusing it for a setting nobody gave would be a puzzle).
    if (given.count("batch_max_in_flight") == 0) {
        settings.batch_max_in_flight =
            std::min(settings.batch_max_in_flight, settings.db_pool_size);
    }
    // Likewise the burst follows a rate above 400,000/s, which its default (4,000) would be
    // below 1% of: a refusal naming a setting nobody gave. 1 % rounded up: a burst below it by
    // a fraction is below it.
    const auto one_percent_of_rate = (settings.rate_limit_per_s + 99) / 100;
    if (given.count("rate_limit_burst") == 0) {
        settings.rate_limit_burst = std::max(settings.rate_limit_burst, one_percent_of_rate);
    }
    if (settings.rate_limit_burst < one_percent_of_rate) {
        throw SettingsError("COALITION_RATE_LIMIT_BURST: must be at least 1% of the rate per second");
    }
    if (settings.batch_max_in_flight > settings.db_pool_size) {
        throw SettingsError("COALITION_BATCH_MAX_IN_FLIGHT: must not exceed COALITION_DB_POOL_SIZE");
    }
    return settings;
}

void require_database_setting(const Settings& settings) {
    if (settings.db.empty()) {
        throw SettingsError("COALITION_DB is not set: give a libpq connection string");
    }
}

void require_server_settings(const Settings& settings) {
    require_database_setting(settings);
    if (settings.tls_cert.empty()) throw SettingsError("COALITION_TLS_CERT is not set");
    if (settings.tls_key.empty()) throw SettingsError("COALITION_TLS_KEY is not set");
    for (const auto& [name, path] : {std::pair{"COALITION_TLS_CERT", settings.tls_cert},
                                     std::pair{"COALITION_TLS_KEY", settings.tls_key},
                                     std::pair{"COALITION_CLIENT_CA", settings.client_ca}}) {
        if (path.empty()) continue;
        std::ifstream probe(path);
        if (!probe) throw SettingsError(std::string(name) + ": '" + path + "' cannot be read");
    }
    if (settings.client_cert_required && settings.client_ca.empty()) {
        throw SettingsError("COALITION_CLIENT_CERT_REQUIRED needs COALITION_CLIENT_CA");
    }
}

std::vector<std::string> describe_settings() {
    std::vector<std::string> out;
    for (const auto& spec : specs()) out.push_back(std::string(spec.key) + " / " + spec.env);
    return out;
}

}  // namespace coalition
