#include "storage/batch_writes.hpp"

#include "core/json_text.hpp"
#include "storage/booking_steps.hpp"
#include "storage/sql_time.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace coalition::storage::batch {
namespace {

// Everything the batch decided, in one statement (one round trip). Rows name the claims, lots
// and slices of this batch by placeholder (kFirstNewId + their index, $9): the statement first
// draws as many ids from each sequence as the batch creates ($6 claims, $7 lots, $8 slices),
// ascending, and NEW_ID turns each placeholder into its drawn id, leaving stored ids as they
// are (Placeholders, below, checks that every placeholder sent is one the statement draws).
// Then it writes claims sorted by key, so that two batches racing on a key wait in the same
// order; lots the earns and burn reversals created; lots the burns and reversals changed,
// guarded by their old value, when reversed by not being reversed yet (a lost update becomes
// an error, as on the one-claim path), and by their expiry not being booked while they are
// still valid on the batch's date ($10; a batch spans one date); slices; changed debts. Foreign
// keys and the closed-date guards are checked at the end of the statement, when every row of it is
// in place. It returns how many rows each part wrote, which write_decisions compares with what it
// sent.
//
// The lot updates also name their ids as `= ANY (ARRAY(…))`: a plan made while lots was tiny
// otherwise hashed a scan of its whole primary key, on every batch until the next ANALYZE
// (ABatchProbesItsRowsEvenWithPlansMadeOnTinyTables).
//
// DRAW_IDS's count is a subquery, not a bare parameter, so that the planner's row estimate for
// the series is the same with or without the parameter's value: the generic plan then costs
// what a custom one does, and PostgreSQL keeps it instead of planning the statement on every
// call (0.5 ms a batch, measured).
#define DRAW_IDS(sequence, count)                                                             \
    "ARRAY(SELECT id FROM (SELECT nextval('" sequence "') AS id "                            \
    "FROM generate_series(1, (SELECT " count "::int))) AS d ORDER BY id)"
#define NEW_ID(value, kind)                                                                   \
    "(CASE WHEN " value " >= $9::bigint THEN (SELECT " kind " FROM drawn)[" value            \
    " - $9::bigint + 1] ELSE " value " END)"
constexpr const char* kWrite = "batch_write";
constexpr const char* kWriteSql =
    "WITH drawn AS MATERIALIZED ("
    "  SELECT " DRAW_IDS("claims_id_seq", "$6") " AS claims, "
    "    " DRAW_IDS("lots_id_seq", "$7") " AS lots, "
    "    " DRAW_IDS("slices_id_seq", "$8") " AS slices), "
    "new_claims AS ("
    "  INSERT INTO claims (id, partner_id, webhook_id, request_sha256, type, member_id, points, "
    "    reverses_claim_id, reverses_type, accepted_at, settlement_date, settings_version, "
    "    occurred_at, reference, purchase_amount_minor, response_status, response_body) "
    "  OVERRIDING SYSTEM VALUE "
    "  SELECT " NEW_ID("r.id", "claims") ", r.partner_id, r.webhook_id, decode(r.sha256, 'hex'), "
    "    r.type, r.member_id, r.points, " NEW_ID("r.reverses_claim_id", "claims") ", "
    "    r.reverses_type, r.accepted_at, r.settlement_date, "
    "    r.settings_version, r.occurred_at, r.reference, r.purchase_amount_minor, 201, "
    "    r.response_body "
    "  FROM json_to_recordset($1::json) AS r(id bigint, partner_id text, webhook_id text, "
    "    sha256 text, type text, member_id text, points bigint, reverses_claim_id bigint, "
    "    reverses_type text, accepted_at timestamptz, settlement_date date, "
    "    settings_version bigint, occurred_at timestamptz, reference text, "
    "    purchase_amount_minor bigint, response_body text) "
    "  ORDER BY r.partner_id COLLATE \"C\", r.webhook_id COLLATE \"C\" "
    "  RETURNING 1), "
    "new_lots AS ("
    "  INSERT INTO lots (id, member_id, issuer_id, claim_id, points_issued, "
    "    debt_repaid, points_remaining, fee_micros, accepted_at, settlement_date, expires_on, "
    "    reversed_by_claim_id) OVERRIDING SYSTEM VALUE "
    "  SELECT " NEW_ID("r.id", "lots") ", r.member_id, r.issuer_id, "
    "    " NEW_ID("r.claim_id", "claims") ", "
    "    r.points_issued, r.debt_repaid, r.points_remaining, r.fee_micros, r.accepted_at, "
    "    r.settlement_date, r.expires_on, " NEW_ID("r.reversed_by_claim_id", "claims") " "
    "  FROM json_to_recordset($2::json) AS r(id bigint, member_id text, issuer_id text, "
    "    claim_id bigint, points_issued bigint, debt_repaid bigint, "
    "    points_remaining bigint, fee_micros bigint, accepted_at timestamptz, "
    "    settlement_date date, expires_on date, reversed_by_claim_id bigint) "
    "  RETURNING 1), "
    "changed_lots AS ("
    "  UPDATE lots l SET points_remaining = u.remaining_after, "
    "    reversed_by_claim_id = "
    "      COALESCE(" NEW_ID("u.reversed_by", "claims") ", l.reversed_by_claim_id) "
    "  FROM json_to_recordset($3::json) AS u(id bigint, remaining_before bigint, "
    "    remaining_after bigint, reversed_by bigint) "
    "  WHERE l.id = u.id AND l.points_remaining = u.remaining_before "
    "    AND l.id = ANY (ARRAY(SELECT id FROM json_to_recordset($3::json) AS x(id bigint))) "
    "    AND (u.reversed_by IS NULL OR l.reversed_by_claim_id IS NULL) "
    "    AND " LOT_EXPIRY_NOT_BOOKED("l", "$10::date") " "
    "  RETURNING 1), "
    "new_slices AS ("
    "  INSERT INTO slices (id, claim_id, lot_id, kind, reverses_slice_id, issuer_id, redeemer_id, "
    "    points, point_value, amount_micros, settlement_date) OVERRIDING SYSTEM VALUE "
    "  SELECT " NEW_ID("r.id", "slices") ", " NEW_ID("r.claim_id", "claims") ", "
    "    " NEW_ID("r.lot_id", "lots") ", r.kind, " NEW_ID("r.reverses_slice_id", "slices") ", "
    "    r.issuer_id, "
    "    r.redeemer_id, r.points, r.point_value, r.amount_micros, r.settlement_date "
    "  FROM json_to_recordset($4::json) AS r(id bigint, claim_id bigint, lot_id bigint, "
    "    kind text, reverses_slice_id bigint, issuer_id text, redeemer_id text, points bigint, "
    "    point_value bigint, amount_micros bigint, settlement_date date) "
    "  RETURNING 1), "
    "new_debts AS ("
    "  UPDATE members m SET debt = d.debt "
    "  FROM json_to_recordset($5::json) AS d(id text, debt bigint) WHERE m.id = d.id "
    "  RETURNING 1) "
    "SELECT (SELECT count(*) FROM new_claims), (SELECT count(*) FROM new_lots), "
    "       (SELECT count(*) FROM changed_lots), (SELECT count(*) FROM new_slices), "
    "       (SELECT count(*) FROM new_debts)";

// The ids the rows carry: stored ids as they are, and placeholders of this batch's claims, lots
// and slices, each checked to be one the write statement draws an id for (out of range, the
// statement's array look-up would give NULL, and some of those columns allow NULL).
struct Placeholders {
    std::size_t claims = 0;
    std::size_t lots = 0;
    std::size_t slices = 0;

