#pragma once
#include "core/settings.hpp"
#include "server/router.hpp"

namespace coalition::server {

class DatabasePool;

// GET /healthz: 200 while the process runs. GET /readyz: 200 only while the database answers.
void add_health_routes(Router& router, DatabasePool& database, const Settings& settings);

}  // namespace coalition::server
