#include "storage/settlement_store.hpp"

#include "core/crypto.hpp"
#include "settlement/invariants.hpp"
#include "settlement/lines_json.hpp"
#include "settlement/netting.hpp"
#include "settlement/run_json.hpp"
#include "storage/database.hpp"
#include "storage/program_store.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

namespace coalition::storage {
namespace {

// ---- Every statement of the settlement path, named ------------------------------------------

// The program version in force at the date's ($1) last instant, its end taken in the program's
// time zone as kDateHasEnded takes it, on the caller's clock ($2: its now, the server host's):
// the function maps that instant onto the database's clock, which stamped the versions, as it
// does for bookings (migration 0010), so a server run under faketime or with a skewed clock
// gets the version its claims were priced by. Its point_value is the run's (shown, not used to
// price: each slice carries its own), and a run closed after a price change made once its date
// had ended shows the price its date was booked at. For a date not ended yet, the newest.
//
// The date ends at the next date's first instant. Where the clocks go back over midnight
// (Atlantic/Azores, America/Havana), midnight happens twice and PostgreSQL reads it as the later
// instant: the earlier one is found from 21:00 the evening before (no zone shifts its clocks by
// three hours), kept if it is already the next date and earlier (found by review: a run took
// its program at the second midnight, with a price set between the two).
constexpr const char* kProgramOfDate =
    "WITH zone AS (SELECT timezone AS tz FROM program_settings ORDER BY version DESC LIMIT 1), "
    "next_midnight AS ("
    "  SELECT tz, ($1::date + 1)::timestamp AT TIME ZONE tz AS later, "
    "         (($1::date + 1)::timestamp - interval '3 hours') AT TIME ZONE tz "
    "           + interval '3 hours' AS earlier "
    "  FROM zone), "
    "date_end AS ("
    "  SELECT CASE WHEN (earlier AT TIME ZONE tz)::date = $1::date + 1 AND earlier < later "
    "              THEN earlier ELSE later END AS next_date_starts "
    "  FROM next_midnight) "
    "SELECT p.version, p.currency, p.point_value "
    "FROM date_end, program_in_force_at(date_end.next_date_starts - interval '1 microsecond', "
    "                                   $2::timestamptz) p";

constexpr const char* kDateHasEnded =
    "SELECT ($1::timestamptz AT TIME ZONE timezone)::date > $2::date "
    "FROM program_settings ORDER BY version DESC LIMIT 1";

// The program's lock (migration 0008), shared: a time zone change, which takes it exclusive,
// then cannot commit between this close's check that the date has ended and its run.
constexpr const char* kLockProgramShared =
    "SELECT pg_advisory_xact_lock_shared(" PROGRAM_CHANGE_LOCK_KEYS ")";

constexpr const char* kLockDateExclusive =
    "SELECT pg_advisory_xact_lock(" SETTLEMENT_DATE_LOCK_KEYS("$1::date") ")";
// Closes of one date take turns, each holding this lock for both of its transactions (the
// barrier's, then the close's); bookings never take it. A second close (another server's job,
// a POST, coalitionctl settle) thus waits here, holding nothing, instead of in its barrier
// behind the first close's lot_expiries (held for the ~10 s of a large day's close), where it
// would time out, answer 503, and hold up every booking that writes lot_expiries meanwhile.
// Class 6190881 (6190878 is a date's booking lock, 6190879 the program's, 6190880 claim keys).
constexpr const char* kLockCloseOfDate =
    "SELECT pg_advisory_xact_lock(6190881, $1::date - DATE '2000-01-01')";
constexpr const char* kDateIsClosed =
    "SELECT EXISTS (SELECT 1 FROM settlement_runs WHERE settlement_date >= $1::date)";

constexpr const char* kLockDateShared =
    "SELECT pg_advisory_xact_lock_shared(" SETTLEMENT_DATE_LOCK_KEYS("$1::date") ")";

// Waits until every transaction that is writing ledger rows right now has finished, and keeps
// new writers out for that instant only (the lock is released when this transaction commits).
// A booking accepted before the date ended that is still in flight is thus in the run. It is
// a courtesy, not what makes the close correct: a booking that has not taken its date's lock
// by the time the close takes it exclusive finds the date closed and is booked on today's
// (DateClosedWhileWaiting). So it waits a second at most for each of its tables (usually one is
// held, if any) and the close goes on without it:
// while it waits, every booking queues behind its request (SHARE on the tables they write),
// and a table held longer (a VACUUM, a DDL) must not cost them their db_lock_timeout_ms.
// lot_expiries first, the table another holder is likeliest to keep.
constexpr const char* kBoundLockWait = "SET LOCAL lock_timeout = '1s'";
// The close itself may wait for another close of the same date (its date lock, ~10 s for a
// 10-million-claim day), longer than the server's sessions wait for a lock by default
// (db_lock_timeout_ms): a second close then answers with the first one's run, not an error.
constexpr const char* kCloseLockWait = "SET LOCAL lock_timeout = '300s'";
constexpr const char* kWritersBarrier =
    "LOCK TABLE lot_expiries, claims, lots, slices IN SHARE MODE";

constexpr const char* kStoredRun =
    "SELECT run::text, encode(run_sha256, 'hex') FROM settlement_runs "
    "WHERE settlement_date = $1::date";

// Bytewise order, as the run's participants and informational lines.
constexpr const char* kStoredStatements =
    "SELECT partner_id, net_minor, statement::text FROM settlement_statements "
    "WHERE settlement_date = $1::date ORDER BY partner_id COLLATE \"C\"";

// The lots whose own expiry row belongs to `date` ($1): expired on its eve, still holding points,
// no own expiry row yet. What such a lot held at the end of expires_on is its points now minus
// those that burn reversals returned to it after it expired (each of those is a breakage row
// naming the reversal); expired lots cannot be burnt, so nothing else changed them since.
// Their lot_expiries rows are read once, in one aggregate, not by a subquery per lot: the insert
// below adds rows to that table while it runs, and a per-lot subquery planned as a sequential
// scan (as it is while the table is small) rereads every row inserted so far for each lot,
// quadratic in the lots expiring on one day (0.8 s for 10,000 in bench/clearing.sh).
#define DUE_EXPIRIES                                                                       \
    "SELECT l.id, l.issuer_id, "                                                           \
    "  (l.points_remaining - coalesce(seen.returned, 0))::bigint AS points "               \
    "FROM lots l LEFT JOIN ("                                                              \
    "  SELECT r.lot_id, sum(r.points) FILTER (WHERE r.claim_id IS NOT NULL) AS returned, " \
    "         count(*) FILTER (WHERE r.claim_id IS NULL) AS own "                          \
    "  FROM lot_expiries r JOIN lots d ON d.id = r.lot_id "                                \
    "  WHERE d.expires_on = $1::date - 1 AND d.is_open GROUP BY r.lot_id"                  \
    ") seen ON seen.lot_id = l.id "                                                        \
    "WHERE l.expires_on = $1::date - 1 AND l.is_open AND coalesce(seen.own, 0) = 0"

// The own expiry rows of `date`. ON CONFLICT: a burn reversal may be writing the same
// snapshot concurrently (it inserts it if absent); the first one wins, both hold the same value.
constexpr const char* kInsertDueExpiries =
    "INSERT INTO lot_expiries (lot_id, claim_id, issuer_id, points, settlement_date) "
    "SELECT id, NULL, issuer_id, points, $1::date "
    "FROM (" DUE_EXPIRIES
    ") due WHERE points > 0 ORDER BY id "
    "ON CONFLICT DO NOTHING";

// The same rows, not written: what a provisional read adds to the stored breakage.
// The aggregates below take the date ($1) and a partner id ($2): NULL for every partner (a run),
// or one partner for its statement alone — the lines that name it, which are all its figures
// depend on. The statements are planned with their parameter values (libpq's unnamed
// statements), so `$2 IS NULL` folds away and the run's plans are those without the filter.
constexpr const char* kPendingBreakage =
    "SELECT issuer_id, sum(points)::bigint "
    "FROM (" DUE_EXPIRIES
    ") due WHERE points > 0 AND ($2::text IS NULL OR issuer_id = $2) "
    "GROUP BY issuer_id";

constexpr const char* kSliceLines =
    "SELECT issuer_id, redeemer_id, kind, sum(points)::bigint, sum(amount_micros)::bigint "
    "FROM slices WHERE settlement_date = $1::date "
    "  AND ($2::text IS NULL OR issuer_id = $2 OR redeemer_id = $2) "
    "GROUP BY issuer_id, redeemer_id, kind";

constexpr const char* kBreakage =
    "SELECT issuer_id, sum(points)::bigint FROM lot_expiries "
    "WHERE settlement_date = $1::date AND ($2::text IS NULL OR issuer_id = $2) "
    "GROUP BY issuer_id";

// Issuance and outstanding points per issuer, in one statement: a close runs in READ
// COMMITTED and bookings of later dates go on beside it, so the lots now and what moved them
// since the date must be read in one snapshot (two statements each counted a burn committed
// between them once too often, or a return once too few).
//  - issuance: lots accepted on the date that are new issuance (reissued_from_lot_id IS NULL;
//    a reissued lot carries no fee and was issued once already), in one pass over the lots
//    with the next part (two passes read the date's lots twice: 1.2 s more at full size);
//  - outstanding: what the lots accepted on or before the date and valid on it held at its
//    end, however late the run is computed: their points_remaining now, plus what moved them
//    after the date taken back. A burn slice dated later took points the lot held then (+), a
//    burn reversal's slice dated later gave some back (-), on lots no earn reversal has
//    marked; a lot an earn reversal dated later marked holds nothing now, and held at the
//    date's end what its issue, its debt repaid and its slices up to the date leave. A lot
//    marked by a reversal on or before the date held nothing at its end. The later rows are
//    read by settlement date: none on the day the date ends, when it is closed.
// `issued` says whether the issuer has a line of issuance at all.
constexpr const char* kLotLines =
    "WITH lot AS ("
    "  SELECT issuer_id, points_issued, fee_micros, points_remaining, "
    "    settlement_date = $1::date AND reissued_from_lot_id IS NULL AS issued, "
    "    expires_on >= $1::date AND is_open AND settlement_date <= $1::date AS open "
    "  FROM lots "
    "  WHERE ((settlement_date = $1::date AND reissued_from_lot_id IS NULL) "
    "         OR (expires_on >= $1::date AND is_open AND settlement_date <= $1::date)) "
    "    AND ($2::text IS NULL OR issuer_id = $2)), "
    "lines AS ("
    "  SELECT issuer_id, "
    "    coalesce(sum(points_issued) FILTER (WHERE issued), 0) AS issued_points, "
    "    coalesce(sum(fee_micros) FILTER (WHERE issued), 0) AS fees, bool_or(issued) AS issued, "
    "    coalesce(sum(points_remaining) FILTER (WHERE open), 0) AS open_points "
    "  FROM lot GROUP BY issuer_id), "
    "moved AS ("
    "  SELECT issuer_id, sum(points) AS points FROM ("
    "    SELECT l.issuer_id, CASE s.kind WHEN 'burn' THEN s.points ELSE -s.points END AS points "
    "    FROM slices s JOIN lots l ON l.id = s.lot_id "
    "    WHERE s.settlement_date > $1::date AND l.settlement_date <= $1::date "
    "      AND l.expires_on >= $1::date AND l.reversed_by_claim_id IS NULL "
    "      AND ($2::text IS NULL OR l.issuer_id = $2) "
    "    UNION ALL "
    "    SELECT l.issuer_id, l.points_issued - l.debt_repaid "
    "      - coalesce((SELECT sum(CASE s.kind WHEN 'burn' THEN s.points ELSE -s.points END) "
    "                  FROM slices s WHERE s.lot_id = l.id AND s.settlement_date <= $1::date), 0) "
    "    FROM claims r JOIN lots l ON l.reversed_by_claim_id = r.id "
    "    WHERE r.settlement_date > $1::date AND r.type = 'reversal' "
    "      AND l.settlement_date <= $1::date AND l.expires_on >= $1::date "
    "      AND ($2::text IS NULL OR l.issuer_id = $2)) later "
    "  GROUP BY issuer_id) "
    "SELECT issuer_id, coalesce(issued_points, 0)::bigint, coalesce(fees, 0)::bigint, "
    "  coalesce(issued, false), (coalesce(open_points, 0) + coalesce(moved.points, 0))::bigint "
    "FROM lines FULL JOIN moved USING (issuer_id)";

constexpr const char* kClaimsOfDate =
    "SELECT count(*) FROM claims WHERE settlement_date = $1::date";

constexpr const char* kPartnerExists = "SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1)";

constexpr const char* kClosedDates =
    "SELECT settlement_date::text FROM settlement_runs ORDER BY settlement_date";

// The program version a closed run was computed with, and that version's own currency and
// point value: the run's copies of them are checked against these. And whether its outstanding
// points are those at the date's end (migration 0014), which can be computed again.
constexpr const char* kStoredProgramOfRun =
    "SELECT r.settings_version, p.currency, p.point_value, r.outstanding_at_date_end "
    "FROM settlement_runs r "
    "JOIN program_settings p ON p.version = r.settings_version "
    "WHERE r.settlement_date = $1::date";

// Both inserts answer whether the row they stored (after any trigger) is exactly the document
// they were given: what is stored must be what was computed. The run is stored as the very
// text it hashes (json, migration 0003), compared byte for byte; the statement rows as jsonb,
// compared as such. Checking in the same statement avoids sending the ~60 MB run again or
// reading it back and parsing it in C++ (2 s at full size). Every later read still parses the
// stored run and checks its hash and invariants.
constexpr const char* kInsertRun =
    "INSERT INTO settlement_runs (settlement_date, settings_version, currency, run, run_sha256, "
    "  outstanding_at_date_end) "
    "VALUES ($1::date, $2, $3, $4::json, decode($5, 'hex'), true) "
    "RETURNING run::text = $4::text AND run_sha256 = decode($5, 'hex') AND currency = $3";

// Every participant's row in one statement; $2 is a JSON array of
// {"partner_id", "net_minor", "statement"} (the informational lines, see stored_form).
constexpr const char* kInsertStatements =
    "WITH line AS ("
    "  SELECT * FROM jsonb_to_recordset($2::jsonb) "
    "    AS line(partner_id text, net_minor bigint, statement jsonb)), "
    "stored AS ("
    "  INSERT INTO settlement_statements (settlement_date, partner_id, net_minor, statement) "
    "  SELECT $1::date, partner_id, net_minor, statement FROM line "
    "  RETURNING partner_id, net_minor, statement) "
    "SELECT (SELECT count(*) FROM stored) = (SELECT count(*) FROM line) "
    "   AND NOT EXISTS (SELECT 1 FROM line LEFT JOIN stored USING (partner_id) "
    "                   WHERE stored.partner_id IS NULL OR stored.net_minor <> line.net_minor "
    "                      OR stored.statement <> line.statement)";

// generate_series over timestamps (date arguments would go through timestamptz and the
// session time zone); a NULL start (no claims yet) yields no rows.
constexpr const char* kDatesToClose =
    "WITH bounds AS ("
    "  SELECT least((SELECT min(settlement_date) FROM claims),"
    "               (SELECT min(settlement_date) FROM lot_expiries)) AS first_date,"
    "         ($1::timestamptz AT TIME ZONE (SELECT timezone FROM program_settings "
    "            ORDER BY version DESC LIMIT 1))::date - 1 AS last_date) "
    "SELECT day::date::text FROM bounds, "
    "  generate_series(first_date::timestamp, last_date::timestamp, interval '1 day') AS day "
    "WHERE NOT EXISTS (SELECT 1 FROM settlement_runs r WHERE r.settlement_date = day::date) "
    "ORDER BY day";

// ---- Helpers --------------------------------------------------------------------------------

struct ProgramInForce {
    std::int64_t version = 0;
    std::string currency;
    Micros point_value{0};
};

ProgramInForce program_of_date(pqxx::transaction_base& tx, Date date, std::int64_t now_us) {
    const auto row = tx.exec_params1(kProgramOfDate, date_literal(date), timestamp_literal(now_us));
    return ProgramInForce{row[0].as<std::int64_t>(), row[1].as<std::string>(),
                          Micros(row[2].as<std::int64_t>())};
}

std::vector<settlement::PartnerPoints> partner_points(const pqxx::result& rows) {
    std::vector<settlement::PartnerPoints> out;
    out.reserve(rows.size());
    for (const auto& row : rows) {
        out.push_back({row[0].as<std::string>(), Points(row[1].as<std::int64_t>())});
    }
    return out;
}

// The input of `date` as booked now. `with_pending_expiries`: add the own expiry rows a close
// would write (provisional read); a close has written them already. `only_partner`: nullptr for
// the run, or a partner id for the lines that name that partner (no claim count then).
settlement::SettlementInput gather_input(pqxx::transaction_base& tx, Date date,
                                         const ProgramInForce& program,
                                         settlement::RunStatus status, bool with_pending_expiries,
                                         const char* only_partner = nullptr) {
    const std::string day = date_literal(date);
    settlement::SettlementInput input;
    input.date = day;
    input.status = status;
    input.currency = program.currency;
    input.point_value = program.point_value;

    for (const auto& row : tx.exec_params(kSliceLines, day, only_partner)) {
        const auto kind = settlement::parse_slice_kind(row[2].as<std::string>());
        if (!kind) throw SettlementIntegrityError("unknown slice kind " + row[2].as<std::string>());
        input.slices.push_back({row[0].as<std::string>(), row[1].as<std::string>(), *kind,
                                Points(row[3].as<std::int64_t>()),
                                Micros(row[4].as<std::int64_t>())});
    }
    for (const auto& row : tx.exec_params(kLotLines, day, only_partner)) {
        const auto issuer_id = row[0].as<std::string>();
        if (row[3].as<bool>()) {
            input.points_issued.push_back({issuer_id, Points(row[1].as<std::int64_t>())});
            input.fees.push_back({issuer_id, Micros(row[2].as<std::int64_t>())});
        }
        // An issuer has a line of outstanding points when its lots held any at the date's
        // end; netting refuses a negative figure (rows that contradict each other).
        const Points outstanding(row[4].as<std::int64_t>());
        if (outstanding != Points(0)) input.points_outstanding.push_back({issuer_id, outstanding});
    }
    input.points_expired = partner_points(tx.exec_params(kBreakage, day, only_partner));
    if (with_pending_expiries) {
        // netting adds up several lines of one partner, so the pending rows simply append.
        for (auto& line : partner_points(tx.exec_params(kPendingBreakage, day, only_partner))) {
            input.points_expired.push_back(std::move(line));
        }
    }
    if (only_partner == nullptr) {
        input.claims = tx.exec_params1(kClaimsOfDate, day)[0].as<std::int64_t>();
    }
    return input;
}

// A stored settlement_statements document: the informational lines (what close_settlement
// stores), or, for a date closed before statements were derived from their run, the whole
// statement it stored then, which must still equal the one derived now.
struct StoredLines {
    settlement::PartnerInformation information;
    std::optional<settlement::PartnerStatement> whole_statement;
};

StoredLines stored_lines_from_json_text(const std::string& text) {
    const auto document = nlohmann::json::parse(text);
    if (document.is_object() && document.contains("obligations")) {
        auto statement = settlement::statement_from_json(document);
        settlement::PartnerInformation information{
            statement.partner_id, statement.own_redemptions, statement.points_issued,
            statement.points_expired, statement.points_outstanding};
        return StoredLines{std::move(information), std::move(statement)};
    }
    return StoredLines{settlement::information_from_json(document), std::nullopt};
}

// The stored run of `date`, checked after the read; nullopt when the date is not closed.
std::optional<SettlementRead> read_closed(pqxx::transaction_base& tx, Date date) {
    const std::string day = date_literal(date);
    const auto rows = tx.exec_params(kStoredRun, day);
    if (rows.empty()) return std::nullopt;
    const std::string_view text(rows[0][0].c_str(), rows[0][0].size());
    SettlementRead read;
    try {
        read.run = settlement::run_from_json_text(text);
    } catch (const settlement::RunFormatError& e) {
        throw SettlementIntegrityError("stored run of " + day + " does not parse: " + e.what());
    }
    // Runs closed since migration 0003 are stored as the hashed text itself; earlier ones as
    // jsonb's rendering, which is re-serialised canonically before comparing.
    const auto stored_hash = rows[0][1].as<std::string>();
    if (crypto::sha256_hex(text) != stored_hash &&
        crypto::sha256_hex(settlement::run_to_json_text(read.run)) != stored_hash) {
        throw SettlementIntegrityError("stored run of " + day + " does not match its run_sha256");
    }
    if (read.run.date != day || read.run.status != settlement::RunStatus::closed) {
        throw SettlementIntegrityError("stored run of " + day + " names another date or status");
    }

    std::vector<settlement::PartnerStatement> whole_statements;
    for (const auto& row : tx.exec_params(kStoredStatements, day)) {
        const auto partner_id = row[0].as<std::string>();
        StoredLines lines;
        try {
            lines = stored_lines_from_json_text(row[2].as<std::string>());
        } catch (const std::exception& e) {  // not JSON, or not lines nor a statement
            throw SettlementIntegrityError("stored statement of " + partner_id + " on " + day +
                                           " does not parse: " + e.what());
        }
        const std::size_t index = read.run.information.size();
        if (lines.information.partner_id != partner_id || index >= read.run.participants.size() ||
            read.run.participants[index].partner_id != partner_id ||
            read.run.participants[index].net.value() != row[1].as<std::int64_t>()) {
            throw SettlementIntegrityError("stored statement of " + partner_id + " on " + day +
                                           " disagrees with the run");
        }
        read.run.information.push_back(std::move(lines.information));
        if (lines.whole_statement) whole_statements.push_back(std::move(*lines.whole_statement));
    }
    // Each participant has exactly one row (the invariants check the lines' order and sums).
    if (read.run.information.size() != read.run.participants.size()) {
        throw SettlementIntegrityError("stored statements of " + day +
                                       " do not match the run's participants");
    }
    if (const auto broken = settlement::check_run_invariants(read.run)) {
        throw SettlementIntegrityError("stored run of " + day + " breaks an invariant: " + *broken);
    }
    if (!whole_statements.empty()) {
        const auto derived = read.statements();
        for (const auto& stored : whole_statements) {
            if (derived.at(stored.partner_id) != stored) {
                throw SettlementIntegrityError("stored statement of " + stored.partner_id + " on " +
                                               day + " disagrees with the run");
            }
        }
    }
    return read;
}

SettlementRead compute_read(pqxx::transaction_base& tx, Date date, std::int64_t now_us,
                            settlement::RunStatus status, bool with_pending_expiries) {
    const auto program = program_of_date(tx, date, now_us);
    SettlementRead read;
    read.run = settlement::compute_settlement_run(
        gather_input(tx, date, program, status, with_pending_expiries));
    return read;
}

// The documents a close stores: the run's canonical text and its hash, and the statement rows
// (each participant's informational lines with its net) as one JSON array.
struct StoredForm {
    std::string run_text;
    std::string run_sha256_hex;
    std::string lines;
};

StoredForm stored_form(const settlement::SettlementRun& run) {
    StoredForm form;
    form.run_text = settlement::run_to_json_text(run);
    form.run_sha256_hex = crypto::sha256_hex(form.run_text);
    JsonText lines;
    lines.begin_array();
    for (std::size_t i = 0; i < run.information.size(); ++i) {
        lines.begin_object()
            .field("partner_id", run.participants[i].partner_id)
            .field("net_minor", run.participants[i].net.value())
            .key("statement");
        settlement::write_information(lines, run.information[i]);
        lines.end_object();
    }
    lines.end_array();
    form.lines = lines.take();
    return form;
}

// Stores the run and its statement rows; false when what was stored is not exactly `form`.
// Never a concurrency failure of a close: the advisory lock serialises closes of one date.
// Both inserts in the top-level transaction, never under a savepoint: migration 0013 takes a run
// written by this transaction (its xmin) as the close in progress, any other as a closed date.
bool store_run(pqxx::transaction_base& tx, Date date, std::int64_t settings_version,
               const std::string& currency, const StoredForm& form) {
    const std::string day = date_literal(date);
    const auto run = tx.exec_params1(kInsertRun, day, settings_version, currency, form.run_text,
                                     form.run_sha256_hex);
    const auto lines = tx.exec_params1(kInsertStatements, day, form.lines);
    return run[0].as<bool>() && lines[0].as<bool>();
}

}  // namespace

bool date_has_ended(pqxx::transaction_base& tx, Date date, std::int64_t now_us) {
    return tx.exec_params1(kDateHasEnded, timestamp_literal(now_us), date_literal(date))[0]
        .as<bool>();
}

void lock_settlement_date_shared(pqxx::transaction_base& tx, Date date) {
    tx.exec_params(kLockDateShared, date_literal(date));
}

bool settlement_date_is_closed(pqxx::transaction_base& tx, Date date) {
    return tx.exec_params1(kDateIsClosed, date_literal(date))[0].as<bool>();
}

SettlementRead read_settlement(pqxx::connection& connection, Date date, std::int64_t now_us) {
    SnapshotTransaction tx(connection);
    if (auto closed = read_closed(tx, date)) return std::move(*closed);
    return compute_read(tx, date, now_us, settlement::RunStatus::provisional, true);
}

std::optional<settlement::PartnerStatement> read_statement(pqxx::connection& connection, Date date,
                                                           const std::string& partner_id,
                                                           std::int64_t now_us) {
    SnapshotTransaction tx(connection);
    // A partner with no line on the date has a statement of zeros; an id no partner has, none.
    const auto statement_in = [&](const settlement::SettlementRun& run) {
        auto statement = settlement::build_statement(run, partner_id);
        if (!statement && tx.exec_params1(kPartnerExists, partner_id)[0].as<bool>()) {
            statement = settlement::statement_of_no_part(run, partner_id);
        }
        return statement;
    };
    if (auto closed = read_closed(tx, date)) return statement_in(closed->run);
    // Every figure of a partner's statement comes from the lines that name it: its gross
    // figures and net, its obligation cells, its informational lines, its instruction, each
    // rounded on its own. Netting those lines alone gives the statement the whole run gives.
    const auto program = program_of_date(tx, date, now_us);
    return statement_in(settlement::compute_settlement_run(gather_input(
        tx, date, program, settlement::RunStatus::provisional, true, partner_id.c_str())));
}

namespace {

CloseResult not_ended(Date date) {
    SettlementRead empty;
    empty.run.date = date_literal(date);
    return CloseResult{CloseOutcome::date_not_ended, std::move(empty)};
}

}  // namespace

CloseResult close_settlement(pqxx::connection& connection, Date date, std::int64_t now_us) {
    // `now_us` is the caller's clock when it called. The barrier and the locks below can take
    // seconds, and program_in_force_at maps the clock it is given onto the database's as if it
    // were read as the statement left: every use after them takes that clock as it is by then.
    const auto called = std::chrono::steady_clock::now();
    const auto clock_now = [&] {
        return now_us + std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - called)
                            .count();
    };
    {
        pqxx::work check(connection);
        check.exec(kCloseLockWait);
        check.exec_params(kLockCloseOfDate, date_literal(date));
        // A closed date first: closing it again returns its run, whatever the clock says now (a
        // time zone change can make a closed date's end lie ahead again).
        if (auto closed = read_closed(check, date)) {
            return CloseResult{CloseOutcome::already_closed, std::move(*closed)};
        }
        if (!date_has_ended(check, date, now_us)) return not_ended(date);
        check.exec(kBoundLockWait);
        try {
            pqxx::subtransaction barrier(check, "writers_barrier");
            barrier.exec(kWritersBarrier);
            barrier.commit();
        } catch (const pqxx::sql_error& e) {
            if (e.sqlstate() != "55P03") throw;  // lock_not_available: go on without it
        }
        check.commit();
    }

