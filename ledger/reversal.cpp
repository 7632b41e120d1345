#include "ledger/reversal.hpp"

#include <algorithm>
#include <unordered_set>

#include "ledger/burn.hpp"

namespace coalition::ledger {
namespace {

const Lot& find_lot(std::span<const Lot> lots, LotId id) {
    auto it = std::find_if(lots.begin(), lots.end(), [&](const Lot& lot) { return lot.id == id; });
    require(it != lots.end(), "plan_burn_reversal: a slice names a lot that was not passed in");
    return *it;
}

void check_burn(const BurnRecord& burn) {
    require(!burn.slices.empty(), "plan_burn_reversal: a burn has at least one slice");
    std::unordered_set<LotId> seen;
    for (const Slice& slice : burn.slices) {
        check_slice(slice);
        require(slice.kind == SliceKind::burn, "plan_burn_reversal: only burn slices reverse");
        require(slice.id != 0, "plan_burn_reversal: burn slices must be stored ones");
        require(slice.redeemer == burn.slices.front().redeemer,
                "plan_burn_reversal: one burn has one redeemer");
        require(seen.insert(slice.lot_id).second, "plan_burn_reversal: a lot sliced twice");
    }
}

Slice opposite(const Slice& original) {
    Slice out = original;
    out.id = 0;
    out.kind = SliceKind::burn_reversal;
    out.reverses_slice_id = original.id;
    return out;
}

}  // namespace

Result<BurnReversalOutcome> plan_burn_reversal(const BurnRecord& burn, std::span<const Lot> lots,
                                               Points debt, Date today,
                                               const DebtRepayments& repayments) {
    require(today.ok(), "plan_burn_reversal: invalid date");
    check_member(lots, debt);
    if (burn.reversed) return ErrorCode::already_reversed;
    check_burn(burn);

    BurnReversalOutcome out;
    Points debt_left = debt;
    Points reissued{0};
    // Newest first: the latest repayments are the ones the debt would not have needed.
    std::vector<Repayment> givable = repayments.lots;
    std::sort(givable.begin(), givable.end(),
              [](const Repayment& a, const Repayment& b) { return a.claim_id > b.claim_id; });
    const auto give_back = [&](const Lot& lot, Points& excess) {
        if (givable.empty()) return;
        const auto reversal = repayments.reversed_by.find(lot.id);
        require(reversal != repayments.reversed_by.end(),
                "plan_burn_reversal: a reversed lot without its reversal");
        for (auto& repayment : givable) {
            if (excess == Points(0)) return;
            require(repayment.restorable >= Points(0),
                    "plan_burn_reversal: a repayment gave back more than it repaid");
            if (repayment.claim_id <= reversal->second || repayment.restorable == Points(0) ||
                std::chrono::sys_days(today) > std::chrono::sys_days(repayment.expires_on)) {
                continue;
            }
            const Points given = std::min(excess, repayment.restorable);
            repayment.restorable -= given;
            excess -= given;
            reissued += given;
            out.reissues.push_back(
                Reissue{lot.id, repayment.issuer, given, repayment.expires_on, repayment.lot_id});
        }
    };
    for (const Slice& original : burn.slices) {
        const Lot& lot = find_lot(lots, original.lot_id);
        require(lot.issuer == original.issuer, "plan_burn_reversal: slice and lot issuers differ");
        out.slices.push_back(opposite(original));
        out.points += original.points;
        const bool expired = std::chrono::sys_days(today) > std::chrono::sys_days(lot.expires_on);

        if (lot.reversed) {
            // Those points were already turned into debt by the earn's reversal: giving them
            // back first cancels that debt, like any later earn would.
            const Points to_debt = std::min(debt_left, original.points);
            debt_left -= to_debt;
            out.debt_repaid += to_debt;
            Points excess = original.points - to_debt;
            // Beyond the debt left, the debt was paid by later earns: their points go back.
            give_back(lot, excess);
            if (excess == Points(0)) continue;
            if (expired) {
                out.breakage.push_back(LotExpiry{lot.id, lot.issuer, excess, today});
            } else {
                out.reissues.push_back(Reissue{lot.id, lot.issuer, excess, lot.expires_on});
                reissued += excess;
            }
            continue;
        }

        const Points after = lot.remaining + original.points;
        require(after <= spendable_capacity(lot),
                "plan_burn_reversal: returning the slice lifts the lot above issued - debt_repaid");
        out.lot_updates.push_back(LotUpdate{lot.id, lot.remaining, after});
        if (expired) {
            if (auto snapshot = expiry_snapshot(lot, today)) {
                out.expiry_snapshots.push_back(*snapshot);
            }
            out.breakage.push_back(LotExpiry{lot.id, lot.issuer, original.points, today});
        }
    }
    out.new_debt = debt_left;

    std::vector<Lot> after(lots.begin(), lots.end());
    apply_lot_updates(after, out.lot_updates);
    out.balance_after = balance(after, out.new_debt, today) + reissued;
    return out;
}

Result<EarnReversalOutcome> plan_earn_reversal(const Lot& lot, Points debt, Date today,
                                               std::span<const Lot> restoring) {
    require(today.ok(), "plan_earn_reversal: invalid date");
    require(debt >= Points(0), "plan_earn_reversal: debt must be >= 0");
    check_lot(lot);
    if (lot.reversed) return ErrorCode::already_reversed;

    EarnReversalOutcome out;
    out.lot_id = lot.id;
    const auto remove = [&](const Lot& held) {
        out.points_removed += held.remaining;
        if (is_open(held, today)) out.removed_from_balance += held.remaining;
        if (auto snapshot = expiry_snapshot(held, today)) out.expiry_snapshots.push_back(*snapshot);
        return LotUpdate{held.id, held.remaining, Points(0)};
    };
    out.lot_update = remove(lot);
    Points restored_held{0};
    for (const Lot& given_back : restoring) {
        check_lot(given_back);
        require(!given_back.reversed && given_back.id != lot.id,
                "plan_earn_reversal: a restoring lot reversed already");
        restored_held += given_back.remaining;
        out.restoring_updates.push_back(remove(given_back));
    }
    require(restored_held <= lot.debt_repaid,
            "plan_earn_reversal: restoring lots hold more than the lot repaid");
    // Everything that left the lot — burnt, or paid earlier debt and not given back since —
    // was never really earned.
    out.debt_added = lot.issued - out.points_removed;
    out.new_debt = debt + out.debt_added;
    return out;
}

}  // namespace coalition::ledger
