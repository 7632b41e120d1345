#include "storage/ledger_check.hpp"

#include "core/errors.hpp"
#include "core/one_line.hpp"
#include "ledger/member_view.hpp"
#include "storage/answers_json_check.hpp"
#include "storage/database.hpp"
#include "storage/ledger_rows.hpp"
#include "storage/settlement_store.hpp"
#include "storage/sql_time.hpp"

#include <pqxx/pqxx>

#include <functional>
#include <map>
#include <set>
#include <stdexcept>

namespace coalition::storage {
namespace {

// Batches bound memory whatever the size of the ledger.
constexpr int kMembersPerBatch = 1000;
constexpr std::int64_t kLotIdsPerBatch = 10000;

constexpr const char* kToday =
    "SELECT ($1::timestamptz AT TIME ZONE timezone)::date::text "
    "FROM program_settings ORDER BY version DESC LIMIT 1";

// The balance as plain SQL arithmetic, independent of the ledger code it is compared with.
// `is_open` (points_remaining > 0) changes no sum, but lets the probe use the partial index
// lots_open_fifo; without it every member's sum scanned the whole lots table (minutes at 100k
// members, found by bench/clearing.sh).
constexpr const char* kMembersBatch =
    "SELECT m.id, m.debt, coalesce((SELECT sum(l.points_remaining) FROM lots l "
    "  WHERE l.member_id = m.id AND l.expires_on >= $2::date AND l.is_open "
    "    AND l.reversed_by_claim_id IS NULL), 0)::bigint "
    "FROM members m WHERE m.id > $1 ORDER BY m.id LIMIT $3";

// LOT_COLUMNS first (lot_from_row reads them by position), then the member.
constexpr const char* kLotsOfMembers = "SELECT " LOT_COLUMNS
                                       ", member_id FROM lots WHERE member_id = ANY($1::text[]) "
                                       "ORDER BY member_id, id";

constexpr const char* kMaxLotId = "SELECT coalesce(max(id), 0) FROM lots";

constexpr const char* kLotMovements =
    "SELECT l.id, l.points_issued, l.debt_repaid, l.points_remaining, "
    "       l.reversed_by_claim_id IS NOT NULL, "
    "       coalesce(sum(s.points) FILTER (WHERE s.kind = 'burn'), 0)::bigint, "
    "       coalesce(sum(s.points) FILTER (WHERE s.kind = 'burn_reversal' AND "
    "         (l.reversed_by_claim_id IS NULL OR s.claim_id < l.reversed_by_claim_id)), "
    "0)::bigint, "
    "       count(s.id) FILTER (WHERE s.kind = 'burn' AND s.claim_id > l.reversed_by_claim_id) "
    "FROM lots l LEFT JOIN slices s ON s.lot_id = l.id "
    "WHERE l.id > $1 AND l.id <= $2 GROUP BY l.id ORDER BY l.id";

constexpr const char* kBurnsNotCovered =
    "SELECT c.id, c.points, coalesce(sum(s.points), 0)::bigint FROM claims c "
    "LEFT JOIN slices s ON s.claim_id = c.id AND s.kind = 'burn' "
    "WHERE c.type = 'burn' GROUP BY c.id HAVING c.points <> coalesce(sum(s.points), 0) "
    "ORDER BY c.id";

// A burn slice is its claim's: redeemed by its partner, from a lot of its member, on its date, at
// the point value of the program version it was priced by.
constexpr const char* kBurnSlicesMisattributed =
    "SELECT s.id FROM slices s JOIN claims c ON c.id = s.claim_id JOIN lots l ON l.id = s.lot_id "
    "JOIN program_settings p ON p.version = c.settings_version "
    "WHERE s.kind = 'burn' AND (c.type <> 'burn' OR s.redeemer_id <> c.partner_id "
    "  OR s.issuer_id <> l.issuer_id OR s.settlement_date <> c.settlement_date "
    "  OR l.member_id <> c.member_id OR s.point_value <> p.point_value) ORDER BY s.id";

// Every earn has exactly its one lot, which says what the claim and its program version say:
// points, member, issuer (the partner), acceptance, date, fee, and the last day of the month
// validity_months after the month of its date (CONTRACT.md §1).
constexpr const char* kEarnLotsWrong =
    "SELECT c.id FROM claims c JOIN program_settings p ON p.version = c.settings_version "
    "LEFT JOIN lots l ON l.claim_id = c.id AND l.reissued_from_lot_id IS NULL "
    "WHERE c.type = 'earn' AND (l.id IS NULL OR l.points_issued <> c.points "
    "  OR l.member_id <> c.member_id OR l.issuer_id <> c.partner_id "
    "  OR l.accepted_at <> c.accepted_at OR l.settlement_date <> c.settlement_date "
    "  OR l.fee_micros <> c.points * p.issue_fee "
    "  OR l.expires_on <> (date_trunc('month', c.settlement_date) "
    "                      + make_interval(months => p.validity_months + 1) - interval '1 "
    "day')::date) "
    "ORDER BY c.id";

// A lot belongs to an earn (its own) or to a burn reversal (the points it returned to a lot an
// earn reversal had removed: same member as that reversed lot, and the issuer and expiry of the
// lot whose repayment of debt it gives back (restores_lot_id, migration 0015: an earn's own
// lot of the same member that stands, booked after that earn reversal), or else of the
// reversed lot).
constexpr const char* kLotsOfNoClaim =
    "SELECT l.id FROM lots l JOIN claims c ON c.id = l.claim_id "
    "LEFT JOIN lots o ON o.id = l.reissued_from_lot_id "
    "LEFT JOIN lots g ON g.id = coalesce(l.restores_lot_id, l.reissued_from_lot_id) "
    "WHERE (l.reissued_from_lot_id IS NULL AND c.type <> 'earn') "
    "   OR (l.reissued_from_lot_id IS NOT NULL AND (c.type <> 'reversal' "
    "       OR c.reverses_type <> 'burn' OR l.member_id <> c.member_id "
    "       OR l.settlement_date <> c.settlement_date OR o.reversed_by_claim_id IS NULL "
    "       OR o.member_id <> l.member_id "
    "       OR g.issuer_id <> l.issuer_id OR g.member_id <> l.member_id "
    "       OR g.expires_on <> l.expires_on)) "
    "   OR (l.restores_lot_id IS NOT NULL AND (g.reissued_from_lot_id IS NOT NULL "
    "       OR g.reversed_by_claim_id < l.claim_id OR g.debt_repaid = 0 "
    "       OR g.claim_id <= o.reversed_by_claim_id)) "
    "ORDER BY l.id";

// A burn reversal returning points to a reversed lot pays the member's debt with them and deals
// with the excess alone: reissued lots, or breakage if the lot has expired. Together those never
// exceed what its slice on that lot returned. (The debt check alone cannot see a made-up reissue
// that came with the same rise of the member's debt: the two cancel out in it.) And a lot never
// gives back more of its repayments than it repaid.
constexpr const char* kReissuesExceedReturns =
    "SELECT min(l.id) FROM lots l "
    "WHERE l.reissued_from_lot_id IS NOT NULL GROUP BY l.claim_id, l.reissued_from_lot_id "
    "HAVING sum(l.points_issued) "
    "  + coalesce((SELECT sum(e.points) FROM lot_expiries e "
    "              WHERE e.claim_id = l.claim_id AND e.lot_id = l.reissued_from_lot_id), 0) "
    "  > coalesce((SELECT sum(s.points) FROM slices s WHERE s.kind = 'burn_reversal' "
    "              AND s.claim_id = l.claim_id AND s.lot_id = l.reissued_from_lot_id), 0) "
    "ORDER BY 1";

constexpr const char* kRestorationsExceedRepayments =
    "SELECT g.id FROM lots g JOIN lots l ON l.restores_lot_id = g.id "
    "GROUP BY g.id HAVING sum(l.points_issued) > g.debt_repaid ORDER BY g.id";

// An earn's reversal and its lot name each other: the reversal's earn has its lot marked
// reversed by that reversal, and a lot marked reversed names a reversal of its own earn, or
// restores (migration 0016) a lot that the same reversal marked.
constexpr const char* kEarnReversalsUnlinked =
    "SELECT c.id FROM claims c "
    "LEFT JOIN lots l ON l.claim_id = c.reverses_claim_id AND l.reissued_from_lot_id IS NULL "
    "WHERE c.type = 'reversal' AND c.reverses_type = 'earn' "
    "  AND (l.id IS NULL OR l.reversed_by_claim_id IS DISTINCT FROM c.id) "
    "UNION "
    "SELECT r.id FROM lots l JOIN claims r ON r.id = l.reversed_by_claim_id "
    "LEFT JOIN lots g ON g.id = l.restores_lot_id "
    "WHERE r.type <> 'reversal' OR r.reverses_type IS DISTINCT FROM 'earn' "
    "  OR (l.restores_lot_id IS NULL AND (r.reverses_claim_id <> l.claim_id "
    "                                     OR l.reissued_from_lot_id IS NOT NULL)) "
    "  OR (l.restores_lot_id IS NOT NULL AND g.reversed_by_claim_id IS DISTINCT FROM r.id) "
    "ORDER BY 1";

// A lot that gave back a repayment of debt is reversed with the repaying lot (migration 0016).
// One that stands beside its reversed lot leaves the refunded issuer liable for its points:
// how reversals booked before that migration left them.
constexpr const char* kRestorationsLeftStanding =
    "SELECT l.id FROM lots l JOIN lots g ON g.id = l.restores_lot_id "
    "WHERE g.reversed_by_claim_id IS NOT NULL "
    "  AND l.reversed_by_claim_id IS DISTINCT FROM g.reversed_by_claim_id "
    "ORDER BY l.id";

// The answer stored with a claim, replayed to every retry for ever, says what the row says.
// Reversals answer with their member and the points they moved, which the row does not hold.
constexpr const char* kStoredAnswersWrong =
    "SELECT c.id FROM claims c, LATERAL (SELECT c.response_body::jsonb AS a) b "
    "WHERE c.response_status <> 201 OR b.a->>'status' IS DISTINCT FROM 'accepted' "
    "  OR b.a->>'claim_id' IS DISTINCT FROM c.webhook_id OR b.a->>'type' IS DISTINCT FROM c.type "
    "  OR b.a->>'settlement_date' IS DISTINCT FROM to_char(c.settlement_date, 'YYYY-MM-DD') "
    "  OR (c.type <> 'reversal' AND (b.a->>'member_id' IS DISTINCT FROM c.member_id "
    "      OR b.a->>'points' IS DISTINCT FROM c.points::text)) "
    "ORDER BY c.id";

// A refused claim's stored answer (migration 0012), replayed to its retries for ever, is the
// refusal of a ledger rule: anything else would answer a retry with what no booking decided.
constexpr const char* kRefusedAnswersWrong =
    "SELECT r.partner_id || ' ' || r.webhook_id FROM refused_claims r, "
    "  LATERAL (SELECT r.response_body::jsonb -> 'error' AS e) b "
    "WHERE r.response_status <> 422 OR b.e->>'code' IS NULL "
    "  OR NOT b.e->>'code' = ANY ($1::text[]) "
    "ORDER BY 1";

// And a refused claim's key is not also an accepted claim's (the key lock keeps one answer a
// key). Read apart from the answers, so that one answer that is not JSON hides no collision.
constexpr const char* kRefusedKeysAlsoAccepted =
    "SELECT r.partner_id || ' ' || r.webhook_id FROM refused_claims r "
    "JOIN claims c ON c.partner_id = r.partner_id AND c.webhook_id = r.webhook_id "
    "ORDER BY 1";

constexpr const char* kReversalSlicesNotMirrors =
    "SELECT r.id FROM slices r JOIN slices b ON b.id = r.reverses_slice_id "
    "JOIN claims rc ON rc.id = r.claim_id "
    "WHERE r.kind = 'burn_reversal' AND (b.kind <> 'burn' OR rc.type <> 'reversal' "
    "  OR rc.reverses_claim_id <> b.claim_id OR r.lot_id <> b.lot_id "
    "  OR r.issuer_id <> b.issuer_id OR r.redeemer_id <> b.redeemer_id OR r.points <> b.points "
    "  OR r.point_value <> b.point_value OR r.settlement_date <> rc.settlement_date) "
    "ORDER BY r.id";

constexpr const char* kReversedBurnSlicesUnmirrored =
    "SELECT b.id FROM slices b JOIN claims rc ON rc.reverses_claim_id = b.claim_id "
    "WHERE b.kind = 'burn' AND rc.reverses_type = 'burn' AND NOT EXISTS ("
    "  SELECT 1 FROM slices r WHERE r.reverses_slice_id = b.id AND r.claim_id = rc.id) "
    "ORDER BY b.id";

// Every total of member_points (migration 0007) against the lots it sums, both ways: a total
// whose lots hold other points, and lots whose member and date have no total.
constexpr const char* kMemberPointsWrong =
    "SELECT coalesce(l.member_id, t.member_id), coalesce(l.expires_on, t.expires_on)::text, "
    "  t.points, l.points "
    "FROM (SELECT member_id, expires_on, sum(points_remaining)::bigint AS points FROM lots "
    "      GROUP BY member_id, expires_on) l "
    "FULL JOIN member_points t ON t.member_id = l.member_id AND t.expires_on = l.expires_on "
    "WHERE t.points IS DISTINCT FROM l.points ORDER BY 1, 2";

constexpr const char* kExpiryRowsWrong =
    "SELECT l.id, l.points_remaining - coalesce(ret.points, 0), own.points, "
    "       own.settlement_date::text, (l.expires_on + 1)::text "
    "FROM lots l "
    "LEFT JOIN lot_expiries own ON own.lot_id = l.id AND own.claim_id IS NULL "
    "LEFT JOIN (SELECT lot_id, sum(points)::bigint AS points FROM lot_expiries "
    "           WHERE claim_id IS NOT NULL GROUP BY lot_id) ret ON ret.lot_id = l.id "
    "WHERE l.reversed_by_claim_id IS NULL AND l.expires_on < $1::date AND ("
    "  l.points_remaining < coalesce(ret.points, 0) "
    "  OR (own.id IS NOT NULL AND (own.points <> l.points_remaining - coalesce(ret.points, 0) "
    "                           OR own.settlement_date <> l.expires_on + 1)) "
    "  OR (own.id IS NULL AND l.points_remaining - coalesce(ret.points, 0) > 0 "
    "      AND EXISTS (SELECT 1 FROM settlement_runs r "
    "                  WHERE r.settlement_date = l.expires_on + 1))) "
    "ORDER BY l.id";

// Every expiry row is its lot's issuer's breakage, and dated as its kind says: a lot's own row the
// day after the lot expired (never for a lot still valid today), a row of points a burn reversal
// returned to an expired lot on that reversal's date, after the lot's expiry, for no more points
// than the reversal's slice on that lot returned.
constexpr const char* kExpiryRowsMisattributed =
    "SELECT e.id FROM lot_expiries e JOIN lots l ON l.id = e.lot_id "
    "LEFT JOIN claims c ON c.id = e.claim_id "
    "WHERE e.issuer_id <> l.issuer_id "
    "   OR (e.claim_id IS NULL AND (e.settlement_date <> l.expires_on + 1 "
    "                               OR l.expires_on >= $1::date)) "
    "   OR (e.claim_id IS NOT NULL AND (c.type <> 'reversal' "
    "       OR c.reverses_type IS DISTINCT FROM 'burn' OR e.settlement_date <> c.settlement_date "
    "       OR e.settlement_date <= l.expires_on "
    "       OR e.points > coalesce((SELECT sum(s.points) FROM slices s "
    "                               WHERE s.claim_id = e.claim_id AND s.lot_id = e.lot_id "
    "                                 AND s.kind = 'burn_reversal'), 0))) "
    "ORDER BY e.id";

// Each member's debt as its history gives it (ledger/earn.cpp, ledger/reversal.cpp): an earn
// repays debt_repaid; an earn's reversal adds everything that had left its lot (issued −
// remaining then: what it repaid, plus burnt minus returned before the reversal) less what the
// lots restoring it held then (issued − burnt + returned before: migration 0016); a burn
// reversal that returns points to a reversed lot pays the debt with them, but for the excess it
// reissued as a new lot or, the lot having expired, booked as breakage. Summed per lot: −repaid
// for a lot still standing, burnt − returned before − returned after + excess for a reversed
// one (its own repaid cancels out), less its points issued for a reversed restoring lot (whose
// issue counts as its source's excess). Claim ids give the order of a lot's movements, as in
// kLotMovements.
constexpr const char* kDebtsWrong =
    "WITH moves AS ("
    "  SELECT l.id, l.member_id, l.debt_repaid, l.reversed_by_claim_id AS reversal, "
    "    CASE WHEN l.restores_lot_id IS NULL THEN 0 ELSE l.points_issued END AS restored, "
    "    coalesce(sum(s.points) FILTER (WHERE s.kind = 'burn'), 0) AS burnt, "
    "    coalesce(sum(s.points) FILTER (WHERE s.kind = 'burn_reversal' "
    "      AND s.claim_id < l.reversed_by_claim_id), 0) AS returned_before, "
    "    coalesce(sum(s.points) FILTER (WHERE s.kind = 'burn_reversal' "
    "      AND s.claim_id > l.reversed_by_claim_id), 0) AS returned_after "
    "  FROM lots l LEFT JOIN slices s ON s.lot_id = l.id "
    "  WHERE l.reissued_from_lot_id IS NULL OR l.restores_lot_id IS NOT NULL GROUP BY l.id), "
    "excess AS ("
    "  SELECT lot_id, sum(points) AS points FROM ("
    "    SELECT reissued_from_lot_id AS lot_id, points_issued AS points FROM lots "
    "    WHERE reissued_from_lot_id IS NOT NULL "
    "    UNION ALL "
    "    SELECT e.lot_id, e.points FROM lot_expiries e JOIN lots l ON l.id = e.lot_id "
    "    WHERE e.claim_id > l.reversed_by_claim_id) x GROUP BY lot_id), "
    "derived AS ("
    "  SELECT m.member_id, sum(CASE WHEN m.reversal IS NULL THEN -m.debt_repaid "
    "    ELSE m.burnt - m.returned_before - m.returned_after + coalesce(x.points, 0) "
    "      - m.restored END) AS debt "
    "  FROM moves m LEFT JOIN excess x ON x.lot_id = m.id GROUP BY m.member_id) "
    "SELECT mb.id, mb.debt, coalesce(d.debt, 0)::bigint FROM members mb "
    "LEFT JOIN derived d ON d.member_id = mb.id "
    "WHERE mb.debt <> coalesce(d.debt, 0) ORDER BY mb.id";

// {"a","b"}: entity ids have no quote or backslash, and quoting keeps an id "NULL" a string.
std::string text_array_literal(const std::vector<std::string>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i != 0) out += ',';
        out += '"' + values[i] + '"';
    }
    return out + "}";
}

