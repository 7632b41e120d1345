#pragma once
// The read API's common path: authenticate the bearer token, check the role, run the query on a
// database thread, and map failures to the contract's answers (401, 403, 503 + Retry-After, 500).
#include "core/settings.hpp"
#include "server/router.hpp"
#include "storage/token_store.hpp"

#include <pqxx/connection>

#include <exception>
#include <functional>

namespace coalition::server {

class DatabasePool;

enum class Access {
    any_token,      // operator or partner
    operator_only,  // a partner token gets 403 forbidden
};

// Fills the response for an authenticated caller; runs on a database thread.
using AuthorizedQuery = std::function<Response(pqxx::connection&, const storage::TokenIdentity&)>;

void run_authorized(DatabasePool& database, const Settings& settings, const Request& request,
                    Access access, AuthorizedQuery query, Respond respond);

// The answer for a failed database job: 503 when the database is away (nothing was stored),
// 500 with Retry-After when its commit's outcome is unknown, else 500.
Response database_failure_response(std::exception_ptr failure, int retry_after_s);

}  // namespace coalition::server
