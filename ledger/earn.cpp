#include "ledger/earn.hpp"

#include <algorithm>

#include "ledger/expiry.hpp"

namespace coalition::ledger {

EarnOutcome apply_earn(Points debt, Points earned) {
    require(earned > Points(0), "apply_earn: earned points must be > 0");
    require(debt >= Points(0), "apply_earn: debt must be >= 0");
    EarnOutcome out;
    out.issued = earned;
    out.debt_repaid = std::min(debt, earned);
    out.lot_remaining = earned - out.debt_repaid;
    out.new_debt = debt - out.debt_repaid;
    return out;
}

Lot make_lot(LotId id, const PartnerId& issuer, const EarnOutcome& earn,
             std::int64_t accepted_at_us, Date settlement_date, int validity_months) {
    require(!issuer.empty(), "make_lot: issuer must be named");
    Lot lot;
    lot.id = id;
    lot.issuer = issuer;
    lot.issued = earn.issued;
    lot.debt_repaid = earn.debt_repaid;
    lot.remaining = earn.lot_remaining;
    lot.accepted_at_us = accepted_at_us;
    lot.expires_on = expires_on(settlement_date, validity_months);
    check_lot(lot);
    return lot;
}

}  // namespace coalition::ledger
