#pragma once
// The working state of one group-commit batch (storage/claim_batch.cpp): what was read under the
// member locks, and what the batch decided to write. Internal to storage/.
#include "core/json_text.hpp"
#include "ledger/lot.hpp"
#include "ledger/slice.hpp"
#include "storage/booking_steps.hpp"
#include "storage/claim_batch.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coalition::storage::batch {

using Key = std::pair<std::string, std::string>;  // (partner_id, webhook_id)

inline Key key_of(const BookingInput& input) { return {input.partner_id, input.webhook_id}; }

// The keys as the JSON array the batch statements expand with
// json_to_recordset(…) AS k(partner_id text, webhook_id text).
inline std::string keys_json(const std::set<Key>& keys) {
    JsonText rows;
    rows.begin_array();
    for (const auto& [partner, webhook] : keys) {
        rows.begin_object().field("partner_id", partner).field("webhook_id", webhook).end_object();
    }
    return rows.end_array().take();
}

// The stored claim with key (k.partner_id, k.webhook_id), its `columns`, for
// `json_to_recordset(…) AS k(…) CROSS JOIN LATERAL CLAIM_BY_KEY(…) AS c`: one probe of the key's
// unique index whatever the table's statistics. Statements are planned once per connection, and
// a plan made while claims is tiny (a new database) is kept until an ANALYZE, however the table
// grows meanwhile:
// - a plain join with claims was planned as a hash join over a scan of the whole index (10,000
//   entries read a batch at 5,000 claims); a LATERAL subquery with a LIMIT is never merged into a
//   join, so it stays one look-up a key;
// - on a tiny table the other unique index led by partner_id, (partner_id, id, type, member_id),
//   costs the same as the key's and was chosen, reading every claim of the partner. The
//   webhook-id is therefore compared as a range of one value (>= and <=, equal only for equal
//   strings), which leaves an ORDER BY webhook_id that only the key's index gives without a sort.
#define CLAIM_BY_KEY(columns)                                         \
    "(SELECT " columns                                                \
    " FROM claims "                                                   \
    "WHERE partner_id = k.partner_id AND webhook_id >= k.webhook_id " \
    "AND webhook_id <= k.webhook_id ORDER BY webhook_id LIMIT 1)"

// Strings (member ids) as the JSON array the batch statements expand with
// json_array_elements_text(…).
inline std::string strings_json(const std::vector<std::string_view>& strings) {
    JsonText array;
    array.begin_array();
    for (const auto text : strings) array.value(text);
    return array.end_array().take();
}

// Claims, lots and slices this batch creates get ids above every real one until the write draws
// their ids (in the same order), so that FIFO ties (same expiry and acceptance time) break as
// they will once stored.
inline constexpr std::int64_t kFirstNewId = std::int64_t{1} << 62;

inline bool is_new(std::int64_t id) { return id >= kFirstNewId; }

// The placeholder that names the claim booked[booked] until the write draws its id.
inline std::int64_t claim_placeholder(std::size_t booked) {
    return kFirstNewId + static_cast<std::int64_t>(booked);
}

// How much of a member's open lots a batch read:
// - none: a member the batch does not burn for needs its balance, not its lots; it gets the
//   points of its unexpired lots as a sum (open_unread), from its totals per expiry date
//   (member_points);
// - head: a member the batch burns for gets the first lots in FIFO order that its burns can take
//   from, and the points of the rest as a sum (open_unread);
// - all: every open lot (a head that was all there is, or that fell short of the burns).
// A reversal changes only the lots of the claim it reverses: read_reversal_targets adds those,
// and takes their points out of open_unread.
enum class LotsRead { none, head, all };

struct MemberState {
    Points debt{0};
    Points debt_at_lock{0};
    // Open lots read when locked (see lots_read), lots read for the batch's reversals, then as
    // this batch changes them.
    std::vector<ledger::Lot> lots;
    LotsRead lots_read = LotsRead::none;
    std::size_t head_limit = 0;  // head: how many lots were asked for
    Points burns{0};             // head: Σ points of the member's burns in the batch
    Points open_unread{0};       // Σ remaining of the unexpired lots not in `lots` (not read)
    bool enrolled = true;        // false until its first earn, for a member this batch enrolls
};

// Σ remaining of the member's open lots − debt, as ledger::balance, counting the lots the batch
// did not read as a sum (open_unread).
inline Points balance_of(const MemberState& member, ledger::Date today) {
    return ledger::balance(member.lots, member.debt, today) + member.open_unread;
}

// Moves `points` of the member's lots read from its unread total to the lots in hand; a total
// smaller than the lots it sums is a drift of member_points (coalitionctl check names it).
inline void count_as_read(MemberState& member, Points points) {
    member.open_unread -= points;
    if (member.open_unread < Points(0)) {
        throw std::logic_error("member_points holds less than the lots read");
    }
}

// A member whose lots a burn (`needed` head) or a reversal (`needed` none: it reads its own) is
// about to take from or change, or null when the batch did not lock it. A locked member must
// have had enough of its lots read: reaching here with another is a hole in the batch's choice
// of whose lots to read, and the batch then asks to be booked one claim at a time, which reads
// every member's lots.
inline MemberState* member_with_lots(std::map<std::string, MemberState>& members,
                                     const std::string& id, LotsRead needed) {
    const auto found = members.find(id);
    if (found == members.end()) return nullptr;
    if (found->second.lots_read < needed) {
        throw BatchNeedsSingleBookings(
            "a burn or a reversal met a member whose lots were not read");
    }
    return &found->second;
}