void check_members(pqxx::transaction_base& tx, Date today, LedgerCheckReport& report) {
    std::string after;  // keyset: every member id sorts after ""
    for (;;) {
        const auto members =
            tx.exec_params(kMembersBatch, after, date_literal(today), kMembersPerBatch);
        if (members.empty()) return;
        std::vector<std::string> ids;
        for (const auto& row : members) ids.push_back(row[0].as<std::string>());
        std::map<std::string, std::vector<ledger::Lot>> lots_of;
        // A member with a lot the ledger cannot read (a date past 9999, say) is named with
        // that lot; its balance cannot be computed, and the check goes on with the others.
        std::set<std::string> unreadable;
        for (const auto& lot_row : tx.exec_params(kLotsOfMembers, text_array_literal(ids))) {
            const auto member = lot_row[8].as<std::string>();
            try {
                lots_of[member].push_back(lot_from_row(lot_row));
            } catch (const std::exception& e) {
                unreadable.insert(member);
                report.violations.push_back("lot " + lot_row[0].as<std::string>() + " of member " +
                                            member + ": a row the ledger cannot read: " + e.what());
            }
        }
        for (const auto& row : members) {
            const auto id = row[0].as<std::string>();
            const Points debt(row[1].as<std::int64_t>());
            const Points open_sum(row[2].as<std::int64_t>());
            const auto& member_lots = lots_of[id];
            ++report.members_checked;
            for (const auto& lot : member_lots) {
                if (lot.remaining < Points(0) || lot.remaining > lot.issued - lot.debt_repaid) {
                    report.violations.push_back(
                        "lot " + std::to_string(lot.id) + ": remaining " +
                        std::to_string(lot.remaining.value()) +
                        " outside [0, issued - debt_repaid = " +
                        std::to_string((lot.issued - lot.debt_repaid).value()) + "]");
                }
            }
            if (unreadable.contains(id)) continue;
            try {
                const auto view = ledger::member_view(member_lots, debt, today);
                if (view.balance != open_sum - debt) {
                    report.violations.push_back(
                        "member " + id + ": open lots " + std::to_string(open_sum.value()) +
                        " - debt " + std::to_string(debt.value()) + " != reported balance " +
                        std::to_string(view.balance.value()));
                }
            } catch (const std::exception& e) {
                report.violations.push_back("member " + id +
                                            ": rows the ledger refuses: " + e.what());
            }
        }
        after = ids.back();
    }
}

