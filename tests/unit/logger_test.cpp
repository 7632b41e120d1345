// The server's log lines: one JSON object per line on stderr, "ts", "level" and "msg" first,
// then the fields; strings escaped, invalid UTF-8 replaced rather than thrown on, lines below the
// logger's level not written. Both ways of giving fields (a JSON object, or LogFields on the
// request path) write the same line.
#include "server/logger.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace coalition::server {
namespace {

using ::testing::internal::CaptureStderr;
using ::testing::internal::GetCapturedStderr;

const std::string kAwkwardPath = "/v1/members/\"M\\1\"\xff\xfe?x=\xc3\xa9\n";

TEST(Logger, WritesOneJsonObjectALineWithTheFieldsAfterTsLevelAndMsg) {
    Logger logger(LogLevel::info);
    CaptureStderr();
    const LogField fields[] = {{"request_id", std::string_view("r-1")},
                               {"path", std::string_view(kAwkwardPath)},
                               {"status", std::int64_t{201}},
                               {"duration_ms", 1.5}};
    logger.log_fields(LogLevel::info, "request", fields);
    const auto out = GetCapturedStderr();
    ASSERT_EQ(out.back(), '\n');
    ASSERT_EQ(out.find('\n'), out.size() - 1) << out;  // one line: the path's newline is escaped
    EXPECT_EQ(out.rfind("{\"ts\":\"", 0), 0u) << out;
    EXPECT_NE(
        out.find("\",\"level\":\"info\",\"msg\":\"request\",\"request_id\":\"r-1\",\"path\":"),
        std::string::npos)
        << out;
    const auto line = nlohmann::json::parse(out);
    EXPECT_EQ(line.at("status"), 201);
    EXPECT_EQ(line.at("duration_ms"), 1.5);
    // The two invalid bytes became U+FFFD each; the valid é and the quotes came through.
    EXPECT_EQ(line.at("path"), "/v1/members/\"M\\1\"\xef\xbf\xbd\xef\xbf\xbd?x=\xc3\xa9\n");
    EXPECT_EQ(line.at("ts").get<std::string>().size(),
              std::string("2026-11-23T03:04:05.678Z").size());
}

TEST(Logger, AJsonObjectOfFieldsGivesTheSameLine) {
    Logger logger(LogLevel::debug);
    CaptureStderr();
    const LogField fields[] = {{"path", std::string_view(kAwkwardPath)},
                               {"count", std::int64_t{-3}}};
    logger.log_fields(LogLevel::warn, "x", fields);
    logger.log(LogLevel::warn, "x", nlohmann::json{{"path", kAwkwardPath}, {"count", -3}});
    const auto out = GetCapturedStderr();
    const auto newline = out.find('\n');
    ASSERT_NE(newline, std::string::npos);
    const auto first = nlohmann::json::parse(out.substr(0, newline));
    const auto second = nlohmann::json::parse(out.substr(newline + 1));
    EXPECT_EQ(first.at("path"), second.at("path"));
    EXPECT_EQ(first.at("count"), second.at("count"));
    EXPECT_EQ(first.at("level"), "warn");
}

TEST(Logger, LinesBelowItsLevelAreNotWritten) {
    Logger logger(LogLevel::warn);
    CaptureStderr();
    const LogField fields[] = {{"status", std::int64_t{200}}};
    logger.log_fields(LogLevel::info, "request", fields);
    logger.log(LogLevel::debug, "quiet", nlohmann::json{{"a", 1}});
    logger.log(LogLevel::error, "loud");
    const auto out = GetCapturedStderr();
    EXPECT_EQ(out.find("request"), std::string::npos);
    EXPECT_EQ(out.find("quiet"), std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(out).at("msg"), "loud");
}

}  // namespace
}  // namespace coalition::server
