#include "server/db_pool.hpp"

#include "server/logger.hpp"
#include "storage/database.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/except>

namespace coalition::server {

bool is_transient_sqlstate(const std::string& sqlstate) {
    return sqlstate.rfind("40", 0) == 0 || sqlstate == "55P03" || sqlstate.rfind("08", 0) == 0 ||
           sqlstate.rfind("57", 0) == 0 || sqlstate == "53200";
}

DatabasePool::DatabasePool(const Settings& settings, Logger& logger)
    : conninfo_(storage::conninfo_with_timeout(settings.db, settings.db_connect_timeout_s)),
      lock_timeout_ms_(settings.db_lock_timeout_ms),
      logger_(logger) {
    workers_.reserve(static_cast<std::size_t>(settings.db_pool_size) + 1);
    for (int i = 0; i < settings.db_pool_size; ++i) {
        workers_.emplace_back([this] { worker_loop(queue_, wake_); });
    }
    workers_.emplace_back([this] { worker_loop(first_queue_, first_wake_); });
}

DatabasePool::~DatabasePool() { stop(); }

void DatabasePool::submit(Job job, Done done) { enqueue(std::move(job), std::move(done), false); }

bool DatabasePool::queue_full() {
    std::lock_guard lock(mutex_);
    return queue_.size() >= queue_jobs_max;
}

void DatabasePool::submit_first(Job job, Done done) {
    enqueue(std::move(job), std::move(done), true);
}

void DatabasePool::enqueue(Job job, Done done, bool first) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_ && (first || queue_.size() < queue_jobs_max)) {
            (first ? first_queue_ : queue_).push_back(Task{std::move(job), std::move(done)});
            (first ? first_wake_ : wake_).notify_one();
            return;
        }
    }
    done(std::make_exception_ptr(DatabaseUnavailable("database queue is full or stopping")));
}

void DatabasePool::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    first_wake_.notify_all();
    for (auto& worker : workers_) {
        if (worker.joinable()) worker.join();
    }
    workers_.clear();
}

void DatabasePool::stop_now() {
    std::deque<Task> abandoned;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        abandoned.swap(queue_);
        for (auto& task : first_queue_) abandoned.push_back(std::move(task));
        first_queue_.clear();
    }
    for (auto& task : abandoned) {
        task.done(std::make_exception_ptr(DatabaseUnavailable("the server is stopping")));
    }
    stop();
}

void DatabasePool::worker_loop(std::deque<Task>& queue, std::condition_variable& wake) {
    std::unique_ptr<pqxx::connection> connection;
    while (true) {
        Task task;
        {
            std::unique_lock lock(mutex_);
            wake.wait(lock, [&] { return stopping_ || !queue.empty(); });
            if (queue.empty()) return;  // stopping, and everything queued has run
            task = std::move(queue.front());
            queue.pop_front();
        }
        run_task(task, connection);
    }
}

namespace {

// Opens the worker's connection if it has none; returns true if it had to.
bool ensure_connected(std::unique_ptr<pqxx::connection>& connection, const std::string& conninfo,
                      int lock_timeout_ms) {
    if (connection && connection->is_open()) return false;
    connection.reset();
    try {
        // Kept only once it is set up: a connection whose set-up failed is never reused.
        auto opened = std::make_unique<pqxx::connection>(conninfo);
        storage::set_up_session(*opened);
        // Through set_variable, as set_up_session's: restored if libpqxx reconnects by itself.
        opened->set_variable("lock_timeout", std::to_string(lock_timeout_ms));
        connection = std::move(opened);
    } catch (const pqxx::broken_connection& e) {
        throw DatabaseUnavailable(std::string("cannot connect: ") + e.what());
    }
    return true;
}

}  // namespace

void DatabasePool::run_task(Task& task, std::unique_ptr<pqxx::connection>& connection) {
    std::exception_ptr failure;
    try {
        const bool fresh = ensure_connected(connection, conninfo_, lock_timeout_ms_);
        try {
            task.job(*connection);
        } catch (const pqxx::in_doubt_error&) {
            throw;
        } catch (const pqxx::broken_connection&) {
            // A pooled connection that went stale while idle (PostgreSQL restarted) fails on
            // first use, before anything it sent could commit: retry once on a fresh one. A
            // connection opened for this very job is not retried — the database is really away.
            if (fresh) throw;
            connection.reset();
            ensure_connected(connection, conninfo_, lock_timeout_ms_);
            task.job(*connection);
        }
    } catch (const pqxx::in_doubt_error& e) {
        // The commit may or may not have happened. We never retry it blindly: the caller says
        // so, and the partner's retry with the same webhook-id is either replayed or booked.
        connection.reset();
        logger_.log(LogLevel::error, "commit outcome unknown", {{"error", e.what()}});
        failure = std::make_exception_ptr(CommitOutcomeUnknown("commit outcome unknown"));
    } catch (const pqxx::broken_connection& e) {
        connection.reset();
        failure = std::make_exception_ptr(DatabaseUnavailable(std::string("connection lost: ") + e.what()));
    } catch (...) {
        failure = std::current_exception();
    }
    task.done(failure);
}

}  // namespace coalition::server
