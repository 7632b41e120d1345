#include "server/booking_service.hpp"

#include "server/db_pool.hpp"
#include "server/logger.hpp"
#include "storage/claim_batch.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/except>

#include <algorithm>
#include <memory>

namespace coalition::server {
namespace {

// Serialization, deadlock, lock or connection failures are transient: nothing was committed and
// the partner's retry will do.
bool is_transient(const std::string& sqlstate) {
    return sqlstate.rfind("40", 0) == 0 || sqlstate == "55P03" || sqlstate.rfind("08", 0) == 0 ||
           sqlstate.rfind("57", 0) == 0;
}

// The answer to a claim whose own booking failed as a whole.
BookingOutcome failure_outcome(std::exception_ptr failure, const std::string& partner_id,
                               Logger& logger) {
    try {
        std::rethrow_exception(failure);
    } catch (const DatabaseUnavailable& e) {
        logger.log(LogLevel::warn, "claim not booked: database unavailable",
                   {{"partner_id", partner_id}, {"error", e.what()}});
        return BookingUnavailable{};
    } catch (const pqxx::sql_error& e) {
        const std::string state = e.sqlstate();
        const bool transient = is_transient(state);
        logger.log(transient ? LogLevel::warn : LogLevel::error, "claim not booked",
                   {{"partner_id", partner_id}, {"sqlstate", state}, {"error", e.what()}});
        if (transient) return BookingUnavailable{};
        return BookingFailed{e.what()};
    } catch (const std::exception& e) {
        logger.log(LogLevel::error, "claim not booked", {{"partner_id", partner_id}, {"error", e.what()}});
        return BookingFailed{e.what()};
    }
}

}  // namespace

BookingService::BookingService(DatabasePool& database, Logger& logger, BatchLimits limits)
    : database_(database), logger_(logger), limits_(limits), batcher_([this] { batcher_loop(); }) {}

BookingService::~BookingService() { stop(); }

void BookingService::submit(storage::BookingInput input, Done done) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            waiting_.push_back(Waiting{std::move(input), std::move(done), std::chrono::steady_clock::now()});
            wake_.notify_one();
            return;
        }
    }
    done(BookingUnavailable{});
}

void BookingService::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (batcher_.joinable()) batcher_.join();
}

void BookingService::batcher_loop() {
    const auto max_claims = static_cast<std::size_t>(limits_.max_claims);
    const auto max_wait = std::chrono::milliseconds(limits_.max_wait_ms);
    std::unique_lock lock(mutex_);
    while (true) {
        if (waiting_.empty()) {
            if (stopping_) return;
            wake_.wait(lock);
            continue;
        }
        if (!stopping_) {
            // Full slots: the claims wait for a running batch to commit, and the batch grows.
            if (in_flight_ >= limits_.max_in_flight) {
                wake_.wait(lock);
                continue;
            }
            // A batch is running: give the next one until its oldest claim's deadline to fill.
            const auto due = waiting_.front().arrived + max_wait;
            if (in_flight_ > 0 && waiting_.size() < max_claims && std::chrono::steady_clock::now() < due) {
                wake_.wait_until(lock, due);
                continue;
            }
        }
        auto batch = std::make_shared<Batch>();
        const auto size = std::min(waiting_.size(), max_claims);
        batch->inputs.reserve(size);
        batch->dones.reserve(size);
        for (std::size_t i = 0; i < size; ++i) {
            batch->inputs.push_back(std::move(waiting_.front().input));
            batch->dones.push_back(std::move(waiting_.front().done));
            waiting_.pop_front();
        }
        ++in_flight_;
        lock.unlock();
        send(std::move(batch));
        lock.lock();
    }
}

void BookingService::batch_finished() {
    {
        std::lock_guard lock(mutex_);
        --in_flight_;
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
            batch_finished();
            const auto size = batch->inputs.size();
            if (logger_.enabled(LogLevel::debug)) {
                const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - sent;
                logger_.log(LogLevel::debug, "batch booked",
                            {{"claims", size}, {"ms", took.count()}, {"failed", failure != nullptr}});
            }
            if (!failure) {
                for (std::size_t i = 0; i < size; ++i) batch->dones[i](std::move((*results)[i]));
                return;
            }
            try {
                std::rethrow_exception(failure);
            } catch (const DatabaseUnavailable& e) {
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
            for (std::size_t i = 0; i < size; ++i) {
                book_one(std::move(batch->inputs[i]), std::move(batch->dones[i]));
            }
        });
}

void BookingService::book_one(storage::BookingInput input, Done done) {
    auto claim = std::make_shared<std::pair<storage::BookingInput, Done>>(std::move(input), std::move(done));
    auto result = std::make_shared<storage::BookingResult>();
    database_.submit(
        [claim, result](pqxx::connection& connection) {
            *result = storage::book_claim(connection, claim->first);
        },
        [this, claim, result](std::exception_ptr failure) {
            if (!failure) return claim->second(std::move(*result));
            claim->second(failure_outcome(failure, claim->first.partner_id, logger_));
        });
}

}  // namespace coalition::server
