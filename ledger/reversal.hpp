#pragma once
// Reversals: a refunded purchase undoes its burn (points go back to the very lots they came
// from) or its earn (the lot is emptied and what was already spent of it becomes debt).
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "ledger/breakage.hpp"
#include "ledger/lot.hpp"
#include "ledger/result.hpp"
#include "ledger/slice.hpp"

namespace coalition::ledger {

// A stored burn, as storage loads it to reverse it.
struct BurnRecord {
    std::vector<Slice> slices;  // kind burn, with their ids
    bool reversed = false;      // a reversal claim already names this burn
};

// Points returned to a lot whose earn was reversed, beyond the member's debt. That lot must stay
// empty (lots CHECK: reversed => points_remaining = 0), so they are credited as a new lot: of
// the lot whose repayment of the debt they give back (`restores_lot_id`, its issuer and expiry),
// or, when no such repayment is left, of the reversed lot's issuer with its expiry.
struct Reissue {
    LotId source_lot_id = 0;  // the reversed lot the points were returned to
    PartnerId issuer;
    Points points{0};
    Date expires_on{};
    LotId restores_lot_id = 0;  // the repaying lot, or 0

    friend bool operator==(const Reissue&, const Reissue&) = default;
};

// An earn that paid the member's debt: points a burn reversal returns to a reversed lot whose
// debt that earn paid give it back. Without that, the points went to the reversed lot's issuer,
// whose earn was refunded, while the repaying issuer, whose earn stands, was liable for none.
struct Repayment {
    LotId lot_id = 0;           // the earn's lot: not reversed, not a reissue
    std::int64_t claim_id = 0;  // the earn's claim: ids follow the order of booking
    PartnerId issuer;
    Date expires_on{};
    Points restorable{0};  // debt_repaid less what earlier burn reversals gave back to it
    friend bool operator==(const Repayment&, const Repayment&) = default;
};

// The member's repayments, and for each reversed lot a burn touches the claim id of the earn
// reversal that created its debt: only repayments booked after it can have paid that debt.
struct DebtRepayments {
    std::vector<Repayment> lots;
    std::map<LotId, std::int64_t> reversed_by;
};

struct BurnReversalOutcome {
    Points points{0};                    // Σ returned, == Σ original slices
    std::vector<Slice> slices;           // burn_reversal slices, one per original, same order
    std::vector<LotUpdate> lot_updates;  // lots (not reversed) that took their points back
    // Returned points landing in a lot expired by `today`: breakage of its issuer on today,
    // the reversal's settlement date.
    std::vector<LotExpiry> breakage;
    // The expiry breakage of touched expired lots as it stood before this reversal; storage
    // inserts these if absent (see expiry_snapshot).
    std::vector<LotExpiry> expiry_snapshots;
    // Returned points of lots whose earn was reversed meanwhile: they repay the debt that
    // reversal created; the rest gives back repayments of that debt (newest first, to lots
    // still valid), then is reissued under the reversed lot's issuer (or is breakage if that
    // lot has expired).
    Points debt_repaid{0};
    Points new_debt{0};
    std::vector<Reissue> reissues;
    // Balance over the lots passed in (pass all the member's lots that may be open), with the
    // updates, the new debt and the reissues applied.
    Points balance_after{0};
};

// Decides the reversal of `burn` on `today` (the reversal's settlement date). `lots` must
// include every lot the burn's slices name; `repayments` the member's (see Repayment), with
// the earn reversal of every reversed lot a slice names.
// Refused with already_reversed when the burn was reversed before.
// Throws LedgerBug when the burn has no slices, a slice is not a stored burn slice, names a lot
// twice or a lot not passed in, disagrees with its lot's issuer, mixes redeemers, when giving
// the points back would lift a lot above issued − debt_repaid, or when repayments are given
// without the reversal of a reversed lot a slice names.
Result<BurnReversalOutcome> plan_burn_reversal(const BurnRecord& burn, std::span<const Lot> lots,
                                               Points debt, Date today,
                                               const DebtRepayments& repayments = {});

struct EarnReversalOutcome {
    LotId lot_id = 0;
    LotUpdate lot_update;  // remaining → 0; storage also sets reversed_by_claim_id
    // The lots that gave back the earn's repayments of debt (Reissue::restores_lot_id): what
    // they hold is the earn's too, so they are emptied and marked reversed with it.
    std::vector<LotUpdate> restoring_updates;
    Points points_removed{0};        // what the lot and its restoring lots held
    Points removed_from_balance{0};  // of those, the ones that still counted (lots not expired)
    // issued − points_removed: spent, incl. what repaid debt and was not given back
    Points debt_added{0};
    Points new_debt{0};
    // The lot's and its restoring lots', when they had expired holding points.
    std::vector<LotExpiry> expiry_snapshots;
};

// Decides the reversal of the earn that created `lot` on `today`. `restoring` are the lots
// that gave back its repayments of debt (every lot whose restores_lot_id is lot.id): a refund
// of the earn takes their points too, or the refunded issuer stays liable for points that a
// later earn, which then pays the debt the refund makes, put in the member's balance.
// Refused with already_reversed when the lot was reversed before.
// Throws LedgerBug on an invalid lot or a negative debt, or when a restoring lot is reversed
// already or holds more than the lot repaid.
Result<EarnReversalOutcome> plan_earn_reversal(const Lot& lot, Points debt, Date today,
                                               std::span<const Lot> restoring = {});

}  // namespace coalition::ledger
