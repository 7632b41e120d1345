#pragma once
// The invariants of a run, checked in pairs (TigerBeetle habit): by compute_settlement_run
// before a run is handed out, by the storage layer before it is stored and after it is read
// back. They use only what the run's JSON carries, so a run parsed from storage can be checked.
#include <optional>
#include <stdexcept>
#include <string>

#include "settlement/run.hpp"

namespace coalition::settlement {

class RunInvariantViolation : public std::logic_error {
  public:
    using std::logic_error::logic_error;
};

// nullopt when the run holds; otherwise the first rule it breaks, for the log. Rules:
//  - date, status, currency, point_value > 0 are well formed;
//  - participants are valid partner ids, sorted and unique;
//  - ZERO SUM: sum of participant net_minor + operator net_minor == 0 exactly, and
//    operator net_minor == fees_minor + rounding_minor;
//  - rounding stays within what rounding each figure once can explain: 2|rounding| <= n + 1,
//    2|operator fees - sum of partner fees| <= n + 1, |net - (received - paid - fees)| <= 2,
//    and received/paid within half a unit per cell of the obligations' sums;
//  - obligations sorted and unique by (from, to), between two different participants,
//    points > 0, amount >= 0;
//  - instructions: exactly one per partner with a non-zero net, for |net|, in the direction of
//    its sign, sorted by partner id; sum paid to the operator - sum paid by it == operator net;
//  - totals not negative where they cannot be (claims, issued, expired);
//  - informational lines, when present: one per participant, same order, summing to totals.
std::optional<std::string> check_run_invariants(const SettlementRun& run);

// check_run_invariants, throwing RunInvariantViolation with the broken rule.
void require_run_invariants(const SettlementRun& run);

}  // namespace coalition::settlement
