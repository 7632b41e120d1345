#pragma once
// An earn: new points first repay the member's debt, the rest becomes the lot's spendable points.
#include <cstdint>

#include "ledger/lot.hpp"
#include "ledger/result.hpp"

namespace coalition::ledger {

// The most points one claim may carry (claims.points BETWEEN 1 AND 10000000).
inline constexpr std::int64_t kClaimPointsMax = 10'000'000;

struct EarnOutcome {
    Points issued{0};         // lots.points_issued
    Points debt_repaid{0};    // lots.debt_repaid = min(debt, issued)
    Points lot_remaining{0};  // lots.points_remaining = issued − debt_repaid
    Points new_debt{0};       // members.debt = debt − debt_repaid
};

// Throws LedgerBug unless earned > 0 and debt >= 0: the claim parser refuses bad points before.
EarnOutcome apply_earn(Points debt, Points earned);

// The lot row an earn creates, ready to insert once storage has its id.
// expires_on comes from the claim's settlement date (the acceptance date in the program zone).
Lot make_lot(LotId id, const PartnerId& issuer, const EarnOutcome& earn,
             std::int64_t accepted_at_us, Date settlement_date, int validity_months);

}  // namespace coalition::ledger
