#pragma once
#include "core/settings.hpp"
#include "server/router.hpp"

namespace coalition::server {

class DatabasePool;

// GET /v1/members/{member_id} for any valid token: balance, debt, open lots, expiring schedule.
void add_member_routes(Router& router, DatabasePool& database, const Settings& settings);

}  // namespace coalition::server