void check_lots(pqxx::transaction_base& tx, LedgerCheckReport& report) {
    const auto max_id = tx.exec1(kMaxLotId)[0].as<std::int64_t>();
    for (std::int64_t from = 0; from < max_id; from += kLotIdsPerBatch) {
        for (const auto& row : tx.exec_params(kLotMovements, from, from + kLotIdsPerBatch)) {
            ++report.lots_checked;
            const auto id = row[0].as<std::int64_t>();
            const auto issued = row[1].as<std::int64_t>();
            const auto debt_repaid = row[2].as<std::int64_t>();
            const auto remaining = row[3].as<std::int64_t>();
            const bool reversed = row[4].as<bool>();
            const auto burnt = row[5].as<std::int64_t>();
            const auto returned = row[6].as<std::int64_t>();
            const auto burns_after_reversal = row[7].as<std::int64_t>();
            const std::string name = "lot " + std::to_string(id) + ": ";
            // Sums of int64 points in SQL bigint already; these differences cannot overflow
            // for values the CHECKs allow, but use checked arithmetic like all money.
            const auto accounted =
                checked_sub(checked_add(checked_add(remaining, debt_repaid), burnt), returned);
            if (!reversed) {
                if (accounted != issued) {
                    report.violations.push_back(name + "issued " + std::to_string(issued) +
                                                " != remaining " + std::to_string(remaining) +
                                                " + debt_repaid " + std::to_string(debt_repaid) +
                                                " + burnt " + std::to_string(burnt) +
                                                " - returned " + std::to_string(returned));
                }
                continue;
            }
            const auto removed = checked_sub(issued, accounted);
            if (remaining != 0 || removed < 0 || removed > issued - debt_repaid) {
                report.violations.push_back(name + "reversed, but its slices leave " +
                                            std::to_string(removed) +
                                            " points removed by the reversal (remaining " +
                                            std::to_string(remaining) + ")");
            }
            if (burns_after_reversal != 0) {
                report.violations.push_back(name + "burnt after its earn was reversed");
            }
        }
    }
}

