#include "storage/claim_batch.hpp"

#include "ledger/burn.hpp"
#include "ledger/earn.hpp"
#include "storage/batch_reversals.hpp"
#include "storage/batch_state.hpp"
#include "storage/batch_writes.hpp"
#include "storage/booking_steps.hpp"
#include "storage/ledger_rows.hpp"
#include "storage/settlement_store.hpp"
#include "storage/sql_time.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
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

// Opens the batch in one round trip: the locks of its claim ids ($5, booking_steps.hpp), first;
// the program in force when its earliest claim was accepted,
// and the version in force for its latest (program_in_force_at, migrations 0008 and 0010: $4 is
// this host's clock when the statement is sent, which maps acceptance onto the database's clock,
// the one that stamps program changes); the settlement
// dates of the batch's earliest ($1) and latest ($2) claims; the earliest date's advisory lock,
// shared (a close of that date, exclusive, waits for the batch, as for one claim); then the members
// of the batch's new earns ($3) enrolled, inserted in id order so that two batches enrolling common
// members wait in the same order. No member is inserted before the date's lock is held: every
// inserted row passes a filter that reads the lock's row, so a batch never holds a new member's row
// while it waits behind a close. The enrolled ids come back as a JSON array.
//
// It also turns sequential and bitmap scans off for the rest of the batch's transaction, so that
// every later statement reads by plain index scans:
// - Sequential scans: every later statement of a batch reads or writes tens of rows by key, and
//   each is prepared once per connection and planned once. A plan made while a table was small
//   (a new database, or the first seconds of a load) scans that table whole — cheaper then —
//   and keeps scanning it on every batch as it grows, until the next ANALYZE. Measured: batches
//   hashing all of `lots` for up to a minute after start, 3 to 5 times slower.
// - Bitmap scans: a burn that empties a lot leaves the lot's entry in lots_open_fifo pointing
//   at a dead row version until vacuum. A plain index scan that meets such an entry marks it
//   dead in the index, and no later scan visits it again; a bitmap scan cannot, so it visits
//   every one of them on every batch. A member many burns draw on (bench/ingest.sh's hot
//   member) had its few open lots read through thousands of such entries: 0.4–0.9 ms a batch
//   instead of 0.14, growing until autovacuum came.
constexpr Statement kOpen{
    "batch_open",
    "WITH index_plans AS MATERIALIZED (SELECT set_config('enable_seqscan', 'off', true), "
    "  set_config('enable_bitmapscan', 'off', true)), "
    "keys_locked AS MATERIALIZED (" LOCK_CLAIM_KEYS_SELECT("$5") "), "
    "program AS MATERIALIZED ("
    "  SELECT version, point_value, issue_fee, validity_months, currency, "
    "    ($1::timestamptz AT TIME ZONE timezone)::date AS first_date, "
    "    ($2::timestamptz AT TIME ZONE timezone)::date AS last_date, "
    "    (SELECT version FROM program_in_force_at("
    "       $2::timestamptz + keys_locked.count * interval '0 s', $4::timestamptz)) "
    "      AS last_version, "
    "    (SELECT currency FROM program_in_force_at("
    "       'infinity'::timestamptz + keys_locked.count * interval '0 s', $4::timestamptz)) "
    "      AS current_currency "
    // The keys' locks before the program's (taken by program_in_force_at): its argument names
    // the count of keys locked, so the function runs only after that count is made.
    "  FROM keys_locked CROSS JOIN LATERAL "
    "    program_in_force_at($1::timestamptz + keys_locked.count * interval '0 s', "
    "                        $4::timestamptz)), "
    "date_locked AS MATERIALIZED ("
    "  SELECT pg_advisory_xact_lock_shared(" SETTLEMENT_DATE_LOCK_KEYS("first_date") ") "
    "  FROM program), "
    "enrolled AS ("
    "  INSERT INTO members (id, enrolled_by) "
    "  SELECT m.id, m.enrolled_by FROM json_to_recordset($3::json) AS m(id text, enrolled_by text) "
    "  WHERE (SELECT count(*) FROM date_locked) = 1 "
    "  ORDER BY m.id COLLATE \"C\" "
    "  ON CONFLICT (id) DO NOTHING RETURNING id) "
    "SELECT version, point_value, issue_fee, validity_months, first_date, last_date, "
    "  (SELECT count(*) FROM date_locked), (SELECT coalesce(json_agg(id), '[]') FROM enrolled), "
    "  (SELECT count(*) FROM index_plans), last_version, currency, current_currency, "
    "  (SELECT max(settlement_date) FROM settlement_runs) > first_date "
    "FROM program"};

