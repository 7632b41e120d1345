// DatabasePool on a real database: submit_first's lane, which runs while every worker is busy, and
// stop_now, which fails what is queued without running it and waits for what runs.
#include "server/db_pool.hpp"

#include "server/logger.hpp"

#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace coalition::server {
namespace {

using namespace std::chrono_literals;

class DatabasePoolTest : public ::testing::Test {
  protected:
    void SetUp() override {
        db_ = std::make_unique<testing::TestDatabase>("db_pool");
        settings_.db = db_->conninfo();
        settings_.db_pool_size = 1;
    }

    // A job that holds the pool's one worker until `release` is set.
    void occupy_the_worker(DatabasePool& pool, std::shared_future<void> release) {
        std::promise<void> running;
        auto started = running.get_future();
        pool.submit(
            [release, &running](pqxx::connection&) {
                running.set_value();
                release.wait();
            },
            [](std::exception_ptr) {});
        ASSERT_EQ(started.wait_for(30s), std::future_status::ready);
    }

    // A job that records its name when it runs, and its outcome when done.
    DatabasePool::Job named(const std::string& name) {
        return [this, name](pqxx::connection& connection) {
            pqxx::nontransaction tx(connection);
            tx.exec("SELECT 1");
            std::lock_guard lock(mutex_);
            ran_.push_back(name);
        };
    }
    DatabasePool::Done outcome(const std::string& name) {
        return [this, name](std::exception_ptr failure) {
            std::lock_guard lock(mutex_);
            (failure ? failed_ : succeeded_).push_back(name);
        };
    }

    std::unique_ptr<testing::TestDatabase> db_;
    Settings settings_;
    Logger logger_{LogLevel::error};
    std::mutex mutex_;
    std::vector<std::string> ran_, succeeded_, failed_;
};

// The partner directory's re-read must not wait for the workers: a close or a whole run's read
// holds one for seconds, and a few of them hold them all.
TEST_F(DatabasePoolTest, AJobSubmittedFirstRunsWhileEveryWorkerIsBusy) {
    DatabasePool pool(settings_, logger_);
    std::promise<void> release;
    occupy_the_worker(pool, release.get_future().share());
    pool.submit(named("a"), outcome("a"));
    pool.submit(named("b"), outcome("b"));
    std::promise<void> first_done;
    pool.submit_first(named("first"), [&](std::exception_ptr failure) {
        outcome("first")(failure);
        first_done.set_value();
    });
    EXPECT_EQ(first_done.get_future().wait_for(30s), std::future_status::ready)
        << "the first job waited for the busy worker";
    release.set_value();
    pool.stop();
    EXPECT_EQ(ran_, (std::vector<std::string>{"first", "a", "b"}));
    EXPECT_EQ(succeeded_, (std::vector<std::string>{"first", "a", "b"}));
}

TEST_F(DatabasePoolTest, StopNowFailsWhatIsQueuedWithoutRunningItAndWaitsForWhatRuns) {
    DatabasePool pool(settings_, logger_);
    std::promise<void> release;
    auto released = release.get_future().share();
    occupy_the_worker(pool, released);
    pool.submit(named("queued-1"), outcome("queued-1"));
    pool.submit(named("queued-2"), outcome("queued-2"));
    auto stopping = std::async(std::launch::async, [&pool] { pool.stop_now(); });
    // The queued jobs are failed at once; the stop still waits for the running one.
    EXPECT_EQ(stopping.wait_for(500ms), std::future_status::timeout);
    {
        std::lock_guard lock(mutex_);
        EXPECT_EQ(failed_, (std::vector<std::string>{"queued-1", "queued-2"}));
    }
    release.set_value();
    ASSERT_EQ(stopping.wait_for(30s), std::future_status::ready);
    EXPECT_TRUE(ran_.empty());
    // After the stop a job is refused at once.
    pool.submit(named("late"), outcome("late"));
    pool.submit_first(named("late-first"), outcome("late-first"));
    EXPECT_EQ(failed_, (std::vector<std::string>{"queued-1", "queued-2", "late", "late-first"}));
}

}  // namespace
}  // namespace coalition::server
