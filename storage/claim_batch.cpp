#include "storage/claim_batch.hpp"

#include "ledger/burn.hpp"
#include "ledger/earn.hpp"
#include "storage/batch_reversals.hpp"
#include "storage/batch_state.hpp"
#include "storage/booking_steps.hpp"
#include "storage/ledger_rows.hpp"
#include "storage/settlement_store.hpp"
#include "storage/sql_time.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace coalition::storage {
namespace {

using namespace booking_steps;
using namespace batch;
using nlohmann::json;

// ---- Every statement of the batch path, named and prepared ----------------------------------

struct Statement {
    const char* name;
    const char* sql;
};

// The program in force and the settlement dates of the batch's earliest and latest claims.
constexpr Statement kProgram{
    "batch_program",
    "SELECT version, point_value, issue_fee, validity_months, "
    "       ($1::timestamptz AT TIME ZONE timezone)::date, "
    "       ($2::timestamptz AT TIME ZONE timezone)::date "
    "FROM program_settings ORDER BY version DESC LIMIT 1"};

// Inserted in id order, so that two batches enrolling common members wait in the same order.
constexpr Statement kEnrol{
    "batch_enrol",
    "INSERT INTO members (id, enrolled_by) "
    "SELECT m.id, m.enrolled_by FROM json_to_recordset($1::json) AS m(id text, enrolled_by text) "
    "ORDER BY m.id COLLATE \"C\" "
    "ON CONFLICT (id) DO NOTHING RETURNING id"};

// The members of the batch's earns and burns ($1) and of the claims its reversals reverse ($2:
// their keys), locked in one statement. LockRows sits above the sort: rows are locked in this
// order. `= ANY (ARRAY(…))` rather than
// `IN (SELECT …)`: the planner then probes the primary key instead of hashing the whole table
// (it guesses 100 rows for any set-returning function); the same holds for the lots below.
constexpr Statement kLockMembers{
    "batch_lock_members",
    "SELECT id, debt FROM members WHERE id = ANY (ARRAY("
    "  SELECT json_array_elements_text($1::json) "
    "  UNION "
    "  SELECT c.member_id FROM claims c "
    "  JOIN json_to_recordset($2::json) AS k(partner_id text, webhook_id text) "
    "    ON c.partner_id = k.partner_id AND c.webhook_id = k.webhook_id)) "
    "ORDER BY id COLLATE \"C\" FOR UPDATE"};

// Read under the locks, in one round trip: the open lots of the batch's members (LOT_COLUMNS,
// then member_id; in no particular order, the ledger orders them) and the batch's keys already
// stored (partner, webhook-id, hash, status, body in columns 9 to 13; the lot columns NULL).
constexpr Statement kStoredClaimsAndOpenLots{
    "batch_stored_claims_and_open_lots",
    "SELECT " LOT_COLUMNS ", member_id, NULL::text, NULL::text, NULL::bytea, NULL::int, NULL::text "
    "FROM lots "
    "WHERE member_id = ANY (ARRAY(SELECT json_array_elements_text($2::json))) "
    "  AND points_remaining > 0 AND expires_on >= $3::date "
    "UNION ALL "
    "SELECT NULL::bigint, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, "
    "  NULL::text, NULL::boolean, NULL::text, c.partner_id, c.webhook_id, c.request_sha256, "
    "  c.response_status::int, c.response_body "
    "FROM claims c JOIN json_to_recordset($1::json) AS k(partner_id text, webhook_id text) "
    "  ON c.partner_id = k.partner_id AND c.webhook_id = k.webhook_id"};


// Ids are drawn before the rows are written, so that lots and slices can name their claim, lot
// and (a reversal's slice) the slice it undoes.
constexpr Statement kDrawIds{
    "batch_draw_ids",
    "SELECT 'claim', nextval('claims_id_seq') FROM generate_series(1, $1::int) "
    "UNION ALL "
    "SELECT 'lot', nextval('lots_id_seq') FROM generate_series(1, $2::int) "
    "UNION ALL "
    "SELECT 'slice', nextval('slices_id_seq') FROM generate_series(1, $3::int)"};

// Everything the batch decided, in one statement (one round trip): claims sorted by key, so
// that two batches racing on a key wait in the same order; lots the earns and burn reversals
// created; lots the burns and reversals changed, guarded by their old value and, when reversed,
// by not being reversed yet (a lost update becomes an error, as on the one-claim path); slices;
// changed debts. Foreign keys and the closed-date guards are checked at the
// end of the statement, when every row of it is in place. It returns how many rows each part
// wrote, which the caller compares with what it sent.
constexpr Statement kWrite{
    "batch_write",
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
    "       (SELECT count(*) FROM new_debts)"};

constexpr Statement kAllStatements[] = {kProgram, kEnrol,   kLockMembers, kStoredClaimsAndOpenLots,
                                        kDrawIds, kWrite};

// libpqxx 6.4: declaring an identical definition again is a no-op, and the statement is
// prepared on the server on its first use on each (possibly reopened) connection.
void prepare_statements(pqxx::connection& connection) {
    for (const auto& statement : kAllStatements) connection.prepare(statement.name, statement.sql);
    prepare_reversal_statements(connection);
}

template <typename Value>
json json_array_of_keys(const std::map<Key, Value>& keys) {
    json rows = json::array();
    for (const auto& [key, unused] : keys) {
        rows.push_back({{"partner_id", key.first}, {"webhook_id", key.second}});
    }
    return rows;
}

// ---- Steps 1–3: program, locks, what is stored ----------------------------------------------

Program read_program(pqxx::work& tx, Batch& batch) {
    const auto [earliest, latest] = std::minmax_element(
        batch.inputs.begin(), batch.inputs.end(),
        [](const BookingInput& a, const BookingInput& b) { return a.accepted_at_us < b.accepted_at_us; });
    const auto rows = tx.exec_prepared(kProgram.name, timestamp_literal(earliest->accepted_at_us),
                                       timestamp_literal(latest->accepted_at_us));
    if (rows.size() != 1) throw std::logic_error("no program settings");
    const auto& row = rows[0];
    Program program{row[0].as<std::int64_t>(), Micros(row[1].as<std::int64_t>()),
                    Micros(row[2].as<std::int64_t>()), row[3].as<int>(),
                    parse_date(row[4].as<std::string>())};
    if (parse_date(row[5].as<std::string>()) != program.settlement_date) {
        throw BatchNeedsSingleBookings("the batch spans two settlement dates");
    }
    return program;
}

// Enrols the member of each earn that will be stored (the first use of its key), by the partner
// of its first such earn, as one claim at a time would; returns the members this created.
std::set<std::string> enrol_members(pqxx::work& tx, const Batch& batch) {
    std::map<std::string, std::string> enrolled_by;
    std::set<Key> seen;
    for (const auto& input : batch.inputs) {
        // Reversals are booked after the earns and burns, so they never use a key first here.
        if (input.request.type == partners::ClaimType::reversal) continue;
        if (!seen.insert(key_of(input)).second) continue;
        if (input.request.type != partners::ClaimType::earn) continue;
        enrolled_by.emplace(input.request.member_id, input.partner_id);
    }
    std::set<std::string> created;
    if (enrolled_by.empty()) return created;
    json rows = json::array();
    for (const auto& [member, partner] : enrolled_by) {
        rows.push_back({{"id", member}, {"enrolled_by", partner}});
    }
    for (const auto& row : tx.exec_prepared(kEnrol.name, rows.dump())) {
        created.insert(row[0].as<std::string>());
    }
    return created;
}

// Locks the member of every earn and burn and the member of every claim a reversal reverses
// (a reversed claim booked by this very batch has its member among the former).
void lock_members(pqxx::work& tx, Batch& batch, const std::set<std::string>& created) {
    std::set<std::string> members;
    std::map<Key, bool> reversed;
    for (const auto& input : batch.inputs) {
        if (input.request.type == partners::ClaimType::reversal) {
            reversed.emplace(Key{input.partner_id, input.request.reverses}, true);
        } else {
            members.insert(input.request.member_id);
        }
    }
    const json ids(members);
    for (const auto& row : tx.exec_prepared(kLockMembers.name, ids.dump(), json_array_of_keys(reversed).dump())) {
        MemberState state;
        state.debt = state.debt_at_lock = Points(row[1].as<std::int64_t>());
        auto id = row[0].as<std::string>();
        state.enrolled = created.count(id) == 0;
        batch.members.emplace(std::move(id), std::move(state));
    }
}

void read_stored_claims_and_open_lots(pqxx::work& tx, Batch& batch) {
    std::map<Key, bool> keys;
    for (const auto& input : batch.inputs) keys.emplace(key_of(input), true);
    json members = json::array();
    for (const auto& [id, unused] : batch.members) members.push_back(id);
    for (const auto& row : tx.exec_prepared(kStoredClaimsAndOpenLots.name, json_array_of_keys(keys).dump(),
                                            members.dump(), date_literal(batch.program.settlement_date))) {
        if (!row[0].is_null()) {
            batch.members.at(row[8].as<std::string>()).lots.push_back(lot_from_row(row));
            continue;
        }
        const pqxx::binarystring sha256(row[11]);
        batch.stored.emplace(Key{row[9].as<std::string>(), row[10].as<std::string>()},
                             StoredClaim{crypto::Bytes(sha256.begin(), sha256.end()),
                                         row[12].as<int>(), row[13].as<std::string>()});
    }
}

// ---- Step 4: deciding each claim in memory --------------------------------------------------

void decide_earn(Batch& batch, std::size_t index) {
    const auto& input = batch.inputs[index];
    const auto& request = input.request;
    const Program& program = batch.program;
    auto& member = batch.members.at(request.member_id);
    member.enrolled = true;

    const Points balance =
        ledger::balance(member.lots, member.debt, program.settlement_date) + request.points;
    const auto earn = ledger::apply_earn(member.debt, request.points);
    const auto placeholder = kFirstNewId + static_cast<ledger::LotId>(batch.new_lots.size());
    member.lots.push_back(ledger::make_lot(placeholder, input.partner_id, earn, input.accepted_at_us,
                                           program.settlement_date, program.validity_months));
    member.debt = earn.new_debt;

    batch.new_lots.push_back(NewLot{batch.booked.size(), placeholder, request.member_id,
                                    value_of(request.points, program.issue_fee), {}, {}});
    batch.booked.push_back(BookedClaim{index, "earn", request.member_id, request.points,
                                       accepted_body(input, "earn", request.member_id,
                                                     request.points, balance,
                                                     program.settlement_date),
                                       {}, {}});
}

std::optional<BookingResult> decide_burn(Batch& batch, std::size_t index) {
    const auto& input = batch.inputs[index];
    const auto& request = input.request;
    const Program& program = batch.program;
    const auto found = batch.members.find(request.member_id);
    if (found == batch.members.end() || !found->second.enrolled) {
        return refusal(ErrorCode::unknown_member, "no member with this id", "member_id");
    }
    auto& member = found->second;
    auto plan = ledger::plan_burn(member.lots, member.debt, request.points, input.partner_id,
                                  program.point_value, program.settlement_date);
    if (!plan) return refusal(plan.error(), "the member's balance does not cover this burn", "points");
    const auto& burn = plan.value();
    ledger::apply_lot_updates(member.lots, burn.lot_updates);
    for (const auto& update : burn.lot_updates) record_lot_update(batch, update);
    for (auto slice : burn.slices) {
        slice.id = kFirstNewId + static_cast<std::int64_t>(batch.slices.size());
        batch.slices.push_back(NewSlice{batch.booked.size(), std::move(slice)});
    }
    batch.booked.push_back(BookedClaim{index, "burn", request.member_id, request.points,
                                       accepted_body(input, "burn", request.member_id,
                                                     request.points, burn.balance_after,
                                                     program.settlement_date),
                                       {}, {}});
    return std::nullopt;
}

// Earns and burns in batch order, then reversals in batch order.
void decide(Batch& batch) {
    for (std::size_t i = 0; i < batch.inputs.size(); ++i) {
        const auto& input = batch.inputs[i];
        if (input.request.type == partners::ClaimType::reversal) continue;
        if (answer_known_key(batch, i)) continue;
        if (input.request.type == partners::ClaimType::earn) {
            batch.booked_keys.emplace(key_of(input), batch.booked.size());
            decide_earn(batch, i);
        } else if (auto refused = decide_burn(batch, i)) {
            batch.results[i] = std::move(*refused);
        } else {
            batch.booked_keys.emplace(key_of(input), batch.booked.size() - 1);
        }
    }
    decide_reversals(batch);
}

// ---- Step 5: writing what was decided -------------------------------------------------------

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
    for (const auto& row : tx.exec_prepared(kDrawIds.name, static_cast<int>(batch.booked.size()),
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

void write_decisions(pqxx::work& tx, const Batch& batch) {
    if (batch.booked.empty()) return;
    const auto ids = draw_ids(tx, batch);
    const auto debts = debt_rows(batch);
    const auto written = tx.exec_prepared(kWrite.name, claim_rows(batch, ids).dump(),
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

std::vector<BookingResult> book_batch(pqxx::connection& connection,
                                      std::span<const BookingInput> inputs) {
    prepare_statements(connection);
    pqxx::work tx(connection);
    Batch batch;
    batch.inputs = inputs;
    batch.results.resize(inputs.size());
    batch.accepted_at.reserve(inputs.size());
    for (const auto& input : inputs) batch.accepted_at.push_back(timestamp_literal(input.accepted_at_us));

    batch.program = read_program(tx, batch);
    // Shared with other bookings, exclusive with a close of the same date (as for one claim).
    lock_settlement_date_shared(tx, batch.program.settlement_date);
    const auto created = enrol_members(tx, batch);
    lock_members(tx, batch, created);
    read_stored_claims_and_open_lots(tx, batch);
    read_reversal_targets(tx, batch);

    decide(batch);
    // A member enrolled above whose earn turned out to be a conflicting reuse of a key stored
    // meanwhile: members are never deleted, so the batch must not commit that enrolment.
    for (const auto& member : created) {
        if (!batch.members.at(member).enrolled) {
            throw BatchNeedsSingleBookings("a member was enrolled for an earn that is not booked");
        }
    }
    write_decisions(tx, batch);

    // Reversals that meet an expired lot: booked by the one-claim path, in the same transaction.
    for (const auto index : batch.deferred) {
        batch.results[index] = book_reversal(tx, inputs[index], batch.program, batch.accepted_at[index]);
    }
    for (std::size_t c = 0; c < batch.booked.size(); ++c) {
        BookingResult result;
        result.status = 201;
        result.body = batch.booked[c].body;
        batch.results[batch.booked[c].input] = std::move(result);
    }
    std::vector<BookingResult> results;
    results.reserve(inputs.size());
    for (auto& result : batch.results) {
        if (!result) throw std::logic_error("a claim of the batch got no answer");
        results.push_back(std::move(*result));
    }
    tx.commit();
    return results;
}

}  // namespace

std::vector<BookingResult> book_claims(pqxx::connection& connection,
                                       std::span<const BookingInput> inputs) {
    if (inputs.empty()) return {};
    return book_batch(connection, inputs);
}

}  // namespace coalition::storage