// The members of the batch's earns and burns ($1) and of the claims its reversals reverse ($2:
// their keys), locked in one statement, each with its debt. LockRows sits above the sort: rows
// are locked in this order.
// `= ANY (ARRAY(…))` rather than `IN (SELECT …)`: the planner then probes the primary key instead
// of hashing the whole table (it guesses 100 rows for any set-returning function); the same
// holds for the lots below.
constexpr Statement kLockMembers{
    "batch_lock_members",
    "WITH reversed AS MATERIALIZED ("
    "  SELECT c.member_id FROM json_to_recordset($2::json) AS k(partner_id text, webhook_id text) "
    "  CROSS JOIN LATERAL " CLAIM_BY_KEY("member_id") " AS c) "
    "SELECT id, debt "
    "FROM members WHERE id = ANY (ARRAY("
    "  SELECT json_array_elements_text($1::json) UNION SELECT member_id FROM reversed)) "
    "ORDER BY id COLLATE \"C\" FOR UPDATE"};

// Read under the locks, in one round trip:
// - the open lots of the members whose lots the batch reads whole ($2: in a second run, the
//   heads that fell short);
// - the first open lots in FIFO order of the members whose burns take from the head ($5: id and
//   how many lots; the order of the index lots_open_fifo, so the scan stops there: qualified,
//   for LOT_COLUMNS names the text of expires_on `expires_on`, and a sort by it reads them all);
// - for the members not read whole ($4), the points their unexpired lots hold, from the totals
//   per member and expiry date that the triggers on lots keep (member_points, migration 0007:
//   at most validity_months + 1 rows a member, however many lots; member_id and the sum in
//   column 14, one row for each that has any);
// - the batch's keys already stored ($1: partner, webhook-id, hash, status, body in columns 9
//   to 13): accepted claims first, then refused ones (migration 0012), each a LATERAL probe
//   with a LIMIT, never merged into a join (a hash join would read refused_claims whole).
// Lots come as LOT_COLUMNS, then member_id, in no particular order (the ledger orders them).
// Unused columns are NULL.
#define NO_LOT_COLUMNS                                                                   \
    "NULL::bigint, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, " \
    "NULL::text, NULL::boolean"
