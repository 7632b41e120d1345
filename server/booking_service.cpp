#include "server/booking_service.hpp"

#include "server/db_pool.hpp"
#include "server/logger.hpp"
#include "storage/claim_batch.hpp"
#include "storage/claim_booking.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/except>

#include <memory>
#include <string_view>
#include <unordered_set>

namespace coalition::server {
namespace {

// The answer to a claim whose own booking failed as a whole.
BookingOutcome failure_outcome(std::exception_ptr failure, const std::string& partner_id,
                               Logger& logger) {
    try {
        std::rethrow_exception(failure);
    } catch (const CommitOutcomeUnknown&) {
        return BookingInDoubt{};  // logged by the pool
    } catch (const storage::ProgramCurrencyReplaced& e) {
        logger.log(LogLevel::warn, "claim not booked: its currency was replaced",
                   {{"partner_id", partner_id}, {"error", e.what()}});
        return BookingUnavailable{};
    } catch (const storage::SettlementDateClosedAhead& e) {
        logger.log(LogLevel::warn, "claim not booked: its date was closed by a clock ahead of ours",
                   {{"partner_id", partner_id}, {"error", e.what()}});
        return BookingUnavailable{};
    } catch (const DatabaseUnavailable& e) {
        logger.log(LogLevel::warn, "claim not booked: database unavailable",
                   {{"partner_id", partner_id}, {"error", e.what()}});
        return BookingUnavailable{};
    } catch (const pqxx::transaction_rollback& e) {
        // A deadlock's victim or a serialization failure (SQLSTATE class 40): PostgreSQL rolled
        // the transaction back, and a retry will do. libpqxx 6 throws these as
        // transaction_rollback, which is no sql_error and carries no SQLSTATE.
        logger.log(LogLevel::warn, "claim not booked: transaction rolled back",
                   {{"partner_id", partner_id}, {"error", e.what()}});
        return BookingUnavailable{};
    } catch (const pqxx::sql_error& e) {
        const std::string state = e.sqlstate();
        const bool transient = is_transient_sqlstate(state);
        logger.log(transient ? LogLevel::warn : LogLevel::error, "claim not booked",
                   {{"partner_id", partner_id}, {"sqlstate", state}, {"error", e.what()}});
        if (transient) return BookingUnavailable{};
        return BookingFailed{e.what()};
    } catch (const std::exception& e) {
        logger.log(LogLevel::error, "claim not booked", {{"partner_id", partner_id}, {"error", e.what()}});
        return BookingFailed{e.what()};
    }
}

// A lock not granted within db_lock_timeout_ms: a DDL or an open transaction outside the server
// holds a table, or one member.
bool is_lock_timeout(std::exception_ptr failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const pqxx::sql_error& e) {
        return e.sqlstate() == "55P03";
    } catch (...) {
        return false;
    }
}

bool is_database_unavailable(std::exception_ptr failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const DatabaseUnavailable&) {
        return true;
    } catch (...) {
        return false;
    }
}

// A claim's idempotency key, as one string: ids hold no newline (0x20-0x7E).
std::string claim_key(const std::string& partner_id, const std::string& webhook_id) {
    std::string key;
    key.reserve(partner_id.size() + 1 + webhook_id.size());
    return key.append(partner_id).append(1, '\n').append(webhook_id);
}

bool is_reversal(const storage::BookingInput& input) {
    return input.request.type == partners::ClaimType::reversal;
}

}  // namespace

BookingService::BookingService(DatabasePool& database, Logger& logger, BatchLimits limits)
    : database_(database), logger_(logger), limits_(limits), batcher_([this] { batcher_loop(); }) {}

BookingService::~BookingService() { stop(); }

void BookingService::submit(storage::BookingInput input, Done done) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            auto key = claim_key(input.partner_id, input.webhook_id);
            ++unanswered_keys_[key];
            waiting_.push_back(Waiting{std::move(input), answering(std::move(key), std::move(done)),
                                       std::chrono::steady_clock::now()});
            if (arrival_wakes_batcher()) wake_.notify_one();
            return;
        }
    }
    done(BookingUnavailable{});
}

