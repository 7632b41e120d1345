// GET /readyz on a real database: ready means claims can be served, so it waits for the partner
// directory's first read as well as for the database and its schema.
#include "server/health_handlers.hpp"

#include "server/db_pool.hpp"
#include "server/logger.hpp"
#include "server/partner_directory.hpp"

#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

namespace coalition::server {
namespace {

using namespace std::chrono_literals;

Response ready_answer(const Router& router) {
    Request request;
    request.method = "GET";
    request.path = "/readyz";
    auto answered = std::make_shared<std::promise<Response>>();
    auto answer = answered->get_future();
    router.dispatch(request, [answered](Response response) { answered->set_value(response); });
    EXPECT_EQ(answer.wait_for(30s), std::future_status::ready);
    return answer.get();
}

// The health routes on a pool of one worker, over a database of their own.
class Readiness : public ::testing::Test {
  protected:
    Readiness() : db_("readiness"), settings_(settings_for(db_)), pool_(settings_, logger_) {
        add_health_routes(router_, pool_, directory_, settings_);
    }
    ~Readiness() override { pool_.stop(); }

    static Settings settings_for(const testing::TestDatabase& db) {
        Settings settings;
        settings.db = db.conninfo();
        settings.db_pool_size = 1;
        return settings;
    }

    // Holds the pool's one worker until `release` is set; false if it never started.
    bool hold_the_worker(std::shared_future<void> release) {
        auto running = std::make_shared<std::promise<void>>();
        auto started = running->get_future();
        pool_.submit(
            [release, running](pqxx::connection&) {
                running->set_value();
                release.wait();
            },
            [](std::exception_ptr) {});
        return started.wait_for(30s) == std::future_status::ready;
    }

    testing::TestDatabase db_;
    Settings settings_;
    Logger logger_{LogLevel::error};
    DatabasePool pool_;
    PartnerDirectory directory_;
    Router router_;
};

TEST_F(Readiness, NotReadyUntilThePartnerDirectoryHasBeenRead) {
    const auto before = ready_answer(router_);
    EXPECT_EQ(before.status, 503);
    EXPECT_NE(before.body.find("partner directory not loaded yet"), std::string::npos)
        << before.body;

    directory_.replace(std::make_shared<const DirectorySnapshot>());
    const auto after = ready_answer(router_);
    EXPECT_EQ(after.status, 200) << after.body;
}

// A probe does not queue behind the bookings and reads the workers are busy with: under a heavy
// load a load balancer would otherwise take a healthy server out of rotation. Here the pool's
// one worker is held, and probes (several at once, answered by one query) are still answered.
TEST_F(Readiness, AnsweredWhileEveryWorkerIsBusy) {
    directory_.replace(std::make_shared<const DirectorySnapshot>());

    std::promise<void> release;
    ASSERT_TRUE(hold_the_worker(release.get_future().share()));

    std::vector<std::future<Response>> answers;
    for (int i = 0; i < 5; ++i) {
        Request request;
        request.method = "GET";
        request.path = "/readyz";
        auto answered = std::make_shared<std::promise<Response>>();
        answers.push_back(answered->get_future());
        router_.dispatch(request, [answered](Response response) { answered->set_value(response); });
    }
    for (auto& answer : answers) {
        ASSERT_EQ(answer.wait_for(10s), std::future_status::ready) << "waited for the worker";
        EXPECT_EQ(answer.get().status, 200);
    }
    release.set_value();
}

// With the pool's queue full every claim and read is answered 503 at once: not ready, although
// the readiness query itself, on a lane of its own, still gets through.
TEST_F(Readiness, NotReadyWhileThePoolsQueueIsFull) {
    directory_.replace(std::make_shared<const DirectorySnapshot>());
    std::promise<void> release;
    ASSERT_TRUE(hold_the_worker(release.get_future().share()));
    for (std::size_t i = 0; i < DatabasePool::queue_jobs_max; ++i) {
        pool_.submit([](pqxx::connection&) {}, [](std::exception_ptr) {});
    }
    const auto full = ready_answer(router_);
    EXPECT_EQ(full.status, 503);
    EXPECT_NE(full.body.find("the database queue is full"), std::string::npos) << full.body;
    release.set_value();
}

}  // namespace
}  // namespace coalition::server