// A claim of the batch or a stored one, as a reversal names it.
struct ClaimRef {
    std::int64_t stored_id = 0;  // claims.id, or 0 for a claim this batch books
    std::size_t booked = 0;      // index into Batch::booked when stored_id == 0
    friend auto operator<=>(const ClaimRef&, const ClaimRef&) = default;
};

// A claim this batch stores.
struct BookedClaim {
    std::size_t input = 0;  // index into the batch
    std::string_view type;
    std::string member_id;
    Points points{0};
    std::string body;
    std::optional<ClaimRef> reverses;  // reversals
    std::string reverses_type;
};

struct NewLot {
    std::size_t claim = 0;  // index into booked
    ledger::LotId placeholder = 0;
    std::string member_id;
    Micros fee{0};
    std::optional<std::size_t> reversed_by;      // index into booked: reversed by this batch
};

// An existing lot's change: first before, last after, and the reversal that emptied it.
struct LotChange {
    ledger::LotUpdate update;
    std::optional<std::size_t> reversed_by;  // index into booked
};

struct NewSlice {
    std::size_t claim = 0;  // index into booked
    ledger::Slice slice;    // id: a placeholder (kFirstNewId + index into Batch::slices)
};

struct StoredClaim {
    crypto::Bytes sha256;
    int status = 0;
    std::string body;
};

// A stored claim that a reversal of the batch names.
struct StoredTarget {
    std::int64_t id = 0;
    std::string type;
    std::string member_id;
    Points points{0};
    bool reversed = false;
};

struct Batch {
    std::span<const BookingInput> inputs;
    std::vector<std::string> accepted_at;  // timestamp literal of each input
    std::set<Key> keys;                    // of every input: locked, then looked up
    booking_steps::Program program;
    std::vector<std::optional<BookingResult>> results;

    std::map<std::string, MemberState> members;  // every member locked
    std::map<Key, StoredClaim> stored;            // keys already booked before this batch
    std::map<Key, std::size_t> booked_keys;       // keys this batch books → index into booked
    std::map<Key, std::size_t> refused_keys;      // keys this batch refuses → index into inputs
    std::vector<BookedClaim> booked;
    std::vector<NewLot> new_lots;
    std::map<ledger::LotId, LotChange> lot_changes;  // existing lots
    std::vector<NewSlice> slices;

    // Read for the reversals: stored targets by key, the lot each stored earn created, the
    // slices of each stored burn.
    std::map<Key, StoredTarget> stored_targets;
    std::map<std::int64_t, ledger::LotId> lot_of_earn;
    std::map<std::int64_t, std::vector<ledger::Slice>> slices_of_burn;
    std::set<ClaimRef> reversed;               // claims this batch reverses
    std::set<Key> deferred_keys;               // reversal keys left to the one-claim path
    std::set<std::string> deferred_members;    // members of those reversals
    std::vector<std::size_t> deferred;         // inputs booked one by one after the writes
};

// Records a lot's change by a burn or a reversal: lots new in this batch are inserted with their
// final state; existing ones are updated from their first old value to their last new one.
inline LotChange* record_lot_update(Batch& batch, const ledger::LotUpdate& update) {
    if (is_new(update.lot_id)) return nullptr;
    auto [entry, first] = batch.lot_changes.try_emplace(update.lot_id, LotChange{update, {}});
    if (!first) entry->second.update.remaining_after = update.remaining_after;
    return &entry->second;
}

// After a claim's decision: a refusal is kept with its key, for the claim's retries in this
// batch (answer_known_key) and after it (written with the batch).
inline void note_refusal(Batch& batch, std::size_t index) {
    const auto& result = batch.results[index];
    if (result && booking_steps::is_ledger_refusal(*result)) {
        batch.refused_keys.emplace(key_of(batch.inputs[index]), index);
    }
}

// A claim whose key was stored before the batch, or booked or refused by it already, is answered
// like a retry: the stored response, or 409 when the body differs. Returns whether it was.
inline bool answer_known_key(Batch& batch, std::size_t index) {
    const auto& input = batch.inputs[index];
    const auto key = key_of(input);
    if (const auto stored = batch.stored.find(key); stored != batch.stored.end()) {
        batch.results[index] = booking_steps::replay_or_conflict(
            input, stored->second.sha256, stored->second.status, stored->second.body);
        return true;
    }
    if (const auto twin = batch.booked_keys.find(key); twin != batch.booked_keys.end()) {
        const auto& first = batch.booked[twin->second];
        batch.results[index] = booking_steps::replay_or_conflict(
            input, batch.inputs[first.input].request_sha256, 201, first.body);
        return true;
    }
    if (const auto twin = batch.refused_keys.find(key); twin != batch.refused_keys.end()) {
        const auto& first = *batch.results[twin->second];
        batch.results[index] = booking_steps::replay_or_conflict(
            input, batch.inputs[twin->second].request_sha256, first.status, first.body);
        return true;
    }
    return false;
}

}  // namespace coalition::storage::batch