void check_slices(pqxx::transaction_base& tx, LedgerCheckReport& report) {
    for (const auto& row : tx.exec(kBurnsNotCovered)) {
        report.violations.push_back("burn claim " + row[0].as<std::string>() + ": points " +
                                    row[1].as<std::string>() + " != its slices' " +
                                    row[2].as<std::string>());
    }
    for (const auto& row : tx.exec(kBurnSlicesMisattributed)) {
        report.violations.push_back("slice " + row[0].as<std::string>() +
                                    ": burn slice disagrees with its claim or lot");
    }
    for (const auto& row : tx.exec(kReversalSlicesNotMirrors)) {
        report.violations.push_back("slice " + row[0].as<std::string>() +
                                    ": reversal slice does not mirror its burn slice");
    }
    for (const auto& row : tx.exec(kReversedBurnSlicesUnmirrored)) {
        report.violations.push_back("slice " + row[0].as<std::string>() +
                                    ": burn slice of a reversed burn has no reversal slice");
    }
}

// The codes of the ledger's refusals (core/errors.hpp), as a text[] literal.
std::string ledger_refusal_codes() {
    std::string codes;
    for (const auto code : kLedgerRefusals) {
        codes += codes.empty() ? "{" : ",";
        codes += error_name(code);
    }
    return codes + "}";
}

