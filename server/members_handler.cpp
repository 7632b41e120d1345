#include "server/members_handler.hpp"

#include "partners/credentials.hpp"
#include "server/authorized_query.hpp"
#include "server/responses.hpp"
#include "storage/member_store.hpp"
#include "storage/sql_time.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>


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
    router.add("GET", "/v1/members/{member_id}",
               [&database, &settings](const Request& request, const PathParams& params,
                                      Respond respond) {
        const std::string member_id = params.find("member_id")->second;
        run_authorized(database, settings, request, Access::any_token,
                       [member_id](pqxx::connection& connection, const storage::TokenIdentity&) {
                           // An id that breaks the member-id rule cannot exist: answer as for any
                           // unknown one.
                           std::optional<ledger::MemberView> view;
                           if (partners::is_valid_entity_id(member_id)) {
                               view = storage::read_member(connection, member_id,
                                                           storage::now_unix_micros());
                           }
                           return view ? json_response(200, member_json(member_id, *view))
                                       : error_response(ErrorCode::not_found, "no member with this id");
                       },
                       std::move(respond));
    });
}

}  // namespace coalition::server
