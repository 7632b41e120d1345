#include "core/errors.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace coalition {
namespace {

TEST(ErrorRegistry, EveryCodeHasUniqueNameAndContractStatus) {
    std::set<std::string> names;
    for (int i = 0; i <= static_cast<int>(ErrorCode::unavailable); ++i) {
        const auto& info = error_info(static_cast<ErrorCode>(i));
        EXPECT_TRUE(names.insert(std::string(info.name)).second) << info.name;
        EXPECT_GE(info.http_status, 400);
        EXPECT_LT(info.http_status, 600);
    }
    EXPECT_EQ(http_status(ErrorCode::malformed_request), 400);
    EXPECT_EQ(http_status(ErrorCode::invalid_signature), 401);
    EXPECT_EQ(http_status(ErrorCode::idempotency_conflict), 409);
    EXPECT_EQ(http_status(ErrorCode::payload_too_large), 413);
    EXPECT_EQ(http_status(ErrorCode::unsupported_media_type), 415);
    EXPECT_EQ(http_status(ErrorCode::insufficient_points), 422);
    EXPECT_EQ(http_status(ErrorCode::rate_limited), 429);
    EXPECT_EQ(http_status(ErrorCode::header_too_large), 431);
    EXPECT_EQ(http_status(ErrorCode::unavailable), 503);
    EXPECT_TRUE(error_info(ErrorCode::unavailable).transient);
    EXPECT_FALSE(error_info(ErrorCode::invalid_field).transient);
}

// The bytes a refusal is answered with and kept for its replays: one function for both.
TEST(ErrorBody, IsTheContractsShapeWithKeysInOrder) {
    EXPECT_EQ(error_body_json(ApiError{ErrorCode::insufficient_points, "not enough", "points"}),
              R"({"error":{"code":"insufficient_points","field":"points","message":"not enough"}})");
    EXPECT_EQ(error_body_json(ApiError{ErrorCode::unavailable, "down", ""}),
              R"({"error":{"code":"unavailable","message":"down"}})");
}

TEST(ErrorRegistry, OnlyTheLedgersDecisionsAreKeptRefusals) {
    for (int i = 0; i <= static_cast<int>(ErrorCode::unavailable); ++i) {
        const auto code = static_cast<ErrorCode>(i);
        EXPECT_EQ(is_ledger_refusal(code), http_status(code) == 422) << error_name(code);
    }
}

}  // namespace
}  // namespace coalition