#define NO_CLAIM_COLUMNS "NULL::text, NULL::text, NULL::bytea, NULL::int, NULL::text"
constexpr Statement kStoredClaimsAndOpenLots{
    "batch_stored_claims_and_open_lots",
    "SELECT " LOT_COLUMNS ", member_id, " NO_CLAIM_COLUMNS
    ", NULL::bigint "
    "FROM lots "
    "WHERE member_id = ANY (ARRAY(SELECT json_array_elements_text($2::json))) "
    "  AND is_open AND expires_on >= $3::date "
    "UNION ALL "
    "SELECT head.*, " NO_CLAIM_COLUMNS
    ", NULL::bigint "
    "FROM json_to_recordset($5::json) AS m(id text, lots int) "
    "CROSS JOIN LATERAL ("
    "  SELECT " LOT_COLUMNS
    ", member_id FROM lots "
    "  WHERE member_id = m.id AND is_open AND expires_on >= $3::date "
    "  ORDER BY lots.expires_on, lots.accepted_at, lots.id LIMIT m.lots) AS head "
    "UNION ALL "
    "SELECT " NO_LOT_COLUMNS ", member_id, " NO_CLAIM_COLUMNS
    ", sum(points)::bigint "
    "FROM member_points "
    "WHERE member_id = ANY (ARRAY(SELECT json_array_elements_text($4::json))) "
    "  AND expires_on >= $3::date "
    "GROUP BY member_id "
    "UNION ALL "
    "SELECT " NO_LOT_COLUMNS
    ", NULL::text, c.partner_id, c.webhook_id, c.request_sha256, "
    "  c.response_status::int, c.response_body, NULL::bigint "
    "FROM json_to_recordset($1::json) AS k(partner_id text, webhook_id text) "
    "CROSS JOIN LATERAL " CLAIM_BY_KEY("partner_id, webhook_id, request_sha256, response_status, "
                                       "response_body") " AS c "
    "UNION ALL "
    "SELECT " NO_LOT_COLUMNS
    ", NULL::text, r.partner_id, r.webhook_id, r.request_sha256, "
    "  r.response_status::int, r.response_body, NULL::bigint "
    "FROM json_to_recordset($1::json) AS k(partner_id text, webhook_id text) "
    "CROSS JOIN LATERAL (SELECT * FROM refused_claims "
    "  WHERE partner_id = k.partner_id AND webhook_id = k.webhook_id LIMIT 1) AS r"};

// How many lots a burn member's head holds, per burn of the member in the batch. A burn takes
// from one to a few lots unless its member's lots are much smaller than it; a head that holds
// fewer points than its burns is read whole by a second statement.
constexpr std::size_t kHeadLotsPerBurn = 8;

constexpr Statement kAllStatements[] = {kOpen, kLockMembers, kStoredClaimsAndOpenLots};

// libpqxx 6.4: declaring an identical definition again is a no-op, and the statement is
// prepared on the server on its first use on each (possibly reopened) connection.
void prepare_statements(pqxx::connection& connection) {
    for (const auto& statement : kAllStatements) connection.prepare(statement.name, statement.sql);
    prepare_reversal_statements(connection);
    prepare_write_statements(connection);
}


// ---- Steps 1–3: open the batch, lock its members, read what is stored -----------------------

// The members of the batch's new earns, each by the partner that enrols it as one claim at a time
// would: the member of each earn that will be stored (the first use of its key), by the partner
// of its first such earn. kOpen enrols those not stored yet.
using Enrolments = std::map<std::string, std::string>;  // member → enrolled_by

Enrolments enrolments(const Batch& batch) {
    Enrolments enrolled_by;
    std::set<Key> seen;
    for (const auto& input : batch.inputs) {
        // Reversals are booked after the earns and burns, so they never use a key first here.
        if (input.request.type == partners::ClaimType::reversal) continue;
        if (!seen.insert(key_of(input)).second) continue;
        if (input.request.type != partners::ClaimType::earn) continue;
        enrolled_by.emplace(input.request.member_id, input.partner_id);
    }
    return enrolled_by;
}

std::string enrolment_rows(const Enrolments& enrolled_by) {
    JsonText rows;
    rows.begin_array();
    for (const auto& [member, partner] : enrolled_by) {
        rows.begin_object().field("id", member).field("enrolled_by", partner).end_object();
    }
    return rows.end_array().take();
}

// Whether each member kOpen created is enrolled as one claim at a time would enrol it: by the
// partner of its first booked earn.
bool enrolled_as_one_by_one(const Batch& batch, const std::set<std::string>& created,
                            const Enrolments& enrolled_by) {
    std::map<std::string_view, std::string_view> first_earn_by;
    for (const auto& claim : batch.booked) {
        const auto& input = batch.inputs[claim.input];
        if (input.request.type == partners::ClaimType::earn && created.count(claim.member_id)) {
            first_earn_by.emplace(claim.member_id, input.partner_id);
        }
    }
    return std::all_of(created.begin(), created.end(), [&](const std::string& member) {
        const auto first = first_earn_by.find(member);
        return first != first_earn_by.end() && first->second == enrolled_by.at(member);
    });
}