    pqxx::work tx(connection);
    tx.exec(kCloseLockWait);
    tx.exec_params(kLockCloseOfDate, date_literal(date));
    // The program's lock before the date's, in the order bookings take them.
    tx.exec(kLockProgramShared);
    tx.exec_params(kLockDateExclusive, date_literal(date));
    // Read committed: after the locks, this sees a run another closer committed meanwhile...
    if (auto closed = read_closed(tx, date)) {
        return CloseResult{CloseOutcome::already_closed, std::move(*closed)};
    }
    // ...and a time zone change committed since the check above: moved west, the date may not
    // have ended any more, and closing it would date the claims accepted now on a closed date.
    if (!date_has_ended(tx, date, clock_now())) return not_ended(date);
    tx.exec_params(kInsertDueExpiries, date_literal(date));
    const auto program = program_of_date(tx, date, clock_now());
    SettlementRead read;
    read.run = settlement::compute_settlement_run(
        gather_input(tx, date, program, settlement::RunStatus::closed, false));
    // compute_settlement_run asserted the invariants before it is stored (the lines' sums
    // included)...
    const auto form = stored_form(read.run);
    // ...and what is stored must be exactly what was computed.
    if (!store_run(tx, date, program.version, read.run.currency, form)) {
        throw SettlementIntegrityError("the run of " + date_literal(date) +
                                       " was not stored as computed");
    }
    tx.commit();
    return CloseResult{CloseOutcome::closed_now, std::move(read)};
}

