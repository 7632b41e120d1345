#include "server/authorized_query.hpp"

#include "server/bearer_auth.hpp"
#include "server/db_pool.hpp"
#include "server/responses.hpp"

#include <pqxx/pqxx>

#include <memory>

namespace coalition::server {

Response database_failure_response(std::exception_ptr failure, int retry_after_s) {
    try {
        std::rethrow_exception(failure);
    } catch (const CommitOutcomeUnknown&) {
        // The connection was lost during COMMIT: a close may have stored its run. Not 503, which
        // promises that nothing was stored; the same request again finds out (a closed date
        // answers 200 with its run).
        auto response = error_response(ErrorCode::internal,
                                       "outcome unknown: the database connection was lost during "
                                       "the commit; the same request again tells what was stored");
        response.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
        return response;
    } catch (const DatabaseUnavailable&) {
        return unavailable_response(retry_after_s);
    } catch (const pqxx::transaction_rollback&) {
        // A deadlock's victim or a serialization failure: libpqxx 6 throws SQLSTATE class 40 as
        // this, which is no sql_error. Rolled back, so the same request a moment later will do.
        return unavailable_response(retry_after_s);
    } catch (const pqxx::sql_error& e) {
        // A lock held past db_lock_timeout_ms (a DDL), a lost connection: nothing was
        // changed, and the same request a moment later will do.
        if (is_transient_sqlstate(e.sqlstate())) return unavailable_response(retry_after_s);
        return error_response(ErrorCode::internal, "internal error");
    } catch (const std::exception&) {
        return error_response(ErrorCode::internal, "internal error");
    }
}

namespace {

// 401 with the challenge RFC 6750 §3 asks for, so a client library knows to send a Bearer token.
Response unauthorized_response() {
    auto response = error_response(ErrorCode::unauthorized, "a valid bearer token is required");
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"coalition\"");
    return response;
}

}  // namespace

void run_authorized(DatabasePool& database, const Settings& settings, const Request& request,
                    Access access, AuthorizedQuery query, Respond respond) {
    const auto token = bearer_token(request);
    if (!token) {
        return respond(unauthorized_response());
    }
    auto response = std::make_shared<Response>();
    const int retry_after_s = settings.db_retry_after_s;
    database.submit(
        [token = *token, access, query = std::move(query), response](pqxx::connection& connection) {
            std::optional<storage::TokenIdentity> identity;
            {
                pqxx::read_transaction tx(connection);
                identity = authenticate(tx, token);
            }
            if (!identity) {
                *response = unauthorized_response();
            } else if (access == Access::operator_only &&
                       identity->role != storage::TokenRole::kOperator) {
                *response = error_response(ErrorCode::forbidden, "this action needs an operator token");
            } else {
                *response = query(connection, *identity);
            }
        },
        [respond, response, retry_after_s](std::exception_ptr failure) {
            if (!failure) return respond(std::move(*response));
            respond(database_failure_response(failure, retry_after_s));
        });
}

}  // namespace coalition::server
