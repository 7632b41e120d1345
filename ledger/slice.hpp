#pragma once
// The part of one burn (or of its reversal) that touched one lot: one row of `slices`.
#include "ledger/lot.hpp"

namespace coalition::ledger {

enum class SliceKind { burn, burn_reversal };

struct Slice {
    SliceId id = 0;  // 0 until storage inserted it
    SliceKind kind = SliceKind::burn;
    SliceId reverses_slice_id = 0;  // burn_reversal only: the burn slice it undoes
    LotId lot_id = 0;
    PartnerId issuer;    // issuer_id: the lot's issuer, on both kinds
    PartnerId redeemer;  // redeemer_id: where the points were burnt, on both kinds
    Points points{0};
    Micros point_value{0};  // the price at the burn; a reversal keeps it
    Micros amount{0};       // points × point_value (the table's CHECK)

    // Who owes whom: a burn makes the issuer owe the redeemer, its reversal the opposite.
    const PartnerId& debtor() const { return kind == SliceKind::burn ? issuer : redeemer; }
    const PartnerId& creditor() const { return kind == SliceKind::burn ? redeemer : issuer; }
    // Issuer == redeemer: reported, but nothing is owed once netted.
    bool own_redemption() const { return issuer == redeemer; }

    friend bool operator==(const Slice&, const Slice&) = default;
};

// A lot's points_remaining before and after a decision: storage updates exactly these rows.
struct LotUpdate {
    LotId lot_id = 0;
    Points remaining_before{0};
    Points remaining_after{0};

    friend bool operator==(const LotUpdate&, const LotUpdate&) = default;
};

// Throws LedgerBug unless points > 0, point_value > 0 and amount = points × point_value.
void check_slice(const Slice& slice);

}  // namespace coalition::ledger
