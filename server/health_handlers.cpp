#include "server/health_handlers.hpp"

#include "server/authorized_query.hpp"
#include "server/db_pool.hpp"
#include "server/responses.hpp"
#include "storage/database.hpp"

#include <nlohmann/json.hpp>

namespace coalition::server {

void add_health_routes(Router& router, DatabasePool& database, const Settings& settings) {
    router.add("GET", "/healthz", [](const Request&, const PathParams&, Respond respond) {
        respond(json_response(200, {{"status", "ok"}}));
    });
    const int retry_after_s = settings.db_retry_after_s;
    router.add("GET", "/readyz",
               [&database, retry_after_s](const Request&, const PathParams&, Respond respond) {
                   database.submit(
                       [](pqxx::connection& connection) { storage::ping(connection); },
                       [respond, retry_after_s](std::exception_ptr failure) {
                           if (!failure) return respond(json_response(200, {{"status", "ready"}}));
                           respond(unavailable_response(retry_after_s));
                       });
               });
}

}  // namespace coalition::server