BookingService::Done BookingService::answering(std::string key, Done done) {
    return [this, key = std::move(key), done = std::move(done)](BookingOutcome outcome) {
        done(std::move(outcome));
        attempt_answered(key);
    };
}

void BookingService::attempt_answered(const std::string& key) {
    std::vector<std::function<void()>> ready;
    {
        std::lock_guard lock(mutex_);
        const auto attempts = unanswered_keys_.find(key);
        if (attempts == unanswered_keys_.end()) return;  // never: each is answered once
        if (--attempts->second > 0) return;
        unanswered_keys_.erase(attempts);
        if (const auto waiting = after_answers_.find(key); waiting != after_answers_.end()) {
            ready = std::move(waiting->second);
            after_answers_.erase(waiting);
        }
    }
    for (auto& then : ready) then();  // outside the lock: they may submit again
}

void BookingService::after_attempts_of(const std::string& partner_id, const std::string& webhook_id,
                                       std::function<void()> then) {
    {
        std::lock_guard lock(mutex_);
        auto key = claim_key(partner_id, webhook_id);
        if (unanswered_keys_.count(key) != 0) {
            after_answers_[std::move(key)].push_back(std::move(then));
            return;
        }
    }
    then();
}

void BookingService::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (batcher_.joinable()) batcher_.join();
}

bool BookingService::arrival_wakes_batcher() const {
    switch (batcher_wait_) {
        case BatcherWait::arrival:
            return true;
        case BatcherWait::deadline:  // a full batch leaves at once
            return waiting_.size() >= static_cast<std::size_t>(limits_.max_claims);
        case BatcherWait::slot:     // release() wakes it
        case BatcherWait::nothing:  // it is not waiting, and reads the queue before it does
            return false;
    }
    return true;
}

void BookingService::batcher_loop() {
    const auto max_claims = static_cast<std::size_t>(limits_.max_claims);
    const auto max_wait = std::chrono::milliseconds(limits_.max_wait_ms);
    std::unique_lock lock(mutex_);
    const auto wait = [&](BatcherWait what) {
        batcher_wait_ = what;
        wake_.wait(lock);
        batcher_wait_ = BatcherWait::nothing;
    };
    while (true) {
        if (waiting_.empty()) {
            if (stopping_) return;
            wait(BatcherWait::arrival);
            continue;
        }
        if (stopping_) {
            // Every waiting claim leaves now, whatever the slots and the deadline, but never
            // beside a running batch of its member: booked first, a burn could be refused for
            // good (its 422 is kept) for points an earn that arrived before it still brings, and
            // a reversal for want of the claim it reverses.
            // Nor does it wait for that batch, which may sit behind everything the pool has
            // queued (the stop must not): it is answered unavailable, nothing stored.
            auto held = take_held_claims();
            if (!held.empty()) {
                lock.unlock();
                for (auto& done : held) done(BookingUnavailable{});
                lock.lock();
                continue;
            }
        } else {
            // Full slots: the claims wait for a running batch to commit, and the batch grows.
            if (in_flight_ >= limits_.max_in_flight) {
                wait(BatcherWait::slot);
                continue;
            }
            // Every waiting claim names a member a running batch holds: wait for it to finish,
            // or for a claim on another member.
            const auto ready = ready_claims();
            if (ready.claims == 0) {
                wait(BatcherWait::arrival);
                continue;
            }
            // A batch is running: give the next one until its oldest claim's deadline to fill.
            const auto due = ready.oldest + max_wait;
            if (in_flight_ > 0 && ready.claims < max_claims &&
                std::chrono::steady_clock::now() < due) {
                batcher_wait_ = BatcherWait::deadline;
                wake_.wait_until(lock, due);
                batcher_wait_ = BatcherWait::nothing;
                continue;
            }
        }
        auto batch = take_batch(max_claims);
        ++in_flight_;
        lock.unlock();
        send(std::move(batch));
        lock.lock();
    }
}

bool BookingService::may_leave(const Waiting& waiting, const KeysStaying& keys_staying) const {
    const auto& input = waiting.input;
    if (!is_reversal(input)) return !busy_members_.contains(input.request.member_id);
    if (busy_keys_.empty() && keys_staying.empty()) return true;
    const auto target = claim_key(input.partner_id, input.request.reverses);
    return !busy_keys_.contains(target) && !keys_staying.contains(target);
}

