#pragma once
// The one component every claim is booked through: handlers hand it a validated claim and get
// the outcome back asynchronously, only once the transaction that stored it has committed.
//
// Group commit: claims from all connections wait in one queue, and a batcher thread sends them
// to the database pool in batches of at most `max_claims` (storage::book_claims: one
// transaction, a fixed number of statements). A batch leaves when it is full, at once when no
// batch is running (an idle server adds no wait), or `max_wait_ms` after its oldest claim
// arrived; at most `max_in_flight` batches run at once, so that under load the next batch grows
// while the running ones commit, and no two of them name the same member. If a batch fails as a
// whole for a reason that is not the database being away (a key booked meanwhile by another
// process, a deadlock with a one-claim reversal, claims across midnight or a program change),
// each of its claims is booked again in a transaction of its own, one after another in the
// batch's order: the one-claim path decides exactly as the batch would have, and idempotency
// keys make the retry safe.
#include "storage/claim_booking.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace coalition::server {

class DatabasePool;
class Logger;

// The database could not be reached: answer 503 (nothing was stored; a retry with the same
// webhook-id books it).
struct BookingUnavailable {};
// The connection broke during the claim's COMMIT: it may be stored or not. Never 503, which
// promises nothing was stored; a 500 saying so, and the retry with the same webhook-id is
// replayed or booked.
struct BookingInDoubt {};
// An unexpected failure (a bug or a broken invariant): answer 500 and log.
struct BookingFailed {
    std::string reason;
};

using BookingOutcome =
    std::variant<storage::BookingResult, BookingUnavailable, BookingInDoubt, BookingFailed>;

// Always given whole: the server fills it from Settings' batch_max_*, which hold the defaults
// (and docs/operators.md says them); a second copy here would drift.
struct BatchLimits {
    int max_claims;
    int max_wait_ms;
    int max_in_flight;
};

class BookingService {
public:
    using Done = std::function<void(BookingOutcome)>;

    BookingService(DatabasePool& database, Logger& logger, BatchLimits limits);
    ~BookingService();  // stop()
    BookingService(const BookingService&) = delete;
    BookingService& operator=(const BookingService&) = delete;

    // `done` is called exactly once, on a database thread (or on the caller's when stopped).
    void submit(storage::BookingInput input, Done done);

    // Calls `then` once no attempt of the partner's claim `webhook_id` submitted here is waiting
    // or being booked: at once, on the caller's thread, when none is; else on the thread that
    // answers the last of them, right after its `done`. An answer given without booking (the
    // partner suspended meanwhile, an invalid body) reads the id's stored answer only then:
    // read while the first attempt still waits in the queue, it would find nothing and say so,
    // and that attempt would commit after it.
    void after_attempts_of(const std::string& partner_id, const std::string& webhook_id,
                           std::function<void()> then);

    // Sends every waiting claim to the pool, without waiting for slots or deadlines (a claim
    // on a member a running batch holds, or a reversal of a claim in flight, is answered
    // unavailable instead: booked beside that batch it could be decided before an earlier
    // claim), and stops the batcher; later
    // submissions are answered unavailable. Call before stopping the pool. Idempotent.
    void stop();

private:
    struct Waiting {
        storage::BookingInput input;
        Done done;
        std::chrono::steady_clock::time_point arrived;
    };
    struct Batch {
        std::vector<storage::BookingInput> inputs;
        std::vector<Done> dones;
        std::vector<std::string> members;  // those its claims name (reversals name none)
        std::vector<std::string> keys;     // claim_key of its earns and burns
        // Booked one by one: whether a claim's lock wait timed out, and the member of the first
        // that did ("" for a reversal, whose member the batch does not know).
        bool lock_timed_out = false;
        std::string lock_timed_out_member;
    };
    struct Ready {
        std::size_t claims = 0;
        std::chrono::steady_clock::time_point oldest;
    };

    void batcher_loop();
    // The waiting claims that may leave now: those whose member no running batch holds, and the
    // reversals whose target is neither running nor staying in the queue. Called with mutex_
    // held, as take_batch. Each pass over the queue goes in arrival order and collects, in
    // `keys_staying`, the claim_key of every earn and burn it leaves waiting.
    Ready ready_claims() const;
    using KeysStaying = std::unordered_set<std::string>;
    bool may_leave(const Waiting& waiting, const KeysStaying& keys_staying) const;
    // An earn or burn left waiting by a pass: a reversal of it after it in the queue must stay.
    static void note_staying(const Waiting& waiting, KeysStaying& keys_staying);
    // Removes the waiting claims that may not leave (their member held by a running batch, or
    // a reversal whose target is running or held); returns their callbacks. With mutex_ held.
    std::vector<Done> take_held_claims();
    // Up to `max_claims` ready claims in arrival order, their members marked busy.
    std::shared_ptr<Batch> take_batch(std::size_t max_claims);
    void send(std::shared_ptr<Batch> batch);
    void book_one_by_one(std::shared_ptr<Batch> batch);
    // Whether claim `claim` of the batch names the member whose lock already timed out.
    static bool names_held_member(const Batch& batch, std::size_t claim);
    // Records claim `claim`'s lock timeout, and its member as the batch's held member, if it is
    // the batch's first; false for a second, which is taken for a held table.
    static bool take_as_held_member(Batch& batch, std::size_t claim);
    void book_in_order(std::shared_ptr<Batch> batch,
                       std::shared_ptr<const std::vector<std::size_t>> order, std::size_t next);
    // Frees the batch's in-flight slot and/or its members and claim keys for the batches after
    // it.
    void release(const Batch& batch, bool slot, bool members);

    DatabasePool& database_;
    Logger& logger_;
    const BatchLimits limits_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Waiting> waiting_;
    int in_flight_ = 0;
    // Members named by the claims of the batches in flight, with how many batches name each. A
    // claim on such a member waits here for that batch instead of leaving in another one that
    // would only queue behind the member's row lock: the other members' claims of that other
    // batch are not held up, and no pool connection sits waiting on a row lock. (A hot member's
    // own rate is unchanged: its batches run one after another either way.)
    std::unordered_map<std::string, int> busy_members_;
    // The claim keys (partner and webhook-id) of the earns and burns in flight, with how many
    // batches hold each. A reversal names no member, so busy_members_ cannot hold it back; but
    // when the claim it reverses is still being booked, or still waits in the queue, it waits
    // too: leaving first, it would find no target and be refused for good (422
    // reversal_target_not_found is kept with its key) although its target arrived before it.
    std::unordered_map<std::string, int> busy_keys_;
    // Every claim key submitted and not answered yet, with how many attempts; and what waits
    // for the last of them to be answered (after_attempts_of).
    std::unordered_map<std::string, int> unanswered_keys_;
    std::unordered_map<std::string, std::vector<std::function<void()>>> after_answers_;
    // `done`, then the end of its key's attempt (attempt_answered).
    Done answering(std::string key, Done done);
    void attempt_answered(const std::string& key);
    bool stopping_ = false;
    // What the batcher waits for while it waits. A claim's arrival wakes it only when the
    // arrival can change what it does (arrival_wakes_batcher): not once per claim while the next
    // batch fills, which cost a context switch and a scan of the queue for every claim.
    enum class BatcherWait { nothing, arrival, deadline, slot };
    BatcherWait batcher_wait_ = BatcherWait::nothing;
    bool arrival_wakes_batcher() const;
    std::thread batcher_;
};

}  // namespace coalition::server
