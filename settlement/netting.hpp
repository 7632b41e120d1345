#pragma once
// Multilateral netting of one settlement date with the operator as central counterparty
// (contract §1 "Clearing"). Pure: the storage layer fills SettlementInput from SQL aggregates
// and stores or serves the SettlementRun.
//
// How the figures are made:
//  - The gross matrix sums slices per (from, to) in micro-units: a burn is issuer -> redeemer,
//    a burn reversal redeemer -> issuer. Opposite cells are never netted against each other.
//  - Per partner, exactly: received = sum owed to it, paid = sum owed by it, fees = its
//    issuance fees, net = received - paid - fees. Operator fees = sum of all fees.
//  - Every figure shown is rounded ONCE from its exact value (round_half_even_to_minor).
//    In particular net_minor is the rounding of the exact net, not received_minor - paid_minor
//    - fees_minor: that keeps every partner's net within half a minor unit of the truth, at the
//    price that its rounded parts may differ from its net by up to 2 minor units (the
//    statement shows that difference as its own line).
//  - The operator absorbs the residue: rounding_minor = -(sum of partner net_minor +
//    operator fees_minor), operator net_minor = fees_minor + rounding_minor, so all nets,
//    operator included, sum to exactly 0. The exact nets sum to 0, so |rounding_minor| is at
//    most (participants + 1) / 2.
//  - Instructions: a partner with net < 0 pays the operator |net|, the operator pays a partner
//    with net > 0 its net, in partner id order; a zero net has no instruction.
//  - Everything is sorted by ids: the run does not depend on the order of the input.
#include <stdexcept>

#include "settlement/run.hpp"

namespace coalition::settlement {

// The input breaks a rule the storage layer guarantees (a bad id, a negative amount...).
class SettlementInputError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// Nets one date. Throws SettlementInputError on invalid input, ArithmeticOverflow if a sum
// leaves int64, and RunInvariantViolation (invariants.hpp) if the result breaks an invariant,
// which would be a bug here: the run is checked before it is handed out.
SettlementRun compute_settlement_run(const SettlementInput& input);

}  // namespace coalition::settlement