void BookingService::note_staying(const Waiting& waiting, KeysStaying& keys_staying) {
    if (!is_reversal(waiting.input)) {
        keys_staying.insert(claim_key(waiting.input.partner_id, waiting.input.webhook_id));
    }
}

std::vector<BookingService::Done> BookingService::take_held_claims() {
    std::vector<Done> held;
    std::deque<Waiting> staying;
    KeysStaying keys_staying;
    for (auto& waiting : waiting_) {
        if (may_leave(waiting, keys_staying)) {
            staying.push_back(std::move(waiting));
        } else {
            note_staying(waiting, keys_staying);
            held.push_back(std::move(waiting.done));
        }
    }
    waiting_ = std::move(staying);
    return held;
}

BookingService::Ready BookingService::ready_claims() const {
    Ready ready;
    KeysStaying keys_staying;
    for (const auto& waiting : waiting_) {
        if (!may_leave(waiting, keys_staying)) {
            note_staying(waiting, keys_staying);
            continue;
        }
        if (ready.claims++ == 0) ready.oldest = waiting.arrived;
    }
    return ready;
}

std::shared_ptr<BookingService::Batch> BookingService::take_batch(std::size_t max_claims) {
    auto batch = std::make_shared<Batch>();
    std::deque<Waiting> staying;
    KeysStaying keys_staying;
    for (auto& waiting : waiting_) {
        if (batch->inputs.size() < max_claims && may_leave(waiting, keys_staying)) {
            batch->inputs.push_back(std::move(waiting.input));
            batch->dones.push_back(std::move(waiting.done));
        } else {
            note_staying(waiting, keys_staying);
            staying.push_back(std::move(waiting));
        }
    }
    waiting_ = std::move(staying);
    std::unordered_set<std::string_view> named;
    for (const auto& input : batch->inputs) {
        if (is_reversal(input)) continue;
        batch->keys.push_back(claim_key(input.partner_id, input.webhook_id));
        ++busy_keys_[batch->keys.back()];
        const auto& member_id = input.request.member_id;
        if (!named.insert(member_id).second) continue;
        batch->members.push_back(member_id);
        ++busy_members_[member_id];
    }
    return batch;
}

void BookingService::release(const Batch& batch, bool slot, bool members) {
    {
        std::lock_guard lock(mutex_);
        if (slot) --in_flight_;
        if (members) {
            const auto unmark = [](std::unordered_map<std::string, int>& busy,
                                   const std::vector<std::string>& names) {
                for (const auto& name : names) {
                    const auto found = busy.find(name);
                    if (found != busy.end() && --found->second == 0) busy.erase(found);
                }
            };
            unmark(busy_members_, batch.members);
            unmark(busy_keys_, batch.keys);
        }
    }
    wake_.notify_all();
}

void BookingService::send(std::shared_ptr<Batch> batch) {
    auto results = std::make_shared<std::vector<storage::BookingResult>>();
    const auto sent = std::chrono::steady_clock::now();
    database_.submit(
        [batch, results](pqxx::connection& connection) {
            *results = storage::book_claims(connection, batch->inputs);
        },
        [this, batch, results, sent](std::exception_ptr failure) {
            const auto size = batch->inputs.size();
            if (logger_.enabled(LogLevel::debug)) {
                const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - sent;
                logger_.log(LogLevel::debug, "batch booked",
                            {{"claims", size}, {"ms", took.count()}, {"failed", failure != nullptr}});
            }
            if (!failure) {
                release(*batch, true, true);
                for (std::size_t i = 0; i < size; ++i) batch->dones[i](std::move((*results)[i]));
                return;
            }
            try {
                std::rethrow_exception(failure);
            } catch (const CommitOutcomeUnknown&) {
                // The batch's commit may have happened: not one of its claims is booked again
                // nor told it is not stored. Their retries are replayed or booked.
                release(*batch, true, true);
                for (auto& done : batch->dones) done(BookingInDoubt{});
                return;
            } catch (const DatabaseUnavailable& e) {
                release(*batch, true, true);
                logger_.log(LogLevel::warn, "claims not booked: database unavailable",
                            {{"claims", size}, {"error", e.what()}});
                for (auto& done : batch->dones) done(BookingUnavailable{});
                return;
            } catch (const storage::BatchNeedsSingleBookings& e) {
                logger_.log(LogLevel::debug, "batch booked one claim at a time",
                            {{"claims", size}, {"reason", e.what()}});
            } catch (const std::exception& e) {
                // Nothing of the batch was committed; each claim gets its own transaction.
                logger_.log(LogLevel::warn, "batch failed, booking its claims one at a time",
                            {{"claims", size}, {"error", e.what()}});
            }
            // The batch's transaction is over: its slot is free for other members' claims.
            release(*batch, true, false);
            book_one_by_one(batch);
        });
}

