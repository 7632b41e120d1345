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

// Points a purchase earns: floor(amount_minor × earn_rate / minor_per_major), where earn_rate is
// the partner's points per major unit. Refused with invalid_field when amount_minor < 0,
// earn_rate < 1 or minor_per_major < 1, or when the product overflows int64 (no such purchase is
// real). The result may be 0 or above kClaimPointsMax: the parser decides what it accepts.
// minor_per_major is 100 for EUR; it is a parameter because the contract's "/ 100" only holds
// for currencies with two decimals (JPY has none).
Result<Points> points_from_purchase(std::int64_t amount_minor, std::int64_t earn_rate,
                                    std::int64_t minor_per_major = 100);

}  // namespace coalition::ledger
