#include "storage/claim_booking.hpp"
#include "storage/booking_steps.hpp"

#include "core/json_text.hpp"
#include "ledger/burn.hpp"
#include "ledger/earn.hpp"
#include "ledger/expiry.hpp"
#include "ledger/lot.hpp"
#include "ledger/reversal.hpp"
#include "storage/ledger_rows.hpp"
#include "storage/settlement_store.hpp"
#include "storage/sql_time.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace coalition::storage {
namespace {

// ---- Every statement of the booking path, named -------------------------------------------

// An accepted claim's answer first, else a refused one's (migration 0012).
constexpr const char* kFindPriorClaim =
    "SELECT request_sha256, response_status, response_body FROM ("
    "  SELECT 0 AS rank, request_sha256, response_status, response_body FROM claims "
    "  WHERE partner_id = $1 AND webhook_id = $2 "
    "  UNION ALL "
    "  SELECT 1, request_sha256, response_status, response_body FROM refused_claims "
    "  WHERE partner_id = $1 AND webhook_id = $2) AS prior "
    "ORDER BY rank LIMIT 1";

// Rows in key order, so that two transactions storing common keys wait in one order.
constexpr const char* kInsertRefusals =
    "WITH stored AS ("
    "  INSERT INTO refused_claims "
    "    (partner_id, webhook_id, request_sha256, response_status, response_body, refused_at) "
    "  SELECT r.partner_id, r.webhook_id, decode(r.request_sha256, 'hex'), r.response_status, "
    "    r.response_body, r.refused_at "
    "  FROM json_to_recordset($1::json) AS r(partner_id text, webhook_id text, "
    "    request_sha256 text, response_status smallint, response_body text, "
    "    refused_at timestamptz) "
    "  ORDER BY r.partner_id COLLATE \"C\", r.webhook_id COLLATE \"C\" "
    "  RETURNING 1) "
    "SELECT count(*) FROM stored";

// The program in force when the claim was accepted, and the claim's settlement date in that
// program's time zone (migration 0008: a change applies to claims accepted after it only).
constexpr const char* kProgramAt =
    "SELECT version, point_value, issue_fee, validity_months, "
    "       ($1::timestamptz AT TIME ZONE timezone)::date, currency, "
    "       (SELECT currency FROM program_in_force_at('infinity', $2::timestamptz)) "
    "FROM program_in_force_at($1::timestamptz, $2::timestamptz)";

constexpr const char* kEnrolMember =
    "INSERT INTO members (id, enrolled_by) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING";

constexpr const char* kLockMember = "SELECT debt FROM members WHERE id = $1 FOR UPDATE";

constexpr const char* kSetDebt = "UPDATE members SET debt = $2 WHERE id = $1";

constexpr const char* kInsertClaim =
    "INSERT INTO claims (partner_id, webhook_id, request_sha256, type, member_id, points, "
    "  reverses_claim_id, reverses_type, accepted_at, settlement_date, settings_version, "
    "  occurred_at, reference, purchase_amount_minor, response_status, response_body) "
    "VALUES ($1, $2, decode($3, 'hex'), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
    "RETURNING id";

constexpr const char* kInsertLot =
    "INSERT INTO lots (member_id, issuer_id, claim_id, reissued_from_lot_id, points_issued, "
    "  debt_repaid, points_remaining, fee_micros, accepted_at, settlement_date, expires_on, "
    "  restores_lot_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

// The guard on the old value turns a lost update into an error instead of silent corruption.
constexpr const char* kUpdateLotRemaining =
    "UPDATE lots SET points_remaining = $3 WHERE id = $1 AND points_remaining = $2 "
    "AND " LOT_EXPIRY_NOT_BOOKED("lots", "$4::date");

constexpr const char* kReverseLot =
    "UPDATE lots SET points_remaining = 0, reversed_by_claim_id = $3 "
    "WHERE id = $1 AND points_remaining = $2 AND reversed_by_claim_id IS NULL "
    "AND " LOT_EXPIRY_NOT_BOOKED("lots", "$4::date");

constexpr const char* kLockExpiriesForWriting = "LOCK TABLE lot_expiries IN ROW EXCLUSIVE MODE";

// The lots of $1 that LOT_EXPIRY_NOT_BOOKED keeps a claim of date $2 from changing. (Not just
// any expiry row: a reversal of an expired lot writes the lot's own row just before updating it.)
constexpr const char* kLotExpiryBooked =
    "SELECT EXISTS (SELECT 1 FROM lots l WHERE l.id = ANY ($1::bigint[]) "
    "  AND NOT " LOT_EXPIRY_NOT_BOOKED("l", "$2::date") ")";

constexpr const char* kInsertSlice =
    "INSERT INTO slices (claim_id, lot_id, kind, reverses_slice_id, issuer_id, redeemer_id, "
    "  points, point_value, amount_micros, settlement_date) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

constexpr const char* kFindReversalTarget =
    "SELECT id, type, member_id, points FROM claims WHERE partner_id = $1 AND webhook_id = $2";

constexpr const char* kIsReversed = "SELECT 1 FROM claims WHERE reverses_claim_id = $1";

constexpr const char* kLotOfEarn =
    "SELECT " LOT_COLUMNS " FROM lots WHERE claim_id = $1 AND reissued_from_lot_id IS NULL";

// The lots that gave back a repaying earn's repayments of debt (ledger::plan_earn_reversal).
constexpr const char* kLotsRestoring =
    "SELECT " LOT_COLUMNS " FROM lots WHERE restores_lot_id = $1 ORDER BY id";

constexpr const char* kSlicesOfBurn =
    "SELECT " BURN_SLICE_COLUMNS " FROM slices WHERE claim_id = $1 AND kind = 'burn' ORDER BY id";

// LOT_COLUMNS, then the earn reversal of a reversed lot (ledger::DebtRepayments::reversed_by).
constexpr const char* kLotsByIds =
    "SELECT " LOT_COLUMNS ", reversed_by_claim_id FROM lots WHERE id = ANY($1::bigint[])";

// The member's earns that repaid debt and stand, with what they can still give back: their
// debt_repaid less the reissues that gave some back already (ledger::Repayment).
constexpr const char* kDebtRepaymentsOfMember =
    "SELECT l.id, l.claim_id, l.issuer_id, l.expires_on::text, l.debt_repaid "
    "  - coalesce((SELECT sum(r.points_issued) FROM lots r WHERE r.restores_lot_id = l.id), 0) "
    "FROM lots l WHERE l.member_id = $1 AND l.debt_repaid > 0 "
    "  AND l.reversed_by_claim_id IS NULL AND l.reissued_from_lot_id IS NULL";

// The expiry row of a lot is written once; a close of its date may have written it already.
// Points that earlier reversals returned to the expired lot are breakage of their own dates
// already (rows with a claim_id), so the lot's own expiry is what remains without them — the
// same rule the close applies.
constexpr const char* kInsertExpirySnapshot =
    "INSERT INTO lot_expiries (lot_id, claim_id, issuer_id, points, settlement_date) "
    "SELECT $1, NULL, $2, own.points, $4 FROM ("
    "  SELECT $3::bigint - COALESCE((SELECT sum(points) FROM lot_expiries "
    "                                WHERE lot_id = $1 AND claim_id IS NOT NULL), 0) AS points"
    ") own "
    "WHERE own.points > 0 "
    "  AND NOT EXISTS (SELECT 1 FROM lot_expiries WHERE lot_id = $1 AND claim_id IS NULL)";

constexpr const char* kInsertReturnedBreakage =
    "INSERT INTO lot_expiries (lot_id, claim_id, issuer_id, points, settlement_date) "
    "VALUES ($1, $2, $3, $4, $5)";

// ---- Helpers --------------------------------------------------------------------------------

// The claim's date was closed while it waited to be booked.
class DateClosedWhileWaiting : public booking_steps::DateOverWhileWaiting {
  public:
    using DateOverWhileWaiting::DateOverWhileWaiting;
};

// A guarded lot update by a claim of `date` changed no row: why.
[[noreturn]] void lot_update_failed(pqxx::work& tx, std::int64_t lot_id, Date date) {
    if (booking_steps::lot_expiry_booked(tx, {lot_id}, date)) {
        throw booking_steps::LotExpiredWhileWaiting(
            "lot " + std::to_string(lot_id) +
            " expired, and its expiry was booked, while the claim "
            "waited to be booked");
    }
    throw std::logic_error("lot " + std::to_string(lot_id) + " changed under the member lock");
}

}  // namespace