    explicit Placeholders(const Batch& batch)
        : claims(batch.booked.size()), lots(batch.new_lots.size()), slices(batch.slices.size()) {}

    std::int64_t claim(std::size_t booked) const {
        return checked(claim_placeholder(booked), claims);
    }
    std::int64_t claim(const ClaimRef& ref) const {
        return ref.stored_id != 0 ? ref.stored_id : claim(ref.booked);
    }
    std::int64_t lot(ledger::LotId id) const { return checked(id, lots); }
    std::int64_t slice(ledger::SliceId id) const { return checked(id, slices); }

    static std::int64_t checked(std::int64_t id, std::size_t drawn) {
        if (is_new(id) && static_cast<std::uint64_t>(id - kFirstNewId) >= drawn) {
            throw std::logic_error("a placeholder names no row of the batch");
        }
        return id;
    }
};

// The rows below are written straight into JSON text (JsonText): building nlohmann trees of
// them and dumping those cost about a tenth of the server's CPU per claim under load. Keys
// name json_to_recordset's columns, so their order does not matter.

// A column that may be NULL: its value, or null.
template <typename T>
void nullable(JsonText& row, std::string_view column, const std::optional<T>& value) {
    row.key(column);
    if (value) {
        row.value(*value);
    } else {
        row.null();
    }
}

std::string claim_rows(const Batch& batch, const Placeholders& ids) {
    const auto settlement_date = date_literal(batch.program.settlement_date);
    JsonText rows;
    rows.begin_array();
    for (std::size_t c = 0; c < batch.booked.size(); ++c) {
        const auto& claim = batch.booked[c];
        const auto& input = batch.inputs[claim.input];
        const auto& request = input.request;
        rows.begin_object()
            .field("id", ids.claim(c))
            .field("partner_id", input.partner_id)
            .field("webhook_id", input.webhook_id)
            .field("sha256", crypto::hex(input.request_sha256))
            .field("type", claim.type)
            .field("member_id", claim.member_id)
            .field("points", claim.points.value());
        nullable(rows, "reverses_claim_id",
                 claim.reverses ? std::optional(ids.claim(*claim.reverses)) : std::nullopt);
        nullable(
            rows, "reverses_type",
            claim.reverses ? std::optional<std::string_view>(claim.reverses_type) : std::nullopt);
        rows.field("accepted_at", batch.accepted_at[claim.input])
            .field("settlement_date", settlement_date)
            .field("settings_version", batch.program.version);
        nullable(rows, "occurred_at", request.occurred_at);
        nullable(rows, "reference", request.reference);
        nullable(rows, "purchase_amount_minor",
                 request.purchase ? std::optional(request.purchase->amount_minor) : std::nullopt);
        rows.field("response_body", claim.body).end_object();
    }
    return rows.end_array().take();
}

std::string lot_rows(const Batch& batch, const Placeholders& ids) {
    const auto settlement_date = date_literal(batch.program.settlement_date);
    JsonText rows;
    rows.begin_array();
    for (const auto& created : batch.new_lots) {
        const auto& member = batch.members.at(created.member_id);
        const auto lot = std::find_if(member.lots.begin(), member.lots.end(),
                                      [&](const ledger::Lot& l) { return l.id == created.placeholder; });
        if (lot == member.lots.end()) throw std::logic_error("a new lot went missing");
        const auto claim_input = batch.booked[created.claim].input;
        rows.begin_object()
            .field("id", ids.lot(lot->id))
            .field("member_id", created.member_id)
            .field("issuer_id", lot->issuer)
            .field("claim_id", ids.claim(created.claim))
            .field("points_issued", lot->issued.value())
            .field("debt_repaid", lot->debt_repaid.value())
            .field("points_remaining", lot->remaining.value())
            .field("fee_micros", created.fee.value())
            .field("accepted_at", batch.accepted_at[claim_input])
            .field("settlement_date", settlement_date)
            .field("expires_on", date_literal(lot->expires_on));
        nullable(
            rows, "reversed_by_claim_id",
            created.reversed_by ? std::optional(ids.claim(*created.reversed_by)) : std::nullopt);
        rows.end_object();
    }
    return rows.end_array().take();
}

std::string slice_rows(const Batch& batch, const Placeholders& ids) {
    const auto settlement_date = date_literal(batch.program.settlement_date);
    JsonText rows;
    rows.begin_array();
    for (const auto& [claim, slice] : batch.slices) {
        const bool burn = slice.kind == ledger::SliceKind::burn;
        rows.begin_object()
            .field("id", ids.slice(slice.id))
            .field("claim_id", ids.claim(claim))
            .field("lot_id", ids.lot(slice.lot_id))
            .field("kind", burn ? "burn" : "burn_reversal");
        nullable(rows, "reverses_slice_id",
                 burn ? std::nullopt : std::optional(ids.slice(slice.reverses_slice_id)));
        rows.field("issuer_id", slice.issuer)
            .field("redeemer_id", slice.redeemer)
            .field("points", slice.points.value())
            .field("point_value", slice.point_value.value())
            .field("amount_micros", slice.amount.value())
            .field("settlement_date", settlement_date)
            .end_object();
    }
    return rows.end_array().take();
}

std::string lot_update_rows(const Batch& batch, const Placeholders& ids) {
    JsonText rows;
    rows.begin_array();
    for (const auto& [id, change] : batch.lot_changes) {
        rows.begin_object()
            .field("id", id)
            .field("remaining_before", change.update.remaining_before.value())
            .field("remaining_after", change.update.remaining_after.value());
        nullable(rows, "reversed_by",
                 change.reversed_by ? std::optional(ids.claim(*change.reversed_by)) : std::nullopt);
        rows.end_object();
    }
    return rows.end_array().take();
}

// The members whose debt the batch changed, and how many.
std::pair<std::string, std::size_t> debt_rows(const Batch& batch) {
    JsonText rows;
    rows.begin_array();
    std::size_t count = 0;
    for (const auto& [id, member] : batch.members) {
        if (member.debt == member.debt_at_lock) continue;
        rows.begin_object().field("id", id).field("debt", member.debt.value()).end_object();
        ++count;
    }
    return {rows.end_array().take(), count};
}

// Which part of the write statement's counts are the lot updates.
constexpr std::size_t kChangedLots = 2;

// The lots the batch changes (its lot updates).
std::vector<std::int64_t> changed_lot_ids(const Batch& batch) {
    std::vector<std::int64_t> lot_ids;
    for (const auto& [lot_id, change] : batch.lot_changes) lot_ids.push_back(lot_id);
    return lot_ids;
}

}  // namespace

