#pragma once
// A burn: the member's open lots are consumed oldest first, one slice per lot touched.
#include <span>
#include <vector>

#include "ledger/lot.hpp"
#include "ledger/result.hpp"
#include "ledger/slice.hpp"

namespace coalition::ledger {

struct BurnOutcome {
    std::vector<Slice> slices;           // in consumption order; Σ points == the burn
    std::vector<LotUpdate> lot_updates;  // one per slice, same order
    Points balance_after{0};
};

// Decides a burn of `points` at `redeemer` over the member's lots (any order; expired, empty
// and reversed lots are skipped, never touched) on `today`, the claim's settlement date.
//
// Refused with insufficient_points when balance = Σ open remaining − debt < points: the debt
// counts against spending, so a member in debt must earn it back before burning anything,
// even while some lots still hold points. A refusal changes nothing.
//
// `unread` is for a caller that holds only the head of the member's lots in FIFO order (a
// batch reads no more than its burns can take): the points of the open lots it left out, every
// one of which comes after all of `lots` in FIFO order. They count in the balance; the burn
// itself must be covered by `lots`.
//
// Throws LedgerBug when points <= 0, point_value <= 0, the redeemer is unnamed, the lots
// break their invariants (see check_member), unread < 0, or the burn would need unread lots.
Result<BurnOutcome> plan_burn(std::span<const Lot> lots, Points debt, Points points,
                              const PartnerId& redeemer, Micros point_value, Date today,
                              Points unread = Points(0));

// Applies lot updates to the caller's copy of the lots (the same rows storage will write).
// Throws LedgerBug when an update names a lot that is absent or whose remaining differs.
void apply_lot_updates(std::span<Lot> lots, std::span<const LotUpdate> updates);

}  // namespace coalition::ledger
