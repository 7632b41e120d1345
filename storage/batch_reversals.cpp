#include "storage/batch_reversals.hpp"

#include "ledger/burn.hpp"
#include "ledger/reversal.hpp"
#include "storage/ledger_rows.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>

namespace coalition::storage::batch {
namespace {

using namespace booking_steps;
using nlohmann::json;

// The stored claims the reversals name, by key, and whether a reversal names each already.
constexpr const char* kTargets = "batch_reversal_targets";
constexpr const char* kTargetsSql =
    "SELECT k.partner_id, k.webhook_id, c.id, c.type, c.member_id, c.points, "
    "       EXISTS (SELECT 1 FROM claims r WHERE r.reverses_claim_id = c.id) "
    "FROM json_to_recordset($1::json) AS k(partner_id text, webhook_id text) "
    "CROSS JOIN LATERAL " CLAIM_BY_KEY("id, type, member_id, points") " AS c";

// The lot each earn ($1: claim ids) created, and every lot the burns ($2) drew on, whatever
// they hold now (LOT_COLUMNS, then member_id, claim_id and whether it is an earn's own lot).
constexpr const char* kTargetLots = "batch_reversal_target_lots";
// Two index probes joined by UNION: with OR, the planner scans the whole table.
constexpr const char* kTargetLotsSql =
    "SELECT " LOT_COLUMNS ", member_id, claim_id, reissued_from_lot_id IS NULL FROM lots "
    "WHERE claim_id = ANY (ARRAY(SELECT json_array_elements_text($1::json)::bigint)) "
    "  AND reissued_from_lot_id IS NULL "
    "UNION "
    "SELECT " LOT_COLUMNS ", member_id, claim_id, reissued_from_lot_id IS NULL FROM lots "
    "WHERE id = ANY (ARRAY(SELECT lot_id FROM slices WHERE kind = 'burn' "
    "  AND claim_id = ANY (ARRAY(SELECT json_array_elements_text($2::json)::bigint))))";

// The burn slices of the burns ($1), as the one-claim path reads them.
constexpr const char* kBurnSlices = "batch_reversal_burn_slices";
constexpr const char* kBurnSlicesSql =
    "SELECT claim_id, " BURN_SLICE_COLUMNS " FROM slices WHERE kind = 'burn' "
    "  AND claim_id = ANY (ARRAY(SELECT json_array_elements_text($1::json)::bigint)) "
    "ORDER BY id";

void read_targets(pqxx::work& tx, Batch& batch) {
    std::set<Key> keys;
    for (const auto& input : batch.inputs) {
        if (input.request.type == partners::ClaimType::reversal) {
            keys.emplace(input.partner_id, input.request.reverses);
        }
    }
    if (keys.empty()) return;
    for (const auto& row : tx.exec_prepared(kTargets, keys_json(keys))) {
        batch.stored_targets.emplace(
            Key{row[0].as<std::string>(), row[1].as<std::string>()},
            StoredTarget{row[2].as<std::int64_t>(), row[3].as<std::string>(), row[4].as<std::string>(),
                         Points(row[5].as<std::int64_t>()), row[6].as<bool>()});
    }
}

void read_target_rows(pqxx::work& tx, Batch& batch) {
    json earns = json::array();
    json burns = json::array();
    for (const auto& [key, target] : batch.stored_targets) {
        if (target.type == "earn") earns.push_back(target.id);
        if (target.type == "burn") burns.push_back(target.id);
    }
    if (earns.empty() && burns.empty()) return;
    for (const auto& row : tx.exec_prepared(kTargetLots, earns.dump(), burns.dump())) {
        auto lot = lot_from_row(row);
        if (row[10].as<bool>()) batch.lot_of_earn.emplace(row[9].as<std::int64_t>(), lot.id);
        auto* member = member_with_lots(batch.members, row[8].as<std::string>(), LotsRead::none);
        if (member == nullptr) continue;  // not locked: its reversal is deferred
        auto& lots = member->lots;
        // A lot read as open already may have changed in this batch: keep that state.
        const bool known = std::any_of(lots.begin(), lots.end(),
                                       [&](const ledger::Lot& held) { return held.id == lot.id; });
        if (known) continue;
        // Its points, when they count, were in the member's unread total: now they are read.
        if (ledger::is_open(lot, batch.program.settlement_date))
            count_as_read(*member, lot.remaining);
        lots.push_back(std::move(lot));
    }
    if (burns.empty()) return;
    for (const auto& row : tx.exec_prepared(kBurnSlices, burns.dump())) {
        auto slice = burn_slice_from_row(row, 1);
        batch.slices_of_burn[row[0].as<std::int64_t>()].push_back(std::move(slice));
    }
}

// The claim a reversal names, as this batch sees it.
struct Target {
    ClaimRef ref;
    std::string type;
    std::string member_id;
    Points points{0};
    bool reversed = false;
};

std::optional<Target> find_target(const Batch& batch, const BookingInput& input) {
    const Key key{input.partner_id, input.request.reverses};
    if (const auto booked = batch.booked_keys.find(key); booked != batch.booked_keys.end()) {
        const auto& claim = batch.booked[booked->second];
        const ClaimRef ref{0, booked->second};
        return Target{ref, std::string(claim.type), claim.member_id, claim.points,
                      batch.reversed.count(ref) != 0};
    }
    if (const auto stored = batch.stored_targets.find(key); stored != batch.stored_targets.end()) {
        const auto& target = stored->second;
        const ClaimRef ref{target.id, 0};
        return Target{ref, target.type, target.member_id, target.points,
                      target.reversed || batch.reversed.count(ref) != 0};
    }
    return std::nullopt;
}

ledger::Lot& lot_by_id(MemberState& member, ledger::LotId id) {
    const auto lot = std::find_if(member.lots.begin(), member.lots.end(),
                                  [&](const ledger::Lot& held) { return held.id == id; });
    if (lot == member.lots.end()) throw std::logic_error("a reversed claim's lot was not read");
    return *lot;
}

NewLot& new_lot(Batch& batch, ledger::LotId placeholder) {
    return batch.new_lots.at(static_cast<std::size_t>(placeholder - kFirstNewId));
}

// The lot the earn created: stored, or created by this batch.
ledger::LotId lot_of_earn(const Batch& batch, const ClaimRef& earn) {
    if (earn.stored_id != 0) {
        const auto found = batch.lot_of_earn.find(earn.stored_id);
        if (found == batch.lot_of_earn.end()) throw std::logic_error("earn claim without its lot");
        return found->second;
    }
    for (const auto& created : batch.new_lots) {
        if (created.claim == earn.booked) return created.placeholder;
    }
    throw std::logic_error("earn of this batch without its lot");
}

// Decides an earn reversal; false (deferred) when the lot has expired holding points, or when it
// repaid debt: burn reversals may have given some of that back as lots the one-claim path reads
// and empties with it (ledger::plan_earn_reversal).
bool decide_earn_reversal(Batch& batch, MemberState& member, const Target& target,
                          BookedClaim& claim) {
    const auto& input = batch.inputs[claim.input];
    const Date today = batch.program.settlement_date;
    const auto lot_id = lot_of_earn(batch, target.ref);
    auto& lot = lot_by_id(member, lot_id);
    if (lot.debt_repaid > Points(0)) return false;
    auto plan = ledger::plan_earn_reversal(lot, member.debt, today);
    if (!plan) {
        batch.results[claim.input] =
            refusal(plan.error(), "that claim has been reversed already", "reverses");
        return true;
    }
    const auto& reversal = plan.value();
    if (!reversal.expiry_snapshots.empty()) return false;
    const Points balance =
        balance_of(member, today) - reversal.removed_from_balance - reversal.debt_added;
    const auto index = batch.booked.size();
    if (auto* change = record_lot_update(batch, reversal.lot_update)) {
        change->reversed_by = index;
    } else {
        new_lot(batch, lot_id).reversed_by = index;
    }
    lot.remaining = reversal.lot_update.remaining_after;
    lot.reversed = true;
    member.debt = reversal.new_debt;
    claim.body = accepted_body(input, "reversal", target.member_id, target.points, balance, today);
    return true;
}

// Decides a burn reversal; false when a returned point lands in an expired lot or in a lot whose
// earn was reversed (deferred: the one-claim path reads the member's repayments of debt, which
// such points may give back, ledger::plan_burn_reversal).
bool decide_burn_reversal(Batch& batch, MemberState& member, const Target& target,
                          BookedClaim& claim) {
    const auto& input = batch.inputs[claim.input];
    const Date today = batch.program.settlement_date;
    ledger::BurnRecord burn;
    if (target.ref.stored_id != 0) {
        const auto found = batch.slices_of_burn.find(target.ref.stored_id);
        if (found == batch.slices_of_burn.end()) throw std::logic_error("burn claim without slices");
        burn.slices = found->second;
    } else {
        for (const auto& created : batch.slices) {
            if (created.claim == target.ref.booked) burn.slices.push_back(created.slice);
        }
    }
    const bool into_reversed_lot =
        std::any_of(burn.slices.begin(), burn.slices.end(), [&](const ledger::Slice& slice) {
            return std::any_of(member.lots.begin(), member.lots.end(), [&](const ledger::Lot& lot) {
                return lot.id == slice.lot_id && lot.reversed;
            });
        });
    if (into_reversed_lot) return false;
    auto plan = ledger::plan_burn_reversal(burn, member.lots, member.debt, today);
    if (!plan) {
        batch.results[claim.input] =
            refusal(plan.error(), "that claim has been reversed already", "reverses");
        return true;
    }
    const auto& reversal = plan.value();
    if (!reversal.breakage.empty() || !reversal.expiry_snapshots.empty()) return false;
    const auto index = batch.booked.size();
    ledger::apply_lot_updates(member.lots, reversal.lot_updates);
    for (const auto& update : reversal.lot_updates) record_lot_update(batch, update);
    for (auto slice : reversal.slices) {
        slice.id = kFirstNewId + static_cast<std::int64_t>(batch.slices.size());
        batch.slices.push_back(NewSlice{index, std::move(slice)});
    }
    // Reissues come only of points returned to a reversed lot, deferred above.
    if (!reversal.reissues.empty()) throw std::logic_error("a reissue decided in a batch");
    member.debt = reversal.new_debt;
    // The ledger's balance is over the lots read; the points left unread count too.
    claim.body = accepted_body(input, "reversal", target.member_id, target.points,
                               reversal.balance_after + member.open_unread, today);
    return true;
}

// Decides one reversal; false when it is deferred to the one-claim path.
bool decide_reversal(Batch& batch, std::size_t index) {
    const auto& input = batch.inputs[index];
    const auto target = find_target(batch, input);
    // Its target is a reversal of this batch left to the one-claim path, stored there before
    // it: it goes there too, to find that target as one at a time it would.
    if (!target && batch.deferred_keys.count(Key{input.partner_id, input.request.reverses}) != 0) {
        return false;
    }
    if (!target) {
        batch.results[index] = refusal(ErrorCode::reversal_target_not_found,
                                       "this partner has no claim with that webhook-id", "reverses");
        return true;
    }
    if (target->type == "reversal") {
        batch.results[index] = refusal(ErrorCode::reversal_target_not_found,
                                       "only earns and burns can be reversed", "reverses");
        return true;
    }
    // After a reversal of its member left to the one-claim path, which books it after the rest,
    // the member's later reversals go there too, in their order: decided here, before it, they
    // would find the member as it was before it (its debt; its target not reversed yet), which
    // booked one at a time they do not.
    if (batch.deferred_members.count(target->member_id) != 0) return false;
    if (target->reversed) {
        batch.results[index] = refusal(ErrorCode::already_reversed,
                                       "that claim has been reversed already", "reverses");
        return true;
    }
    // A claim stored after the members were locked: its member is not held by this batch.
    auto* member = member_with_lots(batch.members, target->member_id, LotsRead::none);
    if (member == nullptr) {
        batch.deferred_members.insert(target->member_id);
        return false;
    }

    BookedClaim claim{index, "reversal", target->member_id, target->points, {}, target->ref, target->type};
    const bool decided = target->type == "earn"
                             ? decide_earn_reversal(batch, *member, *target, claim)
                             : decide_burn_reversal(batch, *member, *target, claim);
    if (!decided) {
        batch.deferred_members.insert(target->member_id);
        return false;
    }
    if (batch.results[index]) return true;
    batch.booked_keys.emplace(key_of(input), batch.booked.size());
    batch.reversed.insert(target->ref);
    batch.booked.push_back(std::move(claim));
    return true;
}

}  // namespace

void prepare_reversal_statements(pqxx::connection& connection) {
    connection.prepare(kTargets, kTargetsSql);
    connection.prepare(kTargetLots, kTargetLotsSql);
    connection.prepare(kBurnSlices, kBurnSlicesSql);
}

void read_reversal_targets(pqxx::work& tx, Batch& batch) {
    read_targets(tx, batch);
    read_target_rows(tx, batch);
}

void decide_reversals(Batch& batch) {
    for (std::size_t i = 0; i < batch.inputs.size(); ++i) {
        const auto& input = batch.inputs[i];
        if (input.request.type != partners::ClaimType::reversal) continue;
        if (answer_known_key(batch, i)) continue;
        const auto key = key_of(input);
        // A retry of a deferred reversal goes with it, and is answered by its replay there.
        if (batch.deferred_keys.count(key) != 0 || !decide_reversal(batch, i)) {
            batch.deferred.push_back(i);
            batch.deferred_keys.insert(key);
            continue;
        }
        note_refusal(batch, i);
    }
}

}  // namespace coalition::storage::batch