// Runs kOpen: sets the batch's program and returns the members it enrolled.
std::set<std::string> open_batch(pqxx::work& tx, Batch& batch, const Enrolments& enrolled_by) {
    const auto [earliest, latest] = std::minmax_element(
        batch.inputs.begin(), batch.inputs.end(), [](const BookingInput& a, const BookingInput& b) {
            return a.accepted_at_us < b.accepted_at_us;
        });
    const auto rows =
        tx.exec_prepared(kOpen.name, timestamp_literal(earliest->accepted_at_us),
                         timestamp_literal(latest->accepted_at_us), enrolment_rows(enrolled_by),
                         timestamp_literal(now_unix_micros()), keys_json(batch.keys));
    if (rows.size() != 1) throw std::logic_error("no program settings");
    const auto& row = rows[0];
    if (row[6].as<int>() != 1) throw std::logic_error("the settlement date's lock was not taken");
    batch.program = Program{row[0].as<std::int64_t>(),
                            Micros(row[1].as<std::int64_t>()),
                            Micros(row[2].as<std::int64_t>()),
                            row[3].as<int>(),
                            parse_date(row[4].as<std::string>()),
                            row[10].as<std::string>(),
                            row[11].as<std::string>()};
    if (parse_date(row[5].as<std::string>()) != batch.program.settlement_date) {
        throw BatchNeedsSingleBookings("the batch spans two settlement dates");
    }
    // A later date closed (by a host whose clock is ahead of this one's): the one-claim path
    // answers such claims as for a closed date of their own (settlement_date_is_closed).
    if (!row[12].is_null() && row[12].as<bool>()) {
        throw BatchNeedsSingleBookings("a date after the batch's is closed");
    }
    // Each claim is priced by the program in force when it was accepted (migration 0008); one
    // batch has one program, so a batch across a change is booked claim by claim.
    if (row[9].as<std::int64_t>() != batch.program.version) {
        throw BatchNeedsSingleBookings("the batch spans a program change");
    }
    // Its members are enrolled already; the one-claim path answers these before it enrols
    // anyone.
    if (batch.program.currency != batch.program.current_currency) {
        throw BatchNeedsSingleBookings("claims accepted under a currency replaced since");
    }
    for (const auto& input : batch.inputs) {
        if (purchase_in_other_currency(input, batch.program)) {
            throw BatchNeedsSingleBookings("a purchase is not in the program's currency");
        }
    }
    return json::parse(row[7].as<std::string>()).get<std::set<std::string>>();
}

// Locks the member of every earn and burn and the member of every claim a reversal reverses
// (a reversed claim booked by this very batch has its member among the former), and chooses
// how much of each one's open lots the batch reads (LotsRead): the head for those it burns for,
// none for the others. A reversal needs only the lots of the claim it reverses, which
// read_reversal_targets adds, and the member's balance.
void lock_members(pqxx::work& tx, Batch& batch, const std::set<std::string>& created) {
    std::set<std::string> members;
    std::set<Key> reversed;
    std::map<std::string, std::pair<std::size_t, Points>> burns;  // member → count, points
    for (const auto& input : batch.inputs) {
        const auto type = input.request.type;
        if (type == partners::ClaimType::reversal) {
            reversed.emplace(input.partner_id, input.request.reverses);
            continue;
        }
        members.insert(input.request.member_id);
        if (type == partners::ClaimType::burn) {
            auto& [count, points] = burns[input.request.member_id];
            ++count;
            points += input.request.points;
        }
    }
    const auto ids = strings_json({members.begin(), members.end()});
    for (const auto& row : tx.exec_prepared(kLockMembers.name, ids, keys_json(reversed))) {
        MemberState state;
        state.debt = state.debt_at_lock = Points(row[1].as<std::int64_t>());
        auto id = row[0].as<std::string>();
        state.enrolled = created.count(id) == 0;
        if (const auto burning = burns.find(id); burning != burns.end()) {
            state.lots_read = LotsRead::head;
            state.head_limit = kHeadLotsPerBurn * burning->second.first;
            state.burns = burning->second.second;
        } else {
            state.lots_read = LotsRead::none;
        }
        batch.members.emplace(std::move(id), std::move(state));
    }
}