bool BookingService::names_held_member(const Batch& batch, std::size_t claim) {
    const auto& member = batch.inputs[claim].request.member_id;
    return !member.empty() && member == batch.lock_timed_out_member;
}

bool BookingService::take_as_held_member(Batch& batch, std::size_t claim) {
    if (batch.lock_timed_out) return false;
    batch.lock_timed_out = true;
    batch.lock_timed_out_member = batch.inputs[claim].request.member_id;  // "" for a reversal
    return true;
}

// Each claim in a transaction of its own, one after another in the order the batch books them
// (earns and burns in arrival order, then reversals): an earn of the batch is booked before the
// burn it funds and before its reversal, so every claim gets the answer the batch would have
// given. Booked side by side on the pool, a reversal could run before its earn and be refused
// for good (422 reversal_target_not_found). Each claim is answered once its own transaction has
// committed; the batch's members stay held until the last, so that their claims that arrived
// later still wait behind these.
void BookingService::book_one_by_one(std::shared_ptr<Batch> batch) {
    auto order = std::make_shared<std::vector<std::size_t>>();
    for (const bool reversals : {false, true}) {
        for (std::size_t i = 0; i < batch->inputs.size(); ++i) {
            if ((batch->inputs[i].request.type == partners::ClaimType::reversal) == reversals) {
                order->push_back(i);
            }
        }
    }
    book_in_order(std::move(batch), std::move(order), 0);
}

void BookingService::book_in_order(std::shared_ptr<Batch> batch,
                                   std::shared_ptr<const std::vector<std::size_t>> order,
                                   std::size_t next) {
    // A claim on the member whose lock already timed out would only wait for that lock again:
    // it is answered 503 at once, and the batch's other members go on.
    while (next < order->size() && names_held_member(*batch, (*order)[next])) {
        batch->dones[(*order)[next]](BookingUnavailable{});
        ++next;
    }
    if (next == order->size()) return release(*batch, false, true);
    const std::size_t claim = (*order)[next];
    auto result = std::make_shared<storage::BookingResult>();
    database_.submit(
        [batch, claim, result](pqxx::connection& connection) {
            *result = storage::book_claim(connection, batch->inputs[claim]);
        },
        [this, batch, order, next, claim, result](std::exception_ptr failure) {
            auto& done = batch->dones[claim];
            if (!failure) {
                done(std::move(*result));
                return book_in_order(batch, order, next + 1);
            }
            done(failure_outcome(failure, batch->inputs[claim].partner_id, logger_));
            // One member held by a transaction outside the server costs its claims a 503 (the
            // first after one lock wait), and the batch's other members are booked; a second
            // lock timeout is taken for a table's lock, which every claim would wait for. (A
            // reversal names no member here, so a held member's reversal after its first claim
            // also counts as a second.)
            const bool locks_held = is_lock_timeout(failure) && !take_as_held_member(*batch, claim);
            if (!is_database_unavailable(failure) && !locks_held) {
                return book_in_order(batch, order, next + 1);
            }
            // The database is away (or the pool refused the job: stopping, or its queue full),
            // or locks are held too long: the rest are answered 503 at once, not each after its
            // own connect timeout or lock wait while their members stay held, nor by a
            // recursion as deep as the batch when the pool answers refusals inline. Nothing of
            // theirs was booked; retries are safe.
            for (std::size_t rest = next + 1; rest < order->size(); ++rest) {
                batch->dones[(*order)[rest]](BookingUnavailable{});
            }
            release(*batch, false, true);
        });
}

}  // namespace coalition::server
