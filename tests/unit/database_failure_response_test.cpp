// The read and settlement API's answers to a failed database job (server/authorized_query): 503
// promises that nothing was stored, so it is never the answer when a commit's outcome is unknown.
#include "server/authorized_query.hpp"
#include "server/db_pool.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <stdexcept>
#include <string>

namespace coalition::server {
namespace {

constexpr int kRetryAfterS = 3;

Response answer_to(std::exception_ptr failure) {
    return database_failure_response(std::move(failure), kRetryAfterS);
}

std::string code_of(const Response& response) {
    return nlohmann::json::parse(response.body)["error"]["code"].get<std::string>();
}

TEST(DatabaseFailureResponse, ADatabaseAwayIs503WithRetryAfter) {
    const auto response =
        answer_to(std::make_exception_ptr(DatabaseUnavailable("connection refused")));
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(code_of(response), "unavailable");
    EXPECT_EQ(find_header(response.headers, "Retry-After"), std::to_string(kRetryAfterS));
}

TEST(DatabaseFailureResponse, ACommitWithUnknownOutcomeIsNot503) {
    const auto response =
        answer_to(std::make_exception_ptr(CommitOutcomeUnknown("commit outcome unknown")));
    EXPECT_EQ(response.status, 500);
    EXPECT_EQ(code_of(response), "internal");
    EXPECT_NE(response.body.find("outcome unknown"), std::string::npos) << response.body;
    EXPECT_EQ(find_header(response.headers, "Retry-After"), std::to_string(kRetryAfterS));
}

TEST(DatabaseFailureResponse, ARolledBackDeadlockIs503AndABugIs500) {
    EXPECT_EQ(answer_to(std::make_exception_ptr(pqxx::deadlock_detected("deadlock detected")))
                  .status,
              503);
    const auto bug = answer_to(std::make_exception_ptr(std::logic_error("bug")));
    EXPECT_EQ(bug.status, 500);
    EXPECT_FALSE(find_header(bug.headers, "Retry-After"));
}

}  // namespace
}  // namespace coalition::server