std::vector<Date> closed_dates(pqxx::transaction_base& tx) {
    std::vector<Date> out;
    for (const auto& row : tx.exec(kClosedDates))
        out.push_back(parse_date(row[0].as<std::string>()));
    return out;
}

std::optional<std::string> verify_closed_settlement(pqxx::transaction_base& tx, Date date) {
    std::optional<SettlementRead> stored;
    try {
        stored = read_closed(tx, date);
    } catch (const SettlementIntegrityError& e) {
        return std::string(e.what());
    }
    if (!stored) return std::nullopt;
    const auto row = tx.exec_params1(kStoredProgramOfRun, date_literal(date));
    const ProgramInForce program{row[0].as<std::int64_t>(), row[1].as<std::string>(),
                                 Micros(row[2].as<std::int64_t>())};
    // The currency sets the rounding of every amount; both are shown on every statement.
    if (stored->run.currency != program.currency ||
        stored->run.point_value != program.point_value) {
        return "the stored run of " + date_literal(date) + " names currency " +
               stored->run.currency + " and point_value " +
               std::to_string(stored->run.point_value.value()) + ", its program version " +
               std::to_string(program.version) + " " + program.currency + " and " +
               std::to_string(program.point_value.value());
    }
    auto input = gather_input(tx, date, program, settlement::RunStatus::closed, false);
    if (!row[3].as<bool>()) {
        // Closed before migration 0014: its outstanding points were the lots' when it closed,
        // which nothing can compute again. They are taken from the run.
        input.points_outstanding.clear();
        for (const auto& information : stored->run.information) {
            input.points_outstanding.push_back(
                {information.partner_id, information.points_outstanding});
            // A participant with no other line keeps its place, as when it was closed.
            input.partner_ids.push_back(information.partner_id);
        }
    }
    settlement::SettlementRun recomputed;
    try {
        recomputed = settlement::compute_settlement_run(input);
    } catch (const std::exception& e) {
        return "the ledger rows of " + date_literal(date) + " no longer net: " + e.what();
    }
    // The informational lines too: every statement is derived from the two.
    if (recomputed != stored->run) {
        return "the stored run of " + date_literal(date) +
               " differs from the run its ledger rows give now";
    }
    return std::nullopt;
}

std::vector<Date> dates_to_close(pqxx::connection& connection, std::int64_t now_us) {
    pqxx::read_transaction tx(connection);
    std::vector<Date> out;
    for (const auto& row : tx.exec_params(kDatesToClose, timestamp_literal(now_us))) {
        out.push_back(parse_date(row[0].as<std::string>()));
    }
    return out;
}

}  // namespace coalition::storage
