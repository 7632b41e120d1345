#pragma once
// Blocking database work kept off the I/O threads: a fixed set of worker threads, each owning one
// PostgreSQL connection that it (re)opens on demand. When PostgreSQL is down, jobs fail fast with
// DatabaseUnavailable (the handlers answer 503) and the next job simply tries to connect again,
// so the server recovers by itself.
#include "core/settings.hpp"

#include <pqxx/connection>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace coalition::server {

class Logger;

// The database could not be reached, or was lost mid-job before a commit was acknowledged.
class DatabaseUnavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The connection was lost while COMMIT was under way: the transaction may have committed or
// not. Still "unavailable" for what comes next, but its own work must not be reported as not
// stored.
class CommitOutcomeUnknown : public DatabaseUnavailable {
  public:
    using DatabaseUnavailable::DatabaseUnavailable;
};

// Serialization, deadlock, lock or connection failures are transient: nothing was committed and
// a retry will do. So is a lock table full (53200, out of shared memory: every claim id of a
// running batch holds an entry, see operators.md on batch_max_claims), and a lock not granted
// within db_lock_timeout_ms (55P03). libpqxx 6 throws class 40 as pqxx::transaction_rollback,
// not as an sql_error: callers catch that type too.
bool is_transient_sqlstate(const std::string& sqlstate);

class DatabasePool {
public:
    using Job = std::function<void(pqxx::connection&)>;
    // Called exactly once per job, on a worker thread: nullptr on success, else the failure.
    using Done = std::function<void(std::exception_ptr)>;

    DatabasePool(const Settings& settings, Logger& logger);
    ~DatabasePool();
    DatabasePool(const DatabasePool&) = delete;
    DatabasePool& operator=(const DatabasePool&) = delete;

    // Queues a job. A full queue (more than queue_jobs_max waiting) fails it at once as
    // unavailable rather than letting latency grow without bound.
    void submit(Job job, Done done);
    // Runs a job on a connection of its own, which no other job uses: for the partner
    // directory's re-read, which must reach the server within the contract's 5 s however many
    // reads and bookings wait, and whatever the workers are running (a close or a whole run's
    // read takes seconds; eight of them would hold every worker), and for /readyz, which must
    // answer a busy server's load balancer. Jobs given here run one at a time, in order: each
    // caller keeps at most one queued (the re-read by its timer, /readyz by sharing answers).
    void submit_first(Job job, Done done);
    // Whether submit() would refuse a job now (queue_jobs_max waiting): /readyz says so.
    bool queue_full();
    // Runs what is queued, then joins the workers. Idempotent.
    void stop();
    // For a server past its shutdown deadline: every job still queued is failed as unavailable
    // without running (none of them has begun a transaction, so nothing of theirs is stored),
    // and only the jobs already running are waited for. With the database unreachable, each
    // queued job would otherwise wait out a connect timeout first, and the stop would take
    // queue length x db_connect_timeout_s / db_pool_size. Idempotent.
    void stop_now();

    static constexpr std::size_t queue_jobs_max = 8192;

private:
    struct Task {
        Job job;
        Done done;
    };
    // submit (within queue_jobs_max) or submit_first (to the first lane's own queue).
    void enqueue(Job job, Done done, bool first);
    // Runs `queue`'s jobs until stopped and it is empty.
    void worker_loop(std::deque<Task>& queue, std::condition_variable& wake);
    void run_task(Task& task, std::unique_ptr<pqxx::connection>& connection);

    const std::string conninfo_;
    const int lock_timeout_ms_;
    Logger& logger_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Task> queue_;
    // submit_first's lane: its own queue and worker (with its own connection).
    std::condition_variable first_wake_;
    std::deque<Task> first_queue_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;  // the first lane's worker last
};

}  // namespace coalition::server
