#pragma once
#include "core/settings.hpp"
#include "server/router.hpp"

namespace coalition::server {

class BookingService;
class DatabasePool;
class Logger;
class PartnerDirectory;
class RateLimiter;

// POST /v1/partners/{partner_id}/claims: the checks run in this order, each refusal answered
// with its contract code and nothing booked —
//   415 not JSON → 401 signature (unknown partner looks the same) → 403 certificate CN → 429
//   rate limit → 403 suspended (unless the claim was booked before: its replay, or 409) → 400
//   body validation → booking (201 / replay / 409 / 422) → 503 when the database cannot be
//   reached.
struct ClaimsDependencies {
    const Settings& settings;
    PartnerDirectory& directory;
    RateLimiter& rate_limiter;
    BookingService& booking;
    DatabasePool& database;  // for a suspended partner's retries (their stored answers)
    Logger& logger;
};

void add_claims_routes(Router& router, ClaimsDependencies dependencies);

}  // namespace coalition::server