// Σ remaining of the lots read (all open and unexpired: the read filters on both).
Points points_read(const MemberState& member) {
    Points sum{0};
    for (const auto& lot : member.lots) sum += lot.remaining;
    return sum;
}

// One run of kStoredClaimsAndOpenLots: stored keys, lots, and the sums of member_points (in
// open_unread, still the member's whole total for a head).
void read_rows(pqxx::work& tx, Batch& batch, const std::set<Key>& keys,
               const std::vector<std::string_view>& whole, const std::string& heads,
               const std::vector<std::string_view>& summed) {
    for (const auto& row : tx.exec_prepared(
             kStoredClaimsAndOpenLots.name, keys_json(keys), strings_json(whole),
             date_literal(batch.program.settlement_date), strings_json(summed), heads)) {
        if (!row[0].is_null()) {
            batch.members.at(row[8].as<std::string>()).lots.push_back(lot_from_row(row));
            continue;
        }
        if (!row[14].is_null()) {
            batch.members.at(row[8].as<std::string>()).open_unread =
                Points(row[14].as<std::int64_t>());
            continue;
        }
        const pqxx::binarystring sha256(row[11]);
        Key key{row[9].as<std::string>(), row[10].as<std::string>()};
        StoredClaim stored{crypto::Bytes(sha256.begin(), sha256.end()), row[12].as<int>(),
                           row[13].as<std::string>()};
        // An accepted claim's answer wins over a refused one's (as kFindPriorClaim's order),
        // whichever the statement returns first. Since the key locks, a key has only one.
        if (stored.status < 300) {
            batch.stored.insert_or_assign(std::move(key), std::move(stored));
        } else {
            batch.stored.emplace(std::move(key), std::move(stored));
        }
    }
}

// A head read, settled: the points of the lots left unread are the member's total less what
// was read. A head shorter than asked for is every open lot; one that holds fewer points than
// the member's burns could take is not enough (returns false) and is read again whole. One
// that holds at least as many is: burns take in FIFO order, so a burn could reach an unread lot
// only after emptying every lot of the head, having taken more than the burns' points.
bool settle_head(MemberState& member) {
    const Points read = points_read(member);
    count_as_read(member, read);
    if (member.lots.size() < member.head_limit) {
        if (member.open_unread != Points(0)) {
            throw std::logic_error("member_points disagrees with the member's open lots");
        }
        member.lots_read = LotsRead::all;
        return true;
    }
    return read >= member.burns;
}

void read_stored_claims_and_open_lots(pqxx::work& tx, Batch& batch) {
    // Every member's total; the heads of those the batch burns for (lock_members chose).
    std::vector<std::string_view> members;
    JsonText heads;
    heads.begin_array();
    for (const auto& [id, member] : batch.members) {
        members.push_back(id);
        if (member.lots_read == LotsRead::head) {
            heads.begin_object()
                .field("id", id)
                .field("lots", static_cast<std::int64_t>(member.head_limit))
                .end_object();
        }
    }
    read_rows(tx, batch, batch.keys, {}, heads.end_array().take(), members);

    std::vector<std::string_view> short_heads;
    for (auto& [id, member] : batch.members) {
        if (member.lots_read == LotsRead::head && !settle_head(member)) {
            member.lots.clear();
            member.open_unread = Points(0);
            member.lots_read = LotsRead::all;
            short_heads.push_back(id);
        }
    }
    if (!short_heads.empty()) read_rows(tx, batch, {}, short_heads, "[]", {});
}

// ---- Step 4: deciding each claim in memory --------------------------------------------------

