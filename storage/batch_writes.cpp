#include "storage/batch_writes.hpp"

#include "storage/sql_time.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace coalition::storage::batch {
namespace {

using nlohmann::json;

// Ids are drawn before the rows are written, so that lots and slices can name their claim, lot
// and (a reversal's slice) the slice it undoes.
constexpr const char* kDrawIds = "batch_draw_ids";
constexpr const char* kDrawIdsSql =
    "SELECT 'claim', nextval('claims_id_seq') FROM generate_series(1, $1::int) "
    "UNION ALL "
    "SELECT 'lot', nextval('lots_id_seq') FROM generate_series(1, $2::int) "
    "UNION ALL "
    "SELECT 'slice', nextval('slices_id_seq') FROM generate_series(1, $3::int)";

// Everything the batch decided, in one statement (one round trip): claims sorted by key, so
// that two batches racing on a key wait in the same order; lots the earns and burn reversals
// created; lots the burns and reversals changed, guarded by their old value and, when reversed,
// by not being reversed yet (a lost update becomes an error, as on the one-claim path); slices;
// changed debts. Foreign keys and the closed-date guards are checked at the end of the
// statement, when every row of it is in place. It returns how many rows each part wrote, which
// write_decisions compares with what it sent.
constexpr const char* kWrite = "batch_write";
constexpr const char* kWriteSql =
    "WITH new_claims AS ("
    "  INSERT INTO claims (id, partner_id, webhook_id, request_sha256, type, member_id, points, "
    "    reverses_claim_id, reverses_type, accepted_at, settlement_date, settings_version, "
    "    occurred_at, reference, purchase_amount_minor, response_status, response_body) "
    "  OVERRIDING SYSTEM VALUE "
    "  SELECT r.id, r.partner_id, r.webhook_id, decode(r.sha256, 'hex'), r.type, r.member_id, "
    "    r.points, r.reverses_claim_id, r.reverses_type, r.accepted_at, r.settlement_date, "
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
    "  INSERT INTO lots (id, member_id, issuer_id, claim_id, reissued_from_lot_id, points_issued, "
    "    debt_repaid, points_remaining, fee_micros, accepted_at, settlement_date, expires_on, "
    "    reversed_by_claim_id) OVERRIDING SYSTEM VALUE "
    "  SELECT r.id, r.member_id, r.issuer_id, r.claim_id, r.reissued_from_lot_id, "
    "    r.points_issued, r.debt_repaid, r.points_remaining, r.fee_micros, r.accepted_at, "
    "    r.settlement_date, r.expires_on, r.reversed_by_claim_id "
    "  FROM json_to_recordset($2::json) AS r(id bigint, member_id text, issuer_id text, "
    "    claim_id bigint, reissued_from_lot_id bigint, points_issued bigint, debt_repaid bigint, "
    "    points_remaining bigint, fee_micros bigint, accepted_at timestamptz, "
    "    settlement_date date, expires_on date, reversed_by_claim_id bigint) "
    "  RETURNING 1), "
    "changed_lots AS ("
    "  UPDATE lots l SET points_remaining = u.remaining_after, "
    "    reversed_by_claim_id = COALESCE(u.reversed_by, l.reversed_by_claim_id) "
    "  FROM json_to_recordset($3::json) AS u(id bigint, remaining_before bigint, "
    "    remaining_after bigint, reversed_by bigint) "
    "  WHERE l.id = u.id AND l.points_remaining = u.remaining_before "
    "    AND (u.reversed_by IS NULL OR l.reversed_by_claim_id IS NULL) "
    "  RETURNING 1), "
    "new_slices AS ("
    "  INSERT INTO slices (id, claim_id, lot_id, kind, reverses_slice_id, issuer_id, redeemer_id, "
    "    points, point_value, amount_micros, settlement_date) OVERRIDING SYSTEM VALUE "
    "  SELECT r.id, r.claim_id, r.lot_id, r.kind, r.reverses_slice_id, r.issuer_id, "
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

struct DrawnIds {
    std::vector<std::int64_t> claims;
    std::vector<std::int64_t> lots;
    std::vector<std::int64_t> slices;