// The stored answers of `table`, read as JSON by `check`, which lists what it finds wrong. An
// answer that is not JSON at all fails that read at its first cast: the rows that are not JSON
// are then named instead, and the table's answers must be checked again once they are repaired.
void check_answers(
    pqxx::dbtransaction& tx, const std::string& table, const std::string& name_sql,
    const std::string& what, LedgerCheckReport& report,
    const std::function<void(pqxx::transaction_base&, std::vector<std::string>&)>& check) {
    std::vector<std::string> wrong;
    if (runs_on_castable_data(tx, [&](pqxx::transaction_base& sub) { check(sub, wrong); })) {
        report.violations.insert(report.violations.end(), wrong.begin(), wrong.end());
        return;
    }
    for (const auto& name : answers_not_json(tx, table, name_sql)) {
        report.violations.push_back(what + " " + name +
                                    ": its stored answer is not JSON (the other answers of " +
                                    table + " are checked once it is repaired)");
    }
}

// Each claim against the rows it wrote: its lot (earns), its reversal's mark (earn reversals),
// its stored answer; and every lot against the claim it belongs to.
void check_claim_rows(pqxx::dbtransaction& tx, LedgerCheckReport& report) {
    const auto each = [&](const char* sql, const std::string& what, const std::string& problem) {
        for (const auto& row : tx.exec(sql)) {
            report.violations.push_back(what + " " + row[0].as<std::string>() + ": " + problem);
        }
    };
    each(kEarnLotsWrong, "earn claim",
         "its lot is missing or disagrees with it (points, member, issuer, date, fee or expiry)");
    each(kLotsOfNoClaim, "lot",
         "belongs to no earn, nor is a burn reversal's reissue of a reversed lot of its member");
    each(kReissuesExceedReturns, "lot",
         "a reissue of more points than its burn reversal returned to the reversed lot");
    each(kRestorationsExceedRepayments, "lot",
         "gave back more of its repayments of debt than it repaid");
    each(kEarnReversalsUnlinked, "claim",
         "an earn reversal and the lot it reversed do not name each other");
    each(kRestorationsLeftStanding, "lot",
         "gave back a repayment of debt, and was not reversed with the lot that repaid it");
    check_answers(tx, "claims", "id::text", "claim", report,
                  [&](pqxx::transaction_base& sub, std::vector<std::string>& wrong) {
                      for (const auto& row : sub.exec_params(kStoredAnswersWrong)) {
                          wrong.push_back("claim " + row[0].as<std::string>() +
                                          ": its stored answer disagrees with its row");
                      }
                  });
    check_answers(
        tx, "refused_claims", "partner_id || ' ' || webhook_id", "refused claim", report,
        [&](pqxx::transaction_base& sub, std::vector<std::string>& wrong) {
            for (const auto& row : sub.exec_params(kRefusedAnswersWrong, ledger_refusal_codes())) {
                wrong.push_back("refused claim " + row[0].as<std::string>() +
                                ": its stored answer is not a ledger refusal");
            }
        });
    for (const auto& row : tx.exec(kRefusedKeysAlsoAccepted)) {
        report.violations.push_back("refused claim " + row[0].as<std::string>() +
                                    ": its key is also an accepted claim's");
    }
    for (const auto& row : tx.exec(kDebtsWrong)) {
        report.violations.push_back("member " + row[0].as<std::string>() + ": debt " +
                                    row[1].as<std::string>() + ", its history gives " +
                                    row[2].as<std::string>());
    }
}