void decide_earn(Batch& batch, std::size_t index) {
    const auto& input = batch.inputs[index];
    const auto& request = input.request;
    const Program& program = batch.program;
    auto& member = batch.members.at(request.member_id);
    member.enrolled = true;

    const Points balance = balance_of(member, program.settlement_date) + request.points;
    const auto earn = ledger::apply_earn(member.debt, request.points);
    const auto placeholder = kFirstNewId + static_cast<ledger::LotId>(batch.new_lots.size());
    member.lots.push_back(ledger::make_lot(placeholder, input.partner_id, earn, input.accepted_at_us,
                                           program.settlement_date, program.validity_months));
    member.debt = earn.new_debt;

    batch.new_lots.push_back(NewLot{batch.booked.size(),
                                    placeholder,
                                    request.member_id,
                                    value_of(request.points, program.issue_fee),
                                    {}});
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
    auto* member = member_with_lots(batch.members, request.member_id, LotsRead::head);
    if (member == nullptr || !member->enrolled) {
        return refusal(ErrorCode::unknown_member, "no member with this id", "member_id");
    }
    auto plan =
        ledger::plan_burn(member->lots, member->debt, request.points, input.partner_id,
                          program.point_value, program.settlement_date, member->open_unread);
    if (!plan) return refusal(plan.error(), "the member's balance does not cover this burn", "points");
    const auto& burn = plan.value();
    ledger::apply_lot_updates(member->lots, burn.lot_updates);
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
            note_refusal(batch, i);
        } else {
            batch.booked_keys.emplace(key_of(input), batch.booked.size() - 1);
        }
    }
    decide_reversals(batch);
}

std::vector<BookingResult> book_batch(pqxx::connection& connection,
                                      std::span<const BookingInput> inputs) {
    prepare_statements(connection);
    pqxx::work tx(connection);
    Batch batch;
    batch.inputs = inputs;
    batch.results.resize(inputs.size());
    batch.accepted_at.reserve(inputs.size());
    for (const auto& input : inputs) {
        batch.accepted_at.push_back(timestamp_literal(input.accepted_at_us));
        batch.keys.insert(key_of(input));
    }

    const auto enrolled_by = enrolments(batch);
    const auto created = open_batch(tx, batch, enrolled_by);
    lock_members(tx, batch, created);
    read_stored_claims_and_open_lots(tx, batch);
    read_reversal_targets(tx, batch);

    decide(batch);
    // A member enrolled above must be enrolled as one claim at a time would: by the partner of
    // its first booked earn. The earn it was enrolled for may have turned out to be a conflicting
    // reuse of a stored key (409), leaving the member with no booked earn, or with another
    // partner's. Members are never deleted and enrolled_by is kept: the batch must not commit it.
    if (!created.empty() && !enrolled_as_one_by_one(batch, created, enrolled_by)) {
        throw BatchNeedsSingleBookings("a member was enrolled for an earn that is not booked");
    }
    // Reversals left to the one-claim path may write lot_expiries, after the batch's claims.
    if (!batch.deferred.empty()) lock_expiries_before_claims(tx);
    write_decisions(tx, batch);
    std::vector<Refused> refused;
    for (const auto& [key, index] : batch.refused_keys) {
        refused.push_back(Refused{&inputs[index], &*batch.results[index]});
    }
    store_refusals(tx, refused);

    // Reversals left to the one-claim path (decide_reversals): booked by it, in the same
    // transaction, a refusal kept at once. Each key is looked up first, as book_once does: a
    // retry later in the list (same key, deferred with its twin) gets the twin's answer or 409.
    for (const auto index : batch.deferred) {
        if (auto prior = prior_outcome(tx, inputs[index])) {
            batch.results[index] = std::move(*prior);
            continue;
        }
        try {
            batch.results[index] =
                book_reversal(tx, inputs[index], batch.program, batch.accepted_at[index]);
        } catch (const LotExpiredWhileWaiting& e) {
            throw BatchNeedsSingleBookings(e.what());  // as for the batch's own lot updates
        }
        if (is_ledger_refusal(*batch.results[index])) {
            store_refusals(tx, {Refused{&inputs[index], &*batch.results[index]}});
        }
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
