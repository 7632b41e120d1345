#pragma once
// coalitionctl check: the ledger's invariants verified over the whole database, independently
// of the code paths that wrote it. The schema's constraints keep each row valid; these are the
// invariants across rows that no single constraint can express:
//  - members: Σ points_remaining of open, unexpired, unreversed lots − debt equals the balance
//    GET /v1/members reports (ledger::member_view over the member's rows); every lot holds
//    0 <= remaining <= issued − debt_repaid; the debt is what the member's history gives
//    (earns' repayments, earn reversals, burn reversals into reversed lots: kDebtsWrong);
//  - lots: issued = remaining + debt_repaid + Σ burn slices − Σ burn_reversal slices + the
//    points an earn reversal removed. The removed points are not stored, so for a reversed lot
//    they are derived (issued − debt_repaid − burnt + returned before the reversal) and must lie
//    in [0, issued − debt_repaid]; no burn may touch a lot after its reversal;
//  - member_points: each member's total for an expiry date equals Σ points_remaining of its
//    lots expiring that day, and every such sum has its total (the batches read balances
//    from these totals);
//  - claims and their rows: an earn has its one lot, with the claim's points, member, issuer,
//    acceptance, date, the fee and expiry its program version gives; every other lot is a burn
//    reversal's reissue of a reversed lot of the same member, issuer and expiry; an earn reversal
//    and its lot name each other; every stored answer (replayed for ever) is JSON and says
//    what its row says;
//  - slices: a burn's slices sum to its points, are redeemed by its partner, taken from lots of
//    its member, priced at its program version's point value and issued by their lot's issuer;
//    a reversal slice mirrors its burn slice (same lot, parties, points, price) and
//    belongs to the reversal of that burn, and a reversed burn has a mirror for every slice;
//  - breakage: an unreversed expired lot's own expiry row holds what it had at the end of
//    expires_on (remaining now minus the points reversals returned since), on the day after
//    expires_on, and exists once that day is closed; every expiry row is its lot's issuer's,
//    an own row never on a lot still valid, a returned-points row on its burn reversal's date;
//  - closed runs: each re-read passes the run invariants, its run_sha256, its statements, and
//    equals the run its (frozen) ledger rows give when recomputed.
// Memory stays bounded: members and lots are read in batches.
#include <pqxx/connection>

#include <cstdint>
#include <string>
#include <vector>

namespace coalition::storage {

struct LedgerCheckReport {
    std::vector<std::string> violations;  // one line each, naming the row
    std::int64_t members_checked = 0;
    std::int64_t lots_checked = 0;
    std::int64_t runs_checked = 0;
    bool ok() const { return violations.empty(); }
};

// `now_us` (server clock) decides "today" in the program time zone, as the API does.
// Reads one REPEATABLE READ snapshot, so concurrent bookings cannot make rows disagree.
LedgerCheckReport check_ledger(pqxx::connection& connection, std::int64_t now_us);

}  // namespace coalition::storage