void check_member_points(pqxx::transaction_base& tx, LedgerCheckReport& report) {
    const auto points = [](const pqxx::field& field) {
        return field.is_null() ? std::string("none") : field.as<std::string>();
    };
    for (const auto& row : tx.exec(kMemberPointsWrong)) {
        report.violations.push_back("member " + row[0].as<std::string>() + ", points expiring " +
                                    row[1].as<std::string>() + ": member_points holds " +
                                    points(row[2]) + ", its lots " + points(row[3]));
    }
}

void check_breakage(pqxx::transaction_base& tx, Date today, LedgerCheckReport& report) {
    for (const auto& row : tx.exec_params(kExpiryRowsMisattributed, date_literal(today))) {
        report.violations.push_back("expiry row " + row[0].as<std::string>() +
                                    ": not its lot's issuer's, or dated otherwise than its kind");
    }
    for (const auto& row : tx.exec_params(kExpiryRowsWrong, date_literal(today))) {
        const std::string expected = row[1].as<std::string>();
        const std::string own = row[2].is_null() ? "none" : row[2].as<std::string>();
        const std::string own_date = row[3].is_null() ? "-" : row[3].as<std::string>();
        report.violations.push_back("lot " + row[0].as<std::string>() + ": expiry row " + own +
                                    " on " + own_date + ", expected " + expected + " on " +
                                    row[4].as<std::string>());
    }
}