    std::int64_t claim(std::size_t booked) const { return claims.at(booked); }
    // A lot or slice id as stored: placeholders of this batch become the drawn ids.
    std::int64_t lot(ledger::LotId id) const { return stored_id(lots, id); }
    std::int64_t slice(ledger::SliceId id) const { return stored_id(slices, id); }
    static std::int64_t stored_id(const std::vector<std::int64_t>& drawn, std::int64_t id) {
        return is_new(id) ? drawn.at(static_cast<std::size_t>(id - kFirstNewId)) : id;
    }
};

DrawnIds draw_ids(pqxx::work& tx, const Batch& batch) {
    DrawnIds ids;
    for (const auto& row : tx.exec_prepared(kDrawIds, static_cast<int>(batch.booked.size()),
                                            static_cast<int>(batch.new_lots.size()),
                                            static_cast<int>(batch.slices.size()))) {
        const auto kind = row[0].as<std::string>();
        (kind == "claim" ? ids.claims : kind == "lot" ? ids.lots : ids.slices)
            .push_back(row[1].as<std::int64_t>());
    }
    for (auto* drawn : {&ids.claims, &ids.lots, &ids.slices}) std::sort(drawn->begin(), drawn->end());
    if (ids.claims.size() != batch.booked.size() || ids.lots.size() != batch.new_lots.size() ||
        ids.slices.size() != batch.slices.size()) {
        throw std::logic_error("the sequences returned too few ids");
    }
    return ids;
}

std::int64_t claim_id_of(const DrawnIds& ids, const ClaimRef& ref) {
    return ref.stored_id != 0 ? ref.stored_id : ids.claim(ref.booked);
}

json claim_rows(const Batch& batch, const DrawnIds& ids) {
    json rows = json::array();
    for (std::size_t c = 0; c < batch.booked.size(); ++c) {
        const auto& claim = batch.booked[c];
        const auto& input = batch.inputs[claim.input];
        const auto& request = input.request;
        json row = {{"id", ids.claim(c)},
                    {"partner_id", input.partner_id},
                    {"webhook_id", input.webhook_id},
                    {"sha256", crypto::hex(input.request_sha256)},
                    {"type", claim.type},
                    {"member_id", claim.member_id},
                    {"points", claim.points.value()},
                    {"reverses_claim_id", nullptr},
                    {"reverses_type", nullptr},
                    {"accepted_at", batch.accepted_at[claim.input]},
                    {"settlement_date", date_literal(batch.program.settlement_date)},
                    {"settings_version", batch.program.version},
                    {"occurred_at", nullptr},
                    {"reference", nullptr},
                    {"purchase_amount_minor", nullptr},
                    {"response_body", claim.body}};
        if (claim.reverses) {
            row["reverses_claim_id"] = claim_id_of(ids, *claim.reverses);
            row["reverses_type"] = claim.reverses_type;
        }
        if (request.occurred_at) row["occurred_at"] = *request.occurred_at;
        if (request.reference) row["reference"] = *request.reference;
        if (request.purchase) row["purchase_amount_minor"] = request.purchase->amount_minor;
        rows.push_back(std::move(row));
    }
    return rows;
}

json lot_rows(const Batch& batch, const DrawnIds& ids) {
    json rows = json::array();
    for (const auto& created : batch.new_lots) {
        const auto& member = batch.members.at(created.member_id);
        const auto lot = std::find_if(member.lots.begin(), member.lots.end(),
                                      [&](const ledger::Lot& l) { return l.id == created.placeholder; });
        if (lot == member.lots.end()) throw std::logic_error("a new lot went missing");
        const auto claim_input = batch.booked[created.claim].input;
        json row = {{"id", ids.lot(lot->id)},
                    {"member_id", created.member_id},
                    {"issuer_id", lot->issuer},
                    {"claim_id", ids.claim(created.claim)},
                    {"reissued_from_lot_id", nullptr},
                    {"points_issued", lot->issued.value()},
                    {"debt_repaid", lot->debt_repaid.value()},
                    {"points_remaining", lot->remaining.value()},
                    {"fee_micros", created.fee.value()},
                    {"accepted_at", batch.accepted_at[claim_input]},
                    {"settlement_date", date_literal(batch.program.settlement_date)},
                    {"expires_on", date_literal(lot->expires_on)},
                    {"reversed_by_claim_id", nullptr}};
        if (created.reissued_from) row["reissued_from_lot_id"] = ids.lot(*created.reissued_from);
        if (created.reversed_by) row["reversed_by_claim_id"] = ids.claim(*created.reversed_by);
        rows.push_back(std::move(row));
    }
    return rows;
}

json slice_rows(const Batch& batch, const DrawnIds& ids) {
    json rows = json::array();
    for (const auto& [claim, slice] : batch.slices) {
        const bool burn = slice.kind == ledger::SliceKind::burn;
        rows.push_back({{"id", ids.slice(slice.id)},
                        {"claim_id", ids.claim(claim)},
                        {"lot_id", ids.lot(slice.lot_id)},
                        {"kind", burn ? "burn" : "burn_reversal"},
                        {"reverses_slice_id", burn ? json(nullptr) : json(ids.slice(slice.reverses_slice_id))},
                        {"issuer_id", slice.issuer},
                        {"redeemer_id", slice.redeemer},
                        {"points", slice.points.value()},
                        {"point_value", slice.point_value.value()},
                        {"amount_micros", slice.amount.value()},
                        {"settlement_date", date_literal(batch.program.settlement_date)}});
    }
    return rows;
}

json lot_update_rows(const Batch& batch, const DrawnIds& ids) {
    json rows = json::array();
    for (const auto& [id, change] : batch.lot_changes) {
        rows.push_back({{"id", id},
                        {"remaining_before", change.update.remaining_before.value()},
                        {"remaining_after", change.update.remaining_after.value()},
                        {"reversed_by", change.reversed_by ? json(ids.claim(*change.reversed_by))
                                                           : json(nullptr)}});
    }
    return rows;
}

json debt_rows(const Batch& batch) {
    json rows = json::array();
    for (const auto& [id, member] : batch.members) {
        if (member.debt != member.debt_at_lock) rows.push_back({{"id", id}, {"debt", member.debt.value()}});
    }
    return rows;
}

}  // namespace

void prepare_write_statements(pqxx::connection& connection) {
    connection.prepare(kDrawIds, kDrawIdsSql);
    connection.prepare(kWrite, kWriteSql);
}

void write_decisions(pqxx::work& tx, const Batch& batch) {
    if (batch.booked.empty()) return;
    const auto ids = draw_ids(tx, batch);
    const auto debts = debt_rows(batch);
    const auto written = tx.exec_prepared(kWrite, claim_rows(batch, ids).dump(),
                                          lot_rows(batch, ids).dump(), lot_update_rows(batch, ids).dump(),
                                          slice_rows(batch, ids).dump(), debts.dump());
    const std::size_t sent[] = {batch.booked.size(), batch.new_lots.size(), batch.lot_changes.size(),
                                batch.slices.size(), debts.size()};
    for (std::size_t part = 0; part < std::size(sent); ++part) {
        if (written.at(0)[static_cast<int>(part)].as<std::size_t>() != sent[part]) {
            // Only the lot updates can fall short (their guard): a lot changed under the lock.
            throw std::logic_error("the batch wrote other rows than it decided (part " +
                                   std::to_string(part) + ")");
        }
    }
}

}  // namespace coalition::storage::batch
