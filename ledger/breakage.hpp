#pragma once
// Breakage: points that expired unspent, owed to nobody, reported per issuer.
#include <optional>
#include <span>
#include <vector>

#include "ledger/lot.hpp"

namespace coalition::ledger {

// One row of `lot_expiries`.
struct LotExpiry {
    LotId lot_id = 0;
    PartnerId issuer;
    Points points{0};
    Date settlement_date{};

    friend bool operator==(const LotExpiry&, const LotExpiry&) = default;
};

struct IssuerPoints {
    PartnerId issuer;
    Points points{0};

    friend bool operator==(const IssuerPoints&, const IssuerPoints&) = default;
};

// Lots that expire into `settlement_date`: expires_on == settlement_date − 1 day and
// remaining > 0, ordered by lot id. Reversed lots hold nothing and never appear.
std::vector<LotExpiry> expiries_on(std::span<const Lot> lots, Date settlement_date);

// The same, summed per issuer, ordered by issuer.
std::vector<IssuerPoints> breakage_by_issuer(std::span<const LotExpiry> expiries);
std::vector<IssuerPoints> breakage_on(std::span<const Lot> lots, Date settlement_date);

// The breakage row a lot's expiry produces, if it has expired by `today` and still holds points.
// Expired lots only change again through reversals; storage records this row (insert if absent)
// before applying one, so that the breakage of the expiry date is not changed by a later
// reversal. See plan_burn_reversal / plan_earn_reversal, which report it.
std::optional<LotExpiry> expiry_snapshot(const Lot& lot, Date today);

}  // namespace coalition::ledger