namespace booking_steps {

void lock_expiries_before_claims(pqxx::work& tx) { tx.exec(kLockExpiriesForWriting); }

bool lot_expiry_booked(pqxx::work& tx, const std::vector<std::int64_t>& lot_ids, Date date) {
    return tx.exec_params1(kLotExpiryBooked, int_array_literal(lot_ids), date_literal(date))[0]
        .as<bool>();
}

Program program_at(pqxx::work& tx, const std::string& accepted_at) {
    // The host's clock as the statement leaves: migration 0010 maps accepted_at onto the clock
    // of the database, which stamps program changes.
    const auto row = tx.exec_params1(kProgramAt, accepted_at, timestamp_literal(now_unix_micros()));
    return Program{row[0].as<std::int64_t>(),
                   Micros(row[1].as<std::int64_t>()),
                   Micros(row[2].as<std::int64_t>()),
                   row[3].as<int>(),
                   parse_date(row[4].as<std::string>()),
                   row[5].as<std::string>(),
                   row[6].as<std::string>()};
}

std::optional<BookingResult> purchase_in_other_currency(const BookingInput& input,
                                                        const Program& program) {
    const auto& purchase = input.request.purchase;
    if (!purchase || purchase->currency == program.currency) return std::nullopt;
    const ApiError error = partners::purchase_currency_error(program.currency);
    return refusal(error.code, error.message, error.field);
}

BookingResult refusal(ErrorCode code, std::string message, std::string field) {
    BookingResult result;
    result.status = http_status(code);
    result.error = ApiError{code, std::move(message), std::move(field)};
    result.body = error_body_json(*result.error);
    return result;
}

bool is_ledger_refusal(const BookingResult& result) {
    // A replay carries no error: only a decision made now does.
    return result.error && coalition::is_ledger_refusal(result.error->code);
}

void store_refusals(pqxx::work& tx, const std::vector<Refused>& refused) {
    if (refused.empty()) return;
    JsonText rows;
    rows.begin_array();
    for (const auto& [input, result] : refused) {
        rows.begin_object()
            .field("partner_id", input->partner_id)
            .field("webhook_id", input->webhook_id)
            .field("request_sha256", crypto::hex(input->request_sha256))
            .field("response_status", result->status)
            .field("response_body", result->body)
            .field("refused_at", timestamp_literal(input->accepted_at_us))
            .end_object();
    }
    const auto stored = tx.exec_params1(kInsertRefusals, rows.end_array().take());
    if (stored[0].as<std::size_t>() != refused.size()) {
        throw std::logic_error("refused claims were not all stored");
    }
}

// Written as JsonText, every booked claim's answer, with the keys in the order nlohmann's dump()
// of a json object gave them (alphabetical), so that bodies stay byte for byte what they were.
std::string accepted_body(const BookingInput& input, std::string_view type,
                          const std::string& member_id, Points points, Points balance, Date date) {
    JsonText body;
    body.begin_object()
        .field("balance", balance.value())
        .field("claim_id", input.webhook_id)
        .field("member_id", member_id)
        .field("points", points.value())
        .field("settlement_date", date_literal(date))
        .field("status", "accepted")
        .field("type", type)
        .end_object();
    return body.take();
}

BookingResult replay_or_conflict(const BookingInput& input, const crypto::Bytes& stored_sha256,
                                 int stored_status, std::string stored_body) {
    if (!crypto::constant_time_equal(stored_sha256, input.request_sha256)) {
        return refusal(ErrorCode::idempotency_conflict,
                       "this webhook-id was used before with a different body", "webhook-id");
    }
    BookingResult replay;
    replay.status = stored_status;
    replay.body = std::move(stored_body);
    replay.replayed = true;
    return replay;
}

}  // namespace booking_steps

