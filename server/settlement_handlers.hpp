#pragma once
#include "core/settings.hpp"
#include "server/router.hpp"

namespace coalition::server {

class DatabasePool;

// GET  /v1/settlements/{date}                         operator: the run (provisional or closed)
// POST /v1/settlements/{date}                         operator: close it (201, then 200; 409 while open)
// GET  /v1/settlements/{date}/statements/{partner_id} operator, or the partner's own token;
//                                                     JSON, or CSV with Accept: text/csv
// No or a bad token: 401. A partner token on an operator action: 403. A partner token asking for
// another partner's statement: 404, exactly as for one that does not exist.
void add_settlement_routes(Router& router, DatabasePool& database, const Settings& settings);

}  // namespace coalition::server
