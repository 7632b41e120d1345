#include "ledger/burn.hpp"

#include <algorithm>

namespace coalition::ledger {

Result<BurnOutcome> plan_burn(std::span<const Lot> lots, Points debt, Points points,
                              const PartnerId& redeemer, Micros point_value, Date today,
                              Points unread) {
    require(points > Points(0), "plan_burn: points must be > 0");
    require(point_value > Micros(0), "plan_burn: point_value must be > 0");
    require(!redeemer.empty(), "plan_burn: redeemer must be named");
    require(unread >= Points(0), "plan_burn: unread must be >= 0");
    check_member(lots, debt);

    const Points balance_before = balance(lots, debt, today) + unread;
    if (balance_before < points) return ErrorCode::insufficient_points;

    std::vector<const Lot*> open;
    for (const Lot& lot : lots) {
        if (is_open(lot, today) && lot.remaining > Points(0)) open.push_back(&lot);
    }
    std::sort(open.begin(), open.end(),
              [](const Lot* a, const Lot* b) { return fifo_before(*a, *b); });

    BurnOutcome out;
    Points left = points;
    for (const Lot* lot : open) {
        if (left == Points(0)) break;
        const Points take = std::min(left, lot->remaining);
        Slice slice;
        slice.kind = SliceKind::burn;
        slice.lot_id = lot->id;
        slice.issuer = lot->issuer;
        slice.redeemer = redeemer;
        slice.points = take;
        slice.point_value = point_value;
        slice.amount = value_of(take, point_value);
        out.slices.push_back(std::move(slice));
        out.lot_updates.push_back(LotUpdate{lot->id, lot->remaining, lot->remaining - take});
        left -= take;
    }
    // With every lot given, balance >= points and debt >= 0 imply the open lots hold at least
    // `points`; with a head only, the caller must have read enough of it.
    require(left == Points(0), "plan_burn: the lots given did not cover a burn within the balance");
    out.balance_after = balance_before - points;
    return out;
}

void apply_lot_updates(std::span<Lot> lots, std::span<const LotUpdate> updates) {
    for (const LotUpdate& update : updates) {
        auto it = std::find_if(lots.begin(), lots.end(),
                               [&](const Lot& lot) { return lot.id == update.lot_id; });
        require(it != lots.end(), "apply_lot_updates: unknown lot");
        require(it->remaining == update.remaining_before,
                "apply_lot_updates: lot changed since the decision");
        it->remaining = update.remaining_after;
        check_lot(*it);
    }
}

}  // namespace coalition::ledger