namespace {

using namespace booking_steps;

// Everything a claim row needs beyond what the booking decided.
struct ClaimRow {
    std::string_view type;
    std::string member_id;
    Points points{0};
    std::optional<std::int64_t> reverses_claim_id;
    std::optional<std::string> reverses_type;
    std::string response_body;
};

std::int64_t insert_claim(pqxx::work& tx, const BookingInput& input, const Program& program,
                          const std::string& accepted_at, const ClaimRow& row) {
    const auto& request = input.request;
    std::optional<std::int64_t> purchase_amount;
    if (request.purchase) purchase_amount = request.purchase->amount_minor;
    return tx
        .exec_params1(kInsertClaim, input.partner_id, input.webhook_id,
                      crypto::hex(input.request_sha256), std::string(row.type), row.member_id,
                      row.points.value(), row.reverses_claim_id, row.reverses_type, accepted_at,
                      date_literal(program.settlement_date), program.version, request.occurred_at,
                      request.reference, purchase_amount, 201, row.response_body)[0]
        .as<std::int64_t>();
}

void update_lots(pqxx::work& tx, const std::vector<ledger::LotUpdate>& updates, Date today) {
    for (const auto& update : updates) {
        const auto result =
            tx.exec_params(kUpdateLotRemaining, update.lot_id, update.remaining_before.value(),
                           update.remaining_after.value(), date_literal(today));
        if (result.affected_rows() != 1) lot_update_failed(tx, update.lot_id, today);
    }
}

void insert_slices(pqxx::work& tx, std::int64_t claim_id, const std::vector<ledger::Slice>& slices,
                   Date date) {
    for (const auto& slice : slices) {
        std::optional<std::int64_t> reverses;
        if (slice.kind == ledger::SliceKind::burn_reversal) reverses = slice.reverses_slice_id;
        tx.exec_params(kInsertSlice, claim_id, slice.lot_id,
                       slice.kind == ledger::SliceKind::burn ? "burn" : "burn_reversal", reverses,
                       slice.issuer, slice.redeemer, slice.points.value(), slice.point_value.value(),
                       slice.amount.value(), date_literal(date));
    }
}

void insert_expiry_snapshot(pqxx::work& tx, const ledger::LotExpiry& expiry) {
    tx.exec_params(kInsertExpirySnapshot, expiry.lot_id, expiry.issuer, expiry.points.value(),
                   date_literal(expiry.settlement_date));
}

std::optional<Points> lock_member(pqxx::work& tx, const std::string& member_id) {
    const auto rows = tx.exec_params(kLockMember, member_id);
    if (rows.empty()) return std::nullopt;
    return Points(rows[0][0].as<std::int64_t>());
}

// ---- The three kinds of claim ---------------------------------------------------------------

BookingResult book_earn(pqxx::work& tx, const BookingInput& input, const Program& program,
                        const std::string& accepted_at) {
    const auto& request = input.request;
    tx.exec_params(kEnrolMember, request.member_id, input.partner_id);
    const Points debt = *lock_member(tx, request.member_id);
    const auto lots = load_open_lots(tx, request.member_id, program.settlement_date);
    const auto earn = ledger::apply_earn(debt, request.points);
    const Points balance =
        ledger::balance(lots, debt, program.settlement_date) + request.points;

    ClaimRow row{"earn", request.member_id, request.points, {}, {}, {}};
    row.response_body = accepted_body(input, "earn", request.member_id, request.points, balance,
                                      program.settlement_date);
    const auto claim_id = insert_claim(tx, input, program, accepted_at, row);
    const auto expires = ledger::expires_on(program.settlement_date, program.validity_months);
    const std::optional<std::int64_t> no_source;
    tx.exec_params(kInsertLot, request.member_id, input.partner_id, claim_id, no_source,
                   earn.issued.value(), earn.debt_repaid.value(), earn.lot_remaining.value(),
                   value_of(request.points, program.issue_fee).value(), accepted_at,
                   date_literal(program.settlement_date), date_literal(expires), no_source);
    if (earn.new_debt != debt) tx.exec_params(kSetDebt, request.member_id, earn.new_debt.value());

    BookingResult result;
    result.status = 201;
    result.body = row.response_body;
    return result;
}

BookingResult book_burn(pqxx::work& tx, const BookingInput& input, const Program& program,
                        const std::string& accepted_at) {
    const auto& request = input.request;
    const auto debt = lock_member(tx, request.member_id);
    if (!debt) return refusal(ErrorCode::unknown_member, "no member with this id", "member_id");
    const auto lots = load_open_lots(tx, request.member_id, program.settlement_date);
    auto plan = ledger::plan_burn(lots, *debt, request.points, input.partner_id,
                                  program.point_value, program.settlement_date);
    if (!plan) {
        return refusal(plan.error(), "the member's balance does not cover this burn", "points");
    }
    const auto& burn = plan.value();
    ClaimRow row{"burn", request.member_id, request.points, {}, {}, {}};
    row.response_body = accepted_body(input, "burn", request.member_id, request.points,
                                      burn.balance_after, program.settlement_date);
    const auto claim_id = insert_claim(tx, input, program, accepted_at, row);
    update_lots(tx, burn.lot_updates, program.settlement_date);
    insert_slices(tx, claim_id, burn.slices, program.settlement_date);

    BookingResult result;
    result.status = 201;
    result.body = row.response_body;
    return result;
}

// The member's repayments of debt that a burn reversal may give back: read only when a lot it
// returns points to was reversed (`repayments.reversed_by` not empty: the rare case).
void add_debt_repayments(pqxx::transaction_base& tx, const std::string& member_id,
                         ledger::DebtRepayments& repayments) {
    if (repayments.reversed_by.empty()) return;
    for (const auto& row : tx.exec_params(kDebtRepaymentsOfMember, member_id)) {
        repayments.lots.push_back(ledger::Repayment{
            row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), row[2].as<std::string>(),
            parse_date(row[3].as<std::string>()), Points(row[4].as<std::int64_t>())});
    }
}

}  // namespace

