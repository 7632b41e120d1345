#include "server/settlement_handlers.hpp"

#include "partners/credentials.hpp"
#include "server/authorized_query.hpp"
#include "server/content_negotiation.hpp"
#include "server/responses.hpp"
#include "settlement/run_json.hpp"
#include "settlement/statement.hpp"
#include "settlement/statement_csv.hpp"
#include "storage/migrator.hpp"
#include "storage/settlement_store.hpp"
#include "storage/sql_time.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <memory>

namespace coalition::server {
namespace {

Response raw_json(int status, std::string body) {
    Response response;
    response.status = status;
    response.headers.emplace_back("Content-Type", "application/json");
    response.body = std::move(body);
    return response;
}

std::optional<storage::Date> path_date(const PathParams& params) {
    try {
        return storage::parse_date(params.find("date")->second);
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
}

Response bad_date() {
    return error_response(ErrorCode::invalid_field, "the date must be a calendar date YYYY-MM-DD", "date");
}

// A partner's statement of `date`, as JSON or, when the request prefers it, CSV.
Response statement_answer(pqxx::connection& connection, const storage::TokenIdentity& identity,
                          const std::optional<storage::Date>& date, const std::string& partner_id,
                          bool csv) {
    const auto not_found =
        error_response(ErrorCode::not_found, "no statement for this partner and date");
    // Another partner's statement is answered exactly like a missing one.
    if (identity.role == storage::TokenRole::kPartner && identity.partner_id != partner_id) {
        return not_found;
    }
    if (!date) return bad_date();
    // No partner has an id outside the rule: not one to ask the database about (bytes that are
    // not UTF-8 would fail there).
    if (!partners::is_valid_entity_id(partner_id)) return not_found;
    const auto statement =
        storage::read_statement(connection, *date, partner_id, storage::now_unix_micros());
    if (!statement) return not_found;
    if (!csv) return raw_json(200, settlement::statement_to_json_text(*statement));
    Response response;
    response.status = 200;
    response.headers.emplace_back("Content-Type", "text/csv; charset=utf-8");
    response.body = settlement::statement_to_csv(*statement);
    return response;
}

}  // namespace

// The date is checked after the token and role, so an unauthenticated caller always gets 401
// and a partner token 403, whatever the path holds.
void add_settlement_routes(Router& router, DatabasePool& database, const Settings& settings) {
    router.add("GET", "/v1/settlements/{date}",
               [&database, &settings](const Request& request, const PathParams& params, Respond respond) {
        const auto date = path_date(params);
        run_authorized(database, settings, request, Access::operator_only,
                   [date](pqxx::connection& connection, const storage::TokenIdentity&) {
                       if (!date) return bad_date();
                       const auto read = storage::read_settlement(connection, *date, storage::now_unix_micros());
                       return raw_json(200, settlement::run_to_json_text(read.run));
                   },
                   std::move(respond));
    });

    router.add("POST", "/v1/settlements/{date}",
               [&database, &settings](const Request& request, const PathParams& params, Respond respond) {
        const auto date = path_date(params);
        run_authorized(database, settings, request, Access::operator_only,
                   [date, &settings](pqxx::connection& connection, const storage::TokenIdentity&) {
                       if (!date) return bad_date();
                       // A run is stored for ever: the schema is read again here, not taken
                       // from the router's guard, whose copy is up to refresh_interval_ms old
                       // (a database restored from an older release's backup meanwhile).
                       static const auto schema = storage::embedded_migrations();
                       if (const auto missing = storage::first_missing_migration(connection, schema)) {
                           return unavailable_response(settings.db_retry_after_s,
                                                       storage::schema_behind_message(*missing));
                       }
                       const auto result = storage::close_settlement(connection, *date, storage::now_unix_micros());
                       switch (result.outcome) {
                           case storage::CloseOutcome::date_not_ended:
                               return error_response(ErrorCode::date_not_ended,
                                                     "the date has not ended in the program time zone");
                           case storage::CloseOutcome::closed_now:
                               return raw_json(201, settlement::run_to_json_text(result.read.run));
                           case storage::CloseOutcome::already_closed:
                               break;
                       }
                       return raw_json(200, settlement::run_to_json_text(result.read.run));
                   },
                   std::move(respond));
    });

    router.add("GET", "/v1/settlements/{date}/statements/{partner_id}",
               [&database, &settings](const Request& request, const PathParams& params, Respond respond) {
        const auto date = path_date(params);
        const std::string partner_id = params.find("partner_id")->second;
        const bool csv = prefers_csv(request.headers);
        run_authorized(
            database, settings, request, Access::any_token,
            [date, partner_id, csv](pqxx::connection& connection,
                                    const storage::TokenIdentity& identity) {
                auto response = statement_answer(connection, identity, date, partner_id, csv);
                // The body's form follows Accept: a cache must not give one to the other.
                response.headers.emplace_back("Vary", "Accept");
                return response;
            },
            std::move(respond));
    });
}

}  // namespace coalition::server
