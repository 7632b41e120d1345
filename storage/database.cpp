#include "storage/database.hpp"

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

std::unique_ptr<pqxx::connection> connect(const Settings& settings) {
    return std::make_unique<pqxx::connection>(
        conninfo_with_timeout(settings.db, settings.db_connect_timeout_s));
}

void ping(pqxx::connection& connection) {
    pqxx::nontransaction tx(connection);
    tx.exec(kPing);
}

}  // namespace coalition::storage