std::optional<BookingResult> booking_steps::prior_outcome(pqxx::transaction_base& tx,
                                                          const BookingInput& input) {
    const auto rows = tx.exec_params(kFindPriorClaim, input.partner_id, input.webhook_id);
    if (rows.empty()) return std::nullopt;
    const pqxx::binarystring stored(rows[0][0]);
    return replay_or_conflict(input, crypto::Bytes(stored.begin(), stored.end()),
                              rows[0][1].as<int>(), rows[0][2].as<std::string>());
}

BookingResult booking_steps::book_reversal(pqxx::work& tx, const BookingInput& input,
                                           const Program& program, const std::string& accepted_at) {
    const auto targets = tx.exec_params(kFindReversalTarget, input.partner_id, input.request.reverses);
    if (targets.empty()) {
        return refusal(ErrorCode::reversal_target_not_found,
                       "this partner has no claim with that webhook-id", "reverses");
    }
    const auto target_id = targets[0][0].as<std::int64_t>();
    const auto target_type = targets[0][1].as<std::string>();
    const auto member_id = targets[0][2].as<std::string>();
    const Points target_points(targets[0][3].as<std::int64_t>());
    if (target_type == "reversal") {
        return refusal(ErrorCode::reversal_target_not_found, "only earns and burns can be reversed",
                       "reverses");
    }
    // A concurrent reversal of the same claim (another key) waits here and then sees it.
    const Points debt = *lock_member(tx, member_id);
    if (!tx.exec_params(kIsReversed, target_id).empty()) {
        return refusal(ErrorCode::already_reversed, "that claim has been reversed already", "reverses");
    }
    const Date today = program.settlement_date;
    auto open_lots = load_open_lots(tx, member_id, today);

    ClaimRow row{"reversal", member_id, target_points, target_id, target_type, {}};
    BookingResult result;
    result.status = 201;

    if (target_type == "earn") {
        const auto lot = load_lots(tx, kLotOfEarn, target_id);
        if (lot.size() != 1) throw std::logic_error("earn claim without its lot");
        // Only a lot that repaid debt can have given some of it back (the rare case).
        std::vector<ledger::Lot> restoring;
        if (lot[0].debt_repaid > Points(0)) restoring = load_lots(tx, kLotsRestoring, lot[0].id);
        auto plan = ledger::plan_earn_reversal(lot[0], debt, today, restoring);
        if (!plan) return refusal(plan.error(), "that claim has been reversed already", "reverses");
        const auto& reversal = plan.value();
        const Points balance = ledger::balance(open_lots, debt, today) -
                               reversal.removed_from_balance - reversal.debt_added;
        row.response_body = accepted_body(input, "reversal", member_id, target_points, balance, today);
        if (!reversal.expiry_snapshots.empty()) lock_expiries_before_claims(tx);
        const auto claim_id = insert_claim(tx, input, program, accepted_at, row);
        for (const auto& snapshot : reversal.expiry_snapshots) insert_expiry_snapshot(tx, snapshot);
        // The restoring lots are marked reversed by the same claim (migration 0016).
        std::vector<ledger::LotUpdate> emptied = reversal.restoring_updates;
        emptied.insert(emptied.begin(), reversal.lot_update);
        for (const auto& update : emptied) {
            const auto updated =
                tx.exec_params(kReverseLot, update.lot_id, update.remaining_before.value(),
                               claim_id, date_literal(today));
            if (updated.affected_rows() != 1) lot_update_failed(tx, update.lot_id, today);
        }
        if (reversal.new_debt != debt) tx.exec_params(kSetDebt, member_id, reversal.new_debt.value());
        result.body = row.response_body;
        return result;
    }

    // A burn: its slices go back to the very lots they came from.
    ledger::BurnRecord burn;
    std::vector<std::int64_t> lot_ids;
    for (const auto& slice_row : tx.exec_params(kSlicesOfBurn, target_id)) {
        auto slice = burn_slice_from_row(slice_row);
        lot_ids.push_back(slice.lot_id);
        burn.slices.push_back(std::move(slice));
    }
    // The ledger wants every lot that may be open plus every lot the burn touched, once each.
    ledger::DebtRepayments repayments;
    for (const auto& lot_row : tx.exec_params(kLotsByIds, int_array_literal(lot_ids))) {
        auto lot = lot_from_row(lot_row);
        if (!lot_row[8].is_null()) repayments.reversed_by[lot.id] = lot_row[8].as<std::int64_t>();
        const bool known = std::any_of(open_lots.begin(), open_lots.end(),
                                       [&](const ledger::Lot& open) { return open.id == lot.id; });
        if (!known) open_lots.push_back(std::move(lot));
    }
    add_debt_repayments(tx, member_id, repayments);
    auto plan = ledger::plan_burn_reversal(burn, open_lots, debt, today, repayments);
    if (!plan) return refusal(plan.error(), "that claim has been reversed already", "reverses");
    const auto& reversal = plan.value();
    row.response_body = accepted_body(input, "reversal", member_id, target_points,
                                      reversal.balance_after, today);
    if (!reversal.expiry_snapshots.empty() || !reversal.breakage.empty()) {
        lock_expiries_before_claims(tx);
    }
    const auto claim_id = insert_claim(tx, input, program, accepted_at, row);
    // Snapshots first: an expired lot's own expiry must be recorded before its points change.
    for (const auto& snapshot : reversal.expiry_snapshots) insert_expiry_snapshot(tx, snapshot);
    update_lots(tx, reversal.lot_updates, today);
    insert_slices(tx, claim_id, reversal.slices, today);
    for (const auto& breakage : reversal.breakage) {
        tx.exec_params(kInsertReturnedBreakage, breakage.lot_id, claim_id, breakage.issuer,
                       breakage.points.value(), date_literal(today));
    }
    for (const auto& reissue : reversal.reissues) {
        const auto restores = reissue.restores_lot_id == 0
                                  ? std::nullopt
                                  : std::optional<std::int64_t>(reissue.restores_lot_id);
        tx.exec_params(kInsertLot, member_id, reissue.issuer, claim_id, reissue.source_lot_id,
                       reissue.points.value(), 0, reissue.points.value(), 0, accepted_at,
                       date_literal(today), date_literal(reissue.expires_on), restores);
    }
    if (reversal.new_debt != debt) tx.exec_params(kSetDebt, member_id, reversal.new_debt.value());
    result.body = row.response_body;
    return result;
}

