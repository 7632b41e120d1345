// GET /readyz on a real database: ready means claims can be served, so it waits for the partner
// directory's first read as well as for the database and its schema.
#include "server/health_handlers.hpp"

#include "server/db_pool.hpp"
#include "server/logger.hpp"
#include "server/partner_directory.hpp"

#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

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

TEST(Readiness, NotReadyUntilThePartnerDirectoryHasBeenRead) {
    testing::TestDatabase db("readiness");
    Settings settings;
    settings.db = db.conninfo();
    settings.db_pool_size = 1;
    Logger logger(LogLevel::error);
    DatabasePool pool(settings, logger);
    PartnerDirectory directory;
    Router router;
    add_health_routes(router, pool, directory, settings);

    const auto before = ready_answer(router);
    EXPECT_EQ(before.status, 503);
    EXPECT_NE(before.body.find("partner directory not loaded yet"), std::string::npos)
        << before.body;

    directory.replace(std::make_shared<const DirectorySnapshot>());
    const auto after = ready_answer(router);
    EXPECT_EQ(after.status, 200) << after.body;
    pool.stop();
}

}  // namespace
}  // namespace coalition::server
