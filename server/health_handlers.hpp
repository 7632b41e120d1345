#pragma once
#include "core/settings.hpp"
#include "server/router.hpp"

namespace coalition::server {

class DatabasePool;
class PartnerDirectory;

// GET /healthz: 200 while the process runs. GET /readyz: 200 only while the database answers
// with the whole schema and the partner directory has been read once (claims can be served).
void add_health_routes(Router& router, DatabasePool& database, const PartnerDirectory& directory,
                       const Settings& settings);

}  // namespace coalition::server
