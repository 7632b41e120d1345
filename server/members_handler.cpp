#include "server/members_handler.hpp"

#include "partners/credentials.hpp"
#include "server/bearer_auth.hpp"
#include "server/db_pool.hpp"
#include "server/responses.hpp"
#include "storage/member_store.hpp"
#include "storage/sql_time.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <memory>

namespace coalition::server {
namespace {

nlohmann::json member_json(const std::string& member_id, const ledger::MemberView& view) {
    nlohmann::json lots = nlohmann::json::array();
    for (const auto& lot : view.lots) {
        lots.push_back({{"issuer", lot.issuer},
                        {"points", lot.points.value()},
                        {"expires_on", storage::date_literal(lot.expires_on)}});
    }
    nlohmann::json expiring = nlohmann::json::array();
    for (const auto& entry : view.expiring) {
        expiring.push_back({{"on", storage::date_literal(entry.on)}, {"points", entry.points.value()}});
    }
    return {{"member_id", member_id}, {"balance", view.balance.value()}, {"debt", view.debt.value()},
            {"lots", lots},           {"expiring", expiring}};
}

}  // namespace

void add_member_routes(Router& router, DatabasePool& database, const Settings& settings) {
    const int retry_after_s = settings.db_retry_after_s;
    router.add("GET", "/v1/members/{member_id}",
               [&database, retry_after_s](const Request& request, const PathParams& params,
                                          Respond respond) {
        const auto token = bearer_token(request);
        if (!token) return respond(error_response(ErrorCode::unauthorized, "a valid bearer token is required"));
        const std::string member_id = params.find("member_id")->second;
        auto response = std::make_shared<Response>();
        database.submit(
            [token = *token, member_id, response](pqxx::connection& connection) {
                {
                    pqxx::read_transaction tx(connection);
                    if (!authenticate(tx, token)) {
                        *response = error_response(ErrorCode::unauthorized, "a valid bearer token is required");
                        return;
                    }
                }
                // An id that breaks the member-id rule cannot exist: answer as for any unknown one.
                std::optional<ledger::MemberView> view;
                if (partners::is_valid_entity_id(member_id)) {
                    view = storage::read_member(connection, member_id, storage::now_unix_micros());
                }
                *response = view ? json_response(200, member_json(member_id, *view))
                                 : error_response(ErrorCode::not_found, "no member with this id");
            },
            [respond, response, retry_after_s](std::exception_ptr failure) {
                if (!failure) return respond(std::move(*response));
                try {
                    std::rethrow_exception(failure);
                } catch (const DatabaseUnavailable&) {
                    auto unavailable = error_response(ErrorCode::unavailable, "the database cannot be reached");
                    unavailable.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
                    respond(std::move(unavailable));
                } catch (const std::exception&) {
                    respond(error_response(ErrorCode::internal, "internal error"));
                }
            });
    });
}

}  // namespace coalition::server
