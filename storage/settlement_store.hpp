#pragma once
// The settlement aggregate: reading a date's run (closed: stored; open or not yet closed:
// provisional, computed from what is booked) and closing a date once.
//
// What a run of date D is made of (every figure aggregated in SQL, GROUP BY, so the work is
// proportional to the number of groups in C++, not to the number of claims):
//  - obligations: slices with settlement_date D, per (issuer, redeemer, kind);
//  - fees and points issued: lots accepted on D that are new issuance (reissued_from_lot_id IS
//    NULL; a reissued lot carries no fee and was issued once already), per issuer;
//  - breakage: lot_expiries rows with settlement_date D, per issuer. A close first writes the
//    own expiry row of every lot with expires_on = D - 1 that still held points at the end of
//    that day; a provisional read adds those not-yet-written rows, so provisional == closed
//    when nothing else arrives;
//  - outstanding: what the lots accepted on or before D and still valid on D (expires_on >= D)
//    held at the end of D, however late the run is computed (the lots now, with what was
//    booked after D taken back): the issuer's open liability at the date's end. Runs closed
//    before migration 0014 hold what the lots held when they closed;
//  - claims: the number of claims accepted on D;
//  - currency and point_value: the program settings in force (latest version) when the run is
//    computed; a closed run records that version in settlement_runs.settings_version.
// Participants: every partner with a line on D (a slice, a fee, points issued, breakage) plus
// every issuer with points outstanding, so an issuer's liability is on its statement every
// day even without activity. Partners that never issued nor redeemed anything take no part.
#include "settlement/run.hpp"
#include "settlement/statement.hpp"
#include "storage/sql_time.hpp"

#include <pqxx/connection>
#include <pqxx/transaction_base>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace coalition::storage {

enum class SettlementStatus { provisional, closed };

// What the GET endpoints serve: the run with its informational lines, from which every
// participant's statement is built (a closed date stores the run and those lines, not each
// obligation again in both partners' statements).
struct SettlementRead {
    settlement::SettlementRun run;  // status set accordingly; information filled
    SettlementStatus status() const {
        return run.status == settlement::RunStatus::closed ? SettlementStatus::closed
                                                           : SettlementStatus::provisional;
    }
    // nullopt when the partner takes no part in the run. Scans the run's obligations.
    std::optional<settlement::PartnerStatement> statement(std::string_view partner_id) const {
        return settlement::build_statement(run, partner_id);
    }
    // Every participant's, in one pass.
    std::map<std::string, settlement::PartnerStatement> statements() const {
        return settlement::build_statements(run);
    }
};

// A stored run or statement no longer holds: invariants broken, hash mismatch, statements
// that disagree with their run. Never a client error: the caller answers 500 and alerts.
class SettlementIntegrityError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Has `date` ended in the program time zone at `now_us` (server clock)?
bool date_has_ended(pqxx::transaction_base& tx, Date date, std::int64_t now_us);

// Closed run (read back from settlement_runs/settlement_statements, invariants and hash
// re-checked after the read: SettlementIntegrityError on violation) or, when not closed, the
// provisional run computed from what is booked so far (nothing stored). One snapshot
// (REPEATABLE READ), so a provisional run is consistent across its aggregates.
SettlementRead read_settlement(pqxx::connection& connection, Date date, std::int64_t now_us);

// One partner's statement of `date`, as read_settlement(...).statement(partner_id) gives it,
// without computing every other partner's: of a closed date, from the stored run; of an open
// one, from the lines that name the partner only (a fraction of the date's rows). A partner
// that takes no part gets settlement::statement_of_no_part; nullopt when no partner has the id.
// Same errors as read_settlement.
// `now_us`: the caller's clock (the server host's), as read_settlement's.
std::optional<settlement::PartnerStatement> read_statement(pqxx::connection& connection, Date date,
                                                           const std::string& partner_id,
                                                           std::int64_t now_us);

enum class CloseOutcome { closed_now, already_closed, date_not_ended };
struct CloseResult {
    CloseOutcome outcome;
    SettlementRead read;  // empty run (date only) for date_not_ended
};

// Closes `date` once. Refuses (date_not_ended) while it has not ended. Otherwise, in ONE
// transaction under a transaction-level advisory lock on the date (so concurrent closes, in any
// process, produce one run): re-checks settlement_runs, writes the own expiry rows of the lots
// whose breakage belongs to `date`, computes the run with its informational lines, asserts the
// invariants, stores the run with run_sha256 over run_to_json_text and each participant's
// informational lines (settlement_statements), checks in those inserts that what was stored is
// exactly what was computed, commits. A second close returns already_closed with the stored run.
CloseResult close_settlement(pqxx::connection& connection, Date date, std::int64_t now_us);

// Dates that have ended but are not closed, oldest first: from the earliest settlement date
// of any claim or lot expiry up to yesterday (program time zone). Empty dates in between are
// included: every date gets its run, so "closed up to yesterday" is a simple statement.
std::vector<Date> dates_to_close(pqxx::connection& connection, std::int64_t now_us);

// For coalitionctl check: re-reads the closed run of `date` (invariants, hash, lines, as
// read_settlement does) and recomputes it from the ledger rows of the date, which the
// closed-date triggers freeze: the two must agree. The run's currency and point value must be
// its program version's; outstanding points are taken from what was stored (they depend on
// when the run was made). nullopt when all
// holds or the date is not closed; otherwise the first problem found.
std::optional<std::string> verify_closed_settlement(pqxx::transaction_base& tx, Date date);

// Closed dates, oldest first.
std::vector<Date> closed_dates(pqxx::transaction_base& tx);

// The two keys of a settlement date's advisory lock, as SQL over a date expression: a class of
// our own (the two-key form can never collide with the migrator's one-key lock), then the date
// as a day number. A macro so that statements can splice it in at compile time.
#define SETTLEMENT_DATE_LOCK_KEYS(date) "6190878, (" date ") - DATE '2000-01-01'"

// For the booking path: takes the shared side of the lock close_settlement takes exclusively,
// for the claim's settlement date, before the claim's first insert. A booking then either
// commits before the close reads the date, or waits for the close and is refused by the
// closed-date trigger; without it a booking in flight across midnight could commit into a date
// just after its run was computed. Held until the transaction ends.
void lock_settlement_date_shared(pqxx::transaction_base& tx, Date date);

// Whether `date` is closed to bookings: it has its run, or a later date has. A claim dated before
// a closed date (by a server clock behind another host's, which closed that later date) would
// change the closed run's figures that count everything up to its date's end (the points
// outstanding then). Called after lock_settlement_date_shared, in a statement of its own (a
// statement's snapshot is taken before it waits for the lock), it sees a close of the date
// that finished while the booking waited.
bool settlement_date_is_closed(pqxx::transaction_base& tx, Date date);

}  // namespace coalition::storage