namespace {

// The claim id's lock (booking_steps.hpp), held until `tx` ends.
void lock_claim_key(pqxx::transaction_base& tx, const BookingInput& input) {
    JsonText key;
    key.begin_array()
        .begin_object()
        .field("partner_id", input.partner_id)
        .field("webhook_id", input.webhook_id)
        .end_object();
    tx.exec_params(kLockClaimKeysSql, key.end_array().take());
}

BookingResult book_once(pqxx::connection& connection, const BookingInput& input) {
    pqxx::work tx(connection);
    lock_claim_key(tx, input);
    if (auto prior = booking_steps::prior_outcome(tx, input)) return *prior;
    const std::string accepted_at = timestamp_literal(input.accepted_at_us);
    const Program program = program_at(tx, accepted_at);
    if (program.currency != program.current_currency) {
        throw ProgramCurrencyReplaced("the claim was accepted under currency " + program.currency +
                                      ", replaced by " + program.current_currency +
                                      " before it was booked");
    }
    if (auto refused = purchase_in_other_currency(input, program)) {
        tx.abort();  // an invalid claim, as validation would have answered: nothing is kept
        return *refused;
    }
    // Shared with other bookings, exclusive with a close of the same date: a claim either lands
    // before its date's run is computed, or the close has finished and the insert is refused.
    lock_settlement_date_shared(tx, program.settlement_date);
    if (settlement_date_is_closed(tx, program.settlement_date)) {
        throw DateClosedWhileWaiting("settlement date " + date_literal(program.settlement_date) +
                                     " was closed while the claim waited to be booked");
    }
    BookingResult result;
    switch (input.request.type) {
        case partners::ClaimType::earn: result = book_earn(tx, input, program, accepted_at); break;
        case partners::ClaimType::burn: result = book_burn(tx, input, program, accepted_at); break;
        case partners::ClaimType::reversal:
            result = book_reversal(tx, input, program, accepted_at);
            break;
    }
    if (result.replayed || (result.error && !is_ledger_refusal(result))) {
        tx.abort();  // a replay has nothing to store; a 409 stores nothing
        return result;
    }
    // A refusal keeps its answer for the claim's retries, and changes nothing else.
    if (result.error) store_refusals(tx, {Refused{&input, &result}});
    tx.commit();
    return result;
}

BookingResult book_or_look_again(pqxx::connection& connection, const BookingInput& input) {
    try {
        return book_once(connection, input);
    } catch (const pqxx::unique_violation&) {
        // A concurrent request with the same (partner, webhook-id) — or reversing the same claim —
        // committed between our look-up and our insert. Its row is visible now: look again, and
        // the second attempt answers with its replay, a 409, or already_reversed.
        return book_once(connection, input);
    }
}

}  // namespace

BookingResult book_claim(pqxx::connection& connection, const BookingInput& input) {
    try {
        return book_or_look_again(connection, input);
    } catch (const DateOverWhileWaiting&) {
        // Taken before midnight, its date closed before its turn came (it queued behind a busy
        // member, or an operator closed the date at 00:00:01), or a lot it would change expired
        // meanwhile and its expiry is booked: nothing of it is stored, so it is not accepted
        // yet. It is accepted now, on the date now is, rather than refused with an error the
        // till could do nothing about.
        BookingInput now = input;
        now.accepted_at_us = std::max(input.accepted_at_us, now_unix_micros());
        try {
            return book_or_look_again(connection, now);
        } catch (const DateOverWhileWaiting& e) {
            throw SettlementDateClosedAhead(e.what());  // ended by a clock ahead of this one
        }
    }
}

std::optional<BookingResult> stored_outcome(pqxx::connection& connection,
                                            const BookingInput& input) {
    pqxx::read_transaction tx(connection);
    // An attempt being booked holds the id's lock: wait for its answer rather than say that
    // nothing is stored while it commits.
    lock_claim_key(tx, input);
    return booking_steps::prior_outcome(tx, input);
}

}  // namespace coalition::storage