// Every foreign key of the schema, as the query that counts the rows breaking it (MATCH SIMPLE:
// a row with a NULL in the key is exempt). The database keeps them, but a data-only restore
// with --disable-triggers, or a superuser's session_replication_role = replica, skips them: a
// lot whose claim is gone still counts in balances and issuance while a retry of that claim's
// id books it again, and a member's lots without the member can be neither read nor spent.
constexpr const char* kForeignKeyProbes =
    "SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text, "
    "  format('SELECT count(*) FROM %s AS child WHERE %s AND NOT EXISTS "
    "    (SELECT 1 FROM %s AS parent WHERE %s)', c.conrelid::regclass, "
    "    string_agg(format('child.%I IS NOT NULL', a.attname), ' AND ' ORDER BY k.n), "
    "    c.confrelid::regclass, "
    "    string_agg(format('parent.%I = child.%I', f.attname, a.attname), ' AND ' ORDER BY k.n)) "
    "FROM pg_constraint c "
    "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child, parent, n) "
    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.child "
    "JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = k.parent "
    "WHERE c.contype = 'f' "
    "  AND c.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
    "GROUP BY c.oid, c.conname, c.conrelid, c.confrelid ORDER BY c.conname";

void check_foreign_keys(pqxx::transaction_base& tx, LedgerCheckReport& report) {
    for (const auto& key : tx.exec(kForeignKeyProbes)) {
        const auto broken = tx.exec1(key[3].as<std::string>())[0].as<std::int64_t>();
        if (broken == 0) continue;
        report.violations.push_back("foreign key " + key[0].as<std::string>() + ": " +
                                    std::to_string(broken) + " row(s) of " +
                                    key[1].as<std::string>() + " name a row of " +
                                    key[2].as<std::string>() + " that does not exist");
    }
}

