#include "storage/database.hpp"

#include "core/one_line.hpp"

#include <libpq-fe.h>
#include <pqxx/pqxx>

#include <cstdlib>
#include <initializer_list>
#include <new>
#include <string_view>
#include <utility>
#include <vector>

namespace coalition::storage {
namespace {

// Whether the connection string gives a value to any of `keywords` (libpq's own parser; a
// malformed string sets nothing, and check_conninfo refuses it).
bool sets_any_of(const std::string& conninfo, std::initializer_list<std::string_view> keywords) {
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr);
    if (options == nullptr) return false;
    bool found = false;
    for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
        if (option->val == nullptr) continue;
        for (const auto keyword : keywords) found = found || keyword == option->keyword;
    }
    PQconninfoFree(options);
    return found;
}

}  // namespace

std::string conninfo_with_timeout(const std::string& conninfo, int connect_timeout_s) {
    std::vector<std::pair<std::string, std::string>> added{
        {"connect_timeout", std::to_string(connect_timeout_s)}};
    // A service (the string's `service`, or PGSERVICE) may set them in its file: left to it.
    const char* service_env = std::getenv("PGSERVICE");
    const bool service =
        sets_any_of(conninfo, {"service"}) || (service_env != nullptr && *service_env != '\0');
    if (!service && !sets_any_of(conninfo, {"keepalives", "keepalives_idle", "keepalives_interval",
                                            "keepalives_count", "tcp_user_timeout"})) {
        added.insert(added.end(),
                     {{"keepalives_idle", std::to_string(kDeadPeerKeepalivesIdleS)},
                      {"keepalives_interval", std::to_string(kDeadPeerKeepalivesIntervalS)},
                      {"keepalives_count", std::to_string(kDeadPeerKeepalivesCount)},
                      {"tcp_user_timeout", std::to_string(kDeadPeerTcpUserTimeoutMs)}});
    }
    // URIs take parameters after '?', joined by '&'; key=value strings take more keywords.
    const bool uri =
        conninfo.rfind("postgres://", 0) == 0 || conninfo.rfind("postgresql://", 0) == 0;
    std::string out = conninfo;
    for (const auto& [keyword, value] : added) {
        if (uri) {
            out += out.find('?') == std::string::npos ? '?' : '&';
        } else {
            out += ' ';
        }
        out += keyword + "=" + value;
    }
    return out;
}

namespace {

// libpq's reason quotes the part of the string it stumbled on ('missing "=" after "cd"'),
// which may be a password's, and a quote inside it is an ordinary character there: everything
// from the first quote to the last is left out, the kind of mistake kept.
std::string without_quoted_fragments(const std::string& reason) {
    const auto first = reason.find('"');
    if (first == std::string::npos) return reason;
    const auto last = reason.rfind('"');
    const std::string tail = last > first ? reason.substr(last + 1) : std::string();
    return reason.substr(0, first) + "\"…\"" + tail;
}

}  // namespace

void check_conninfo(const std::string& conninfo) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
    if (options != nullptr) {
        PQconninfoFree(options);
        return;
    }
    std::string reason = error != nullptr ? one_line(error) : "out of memory";
    PQfreemem(error);
    throw SettingsError("COALITION_DB is not a libpq connection string: " +
                        without_quoted_fragments(reason));
}

namespace {

// libpq checks some values only when it connects (sslmode=requre, port=99999, hostaddr=x, a
// service the service file does not define): its reason then starts so, before any server is
// asked. Those are settings to fix, not a database that is down.
bool is_bad_value(std::string_view reason) {
    for (const std::string_view start :
         {"invalid ", "could not match ", "could not parse network address ",
          "definition of service ", "service file ", "syntax error in service file "}) {
        if (reason.rfind(start, 0) == 0) return true;
    }
    return false;
}

SettingsError bad_value(std::string_view reason) {
    // The value may come from COALITION_DB or from what libpq reads beside it (PGSSLMODE and
    // the other PG* variables, the service file).
    return SettingsError(
        "COALITION_DB (or the PG* variables or service file libpq reads with it) "
        "has a bad value: " +
        one_line(std::string(reason)));
}

}  // namespace

void check_conninfo_values(const std::string& conninfo) {
    // Starting a connection checks the values at once, without waiting for any server (a host
    // name is resolved, though); the attempt is dropped.
    PGconn* attempt = PQconnectStart(conninfo.c_str());
    if (attempt == nullptr) throw std::bad_alloc();
    const std::string reason =
        PQstatus(attempt) == CONNECTION_BAD ? PQerrorMessage(attempt) : std::string();
    PQfinish(attempt);
    if (is_bad_value(reason)) throw bad_value(reason);
}

std::unique_ptr<pqxx::connection> connect(const Settings& settings) {
    check_conninfo(settings.db);
    try {
        auto connection = std::make_unique<pqxx::connection>(
            conninfo_with_timeout(settings.db, settings.db_connect_timeout_s));
        set_up_session(*connection);
        return connection;
    } catch (const pqxx::broken_connection& e) {
        if (is_bad_value(e.what())) throw bad_value(e.what());
        throw;
    }
}

void set_up_session(pqxx::connection& connection) {
    // Through libpqxx's set_variable, not a SET statement of ours: libpqxx may reconnect a broken
    // connection by itself, and restores only what set_variable set.
    connection.set_variable("DateStyle", "'ISO, YMD'");
}

}  // namespace coalition::storage
