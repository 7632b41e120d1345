#include "storage/database.hpp"

#include "core/one_line.hpp"

#include <libpq-fe.h>
#include <pqxx/pqxx>

namespace coalition::storage {
namespace {

constexpr const char* kPing = "SELECT 1";

}  // namespace

std::string conninfo_with_timeout(const std::string& conninfo, int connect_timeout_s) {
    // URIs take parameters after '?'; key=value strings take another keyword.
    if (conninfo.rfind("postgres://", 0) == 0 || conninfo.rfind("postgresql://", 0) == 0) {
        const char separator = conninfo.find('?') == std::string::npos ? '?' : '&';
        return conninfo + separator + "connect_timeout=" + std::to_string(connect_timeout_s);
    }
    return conninfo + " connect_timeout=" + std::to_string(connect_timeout_s);
}

void check_conninfo(const std::string& conninfo) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
    if (options != nullptr) {
        PQconninfoFree(options);
        return;
    }
    std::string reason = error != nullptr ? one_line(error) : "out of memory";
    PQfreemem(error);
    throw SettingsError("COALITION_DB is not a libpq connection string: " + reason);
}

std::unique_ptr<pqxx::connection> connect(const Settings& settings) {
    check_conninfo(settings.db);
    return std::make_unique<pqxx::connection>(
        conninfo_with_timeout(settings.db, settings.db_connect_timeout_s));
}

void ping(pqxx::connection& connection) {
    pqxx::nontransaction tx(connection);
    tx.exec(kPing);
}

}  // namespace coalition::storage