void check_runs(pqxx::transaction_base& tx, LedgerCheckReport& report) {
    for (const auto date : closed_dates(tx)) {
        ++report.runs_checked;
        if (auto problem = verify_closed_settlement(tx, date)) {
            report.violations.push_back("run " + date_literal(date) + ": " + *problem);
        }
    }
}

void run_checks(pqxx::dbtransaction& tx, std::int64_t now_us, LedgerCheckReport& report) {
    check_foreign_keys(tx, report);
    // The other checks read rows through those keys (a run's program version, a lot's claim):
    // a row naming nothing could stop them short, and these violations would be lost with them.
    // They also need the program (its time zone gives today).
    const auto program = tx.exec_params(kToday, timestamp_literal(now_us));
    if (program.empty()) report.violations.push_back("program_settings holds no program");
    if (!report.ok()) {
        report.violations.push_back(
            "the other checks were not run: they read rows through the foreign keys and the "
            "program above");
        return;
    }
    const Date today = parse_date(program[0][0].as<std::string>());
    check_members(tx, today, report);
    check_lots(tx, report);
    check_member_points(tx, report);
    check_claim_rows(tx, report);
    check_slices(tx, report);
    check_breakage(tx, today, report);
    check_runs(tx, report);
}

}  // namespace

LedgerCheckReport check_ledger(pqxx::connection& connection, std::int64_t now_us) {
    SnapshotTransaction tx(connection);
    LedgerCheckReport report;
    // A value the checks cannot read — a time zone PostgreSQL does not know, a run dated
    // 'infinity', a timestamp out of range — written past the server's own validation: the
    // ledger is wrong, which is exit 3 with the reason, not "could not check" (exit 1, kept for
    // a database that cannot be reached). The checks stop there: the transaction is spent.
    const auto stopped = [&](const char* reason) {
        report.violations.push_back("check stopped: the ledger holds a value it cannot read (" +
                                    one_line(reason) + ")");
    };
    try {
        run_checks(tx, now_us, report);
    } catch (const pqxx::data_exception& e) {
        stopped(e.what());
    } catch (const pqxx::conversion_error& e) {
        stopped(e.what());
    } catch (const std::invalid_argument& e) {  // our own parsers: a date, a number
        stopped(e.what());
    }
    return report;
}

}  // namespace coalition::storage
