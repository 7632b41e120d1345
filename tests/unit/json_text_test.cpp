// JsonText must write exactly what nlohmann's dump() writes for the same ordered_json: stored
// run hashes and the documented examples depend on those bytes.
#include "core/json_text.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace coalition {
namespace {

using nlohmann::ordered_json;

TEST(JsonText, WritesWhatNlohmannDumps) {
    JsonText json;
    json.begin_object()
        .field("date", "2026-11-21")
        .field("min", std::numeric_limits<std::int64_t>::min())
        .field("max", std::numeric_limits<std::int64_t>::max())
        .field("zero", std::int64_t{0});
    json.key("empty_array").begin_array().end_array();
    json.key("empty_object").begin_object().end_object();
    json.key("nothing").null();
    json.key("lines").begin_array();
    for (std::int64_t i = -1; i <= 1; ++i) {
        json.begin_object().field("from", "a").field("amount_minor", i).end_object();
    }
    json.value(std::int64_t{7}).value("x").null();
    json.begin_array().begin_array().end_array().value(std::int64_t{1}).end_array();
    json.end_array();
    json.end_object();

    ordered_json lines = ordered_json::array();
    for (std::int64_t i = -1; i <= 1; ++i) lines.push_back({{"from", "a"}, {"amount_minor", i}});
    lines.push_back(7);
    lines.push_back("x");
    lines.push_back(nullptr);
    lines.push_back(ordered_json::array({ordered_json::array(), 1}));
    const ordered_json expected{{"date", "2026-11-21"},
                                {"min", std::numeric_limits<std::int64_t>::min()},
                                {"max", std::numeric_limits<std::int64_t>::max()},
                                {"zero", 0},
                                {"empty_array", ordered_json::array()},
                                {"empty_object", ordered_json::object()},
                                {"nothing", nullptr},
                                {"lines", lines}};
    EXPECT_EQ(json.take(), expected.dump());
}

TEST(JsonText, EscapesStringsAsNlohmannDoes) {
    const std::vector<std::string> strings = {"",
                                              "plain-id_1.x",
                                              "quote\"inside",
                                              "back\\slash",
                                              "line\nbreak",
                                              "tab\tand\r",
                                              std::string("nul\0byte", 8),
                                              "\x1f unit separator",
                                              "caf\xc3\xa9",
                                              "\xe2\x82\xac euro",
                                              "del\x7f"};
    for (const auto& text : strings) {
        JsonText json;
        json.begin_object().field(text, text).end_object();
        EXPECT_EQ(json.take(), ordered_json({{text, text}}).dump()) << text;
    }
}

TEST(JsonText, RefusesInvalidUtf8LikeNlohmann) {
    JsonText json;
    json.begin_array();
    EXPECT_THROW(json.value("\xff\xfe"), nlohmann::json::type_error);
}

}  // namespace
}  // namespace coalition
