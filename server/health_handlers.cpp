#include "server/health_handlers.hpp"

#include "server/db_pool.hpp"
#include "server/partner_directory.hpp"
#include "server/responses.hpp"
#include "storage/database.hpp"
#include "storage/migrator.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace coalition::server {

void add_health_routes(Router& router, DatabasePool& database, const PartnerDirectory& directory,
                       const Settings& settings) {
    router.add("GET", "/healthz", [](const Request&, const PathParams&, Respond respond) {
        respond(json_response(200, {{"status", "ok"}}));
    });
    const int retry_after_s = settings.db_retry_after_s;
    // Ready means the database answers and its schema has every migration this binary was built
    // with: a server started before `coalitionctl migrate` would fail every claim (500) on the
    // statements the newer schema adds, so it stays out of a load balancer's rotation instead.
    // And the partner directory has been read once: until then every claim is answered 503.
    auto schema =
        std::make_shared<const std::vector<storage::Migration>>(storage::embedded_migrations());
    router.add(
        "GET", "/readyz",
        [&database, &directory, retry_after_s, schema](const Request&, const PathParams&,
                                                       Respond respond) {
            auto missing = std::make_shared<std::optional<std::string>>();
            database.submit(
                [schema, missing](pqxx::connection& connection) {
                    *missing = storage::first_missing_migration(connection, *schema);
                },
                [&directory, respond, retry_after_s, missing](std::exception_ptr failure) {
                    if (failure) return respond(unavailable_response(retry_after_s));
                    if (*missing) {
                        return respond(unavailable_response(
                            retry_after_s, "the database schema lacks migration " + **missing +
                                               ": run coalitionctl migrate"));
                    }
                    if (!directory.current()) {
                        return respond(unavailable_response(retry_after_s,
                                                            "partner directory not loaded yet"));
                    }
                    respond(json_response(200, {{"status", "ready"}}));
                });
        });
}

}  // namespace coalition::server