void prepare_write_statements(pqxx::connection& connection) {
    connection.prepare(kWrite, kWriteSql);
}

void write_decisions(pqxx::work& tx, const Batch& batch) {
    if (batch.booked.empty()) return;
    const Placeholders ids(batch);
    const auto [debts, debts_changed] = debt_rows(batch);
    const auto written = tx.exec_prepared(
        kWrite, claim_rows(batch, ids), lot_rows(batch, ids), lot_update_rows(batch, ids),
        slice_rows(batch, ids), debts, static_cast<int>(ids.claims), static_cast<int>(ids.lots),
        static_cast<int>(ids.slices), kFirstNewId, date_literal(batch.program.settlement_date));
    const std::size_t sent[] = {batch.booked.size(), batch.new_lots.size(),
                                batch.lot_changes.size(), batch.slices.size(), debts_changed};
    for (std::size_t part = 0; part < std::size(sent); ++part) {
        if (written.at(0)[static_cast<int>(part)].as<std::size_t>() == sent[part]) continue;
        // Only the lot updates can fall short (their guards). A lot whose expiry was booked
        // meanwhile is no fault: its claims are booked one by one, on the date now is.
        if (part == kChangedLots &&
            booking_steps::lot_expiry_booked(tx, changed_lot_ids(batch),
                                             batch.program.settlement_date)) {
            throw BatchNeedsSingleBookings("a lot the batch changes had its expiry booked");
        }
        throw std::logic_error("the batch wrote other rows than it decided (part " +
                               std::to_string(part) + ")");
    }
}

}  // namespace coalition::storage::batch
