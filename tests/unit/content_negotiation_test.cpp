// A statement's representation from the Accept headers (RFC 9110 §12.5.1): CSV only when the
// client ranks it above JSON, or names it and ranks it equal; a q of 0 refuses it.
#include "server/content_negotiation.hpp"

#include <gtest/gtest.h>

#include <string>

namespace coalition::server {
namespace {

bool csv_for(const std::string& accept) { return prefers_csv({{"Accept", accept}}); }

TEST(ContentNegotiation, CsvWhenAskedFor) {
    EXPECT_TRUE(csv_for("text/csv"));
    EXPECT_TRUE(csv_for("TEXT/CSV"));
    EXPECT_TRUE(csv_for("text/csv; charset=utf-8"));
    EXPECT_TRUE(csv_for("application/json;q=0.5, text/csv; charset=utf-8"));
    EXPECT_TRUE(csv_for("text/csv, application/json"));  // equal, and CSV is named
    EXPECT_TRUE(csv_for("text/*"));                      // JSON is not acceptable at all
    EXPECT_TRUE(csv_for("text/csv;q=0.8, */*;q=0.1"));
}

TEST(ContentNegotiation, JsonByDefaultAndWhenCsvRanksLowerOrIsRefused) {
    EXPECT_FALSE(prefers_csv({}));
    EXPECT_FALSE(csv_for(""));
    EXPECT_FALSE(csv_for("*/*"));
    EXPECT_FALSE(csv_for("application/json"));
    EXPECT_FALSE(csv_for("text/html"));
    EXPECT_FALSE(csv_for("text/csv;q=0, application/json"));
    EXPECT_FALSE(csv_for("text/csv;q=0"));
    EXPECT_FALSE(csv_for("application/json, text/csv;q=0.1"));
    EXPECT_FALSE(csv_for("text/csv;q=0.5, */*"));  // JSON through */* at 1 beats CSV at 0.5
    EXPECT_FALSE(csv_for("text/*;q=0.3, application/*"));
}

TEST(ContentNegotiation, TheMostSpecificRangeDecides) {
    EXPECT_FALSE(csv_for("text/*, text/csv;q=0, application/json;q=0.1"));
    EXPECT_TRUE(csv_for("*/*;q=0.1, text/csv"));
}

TEST(ContentNegotiation, EveryAcceptHeaderCountsAndMalformedEntriesAreSkipped) {
    EXPECT_TRUE(prefers_csv({{"Accept", "application/json;q=0.2"}, {"accept", "text/csv"}}));
    EXPECT_FALSE(prefers_csv({{"Accept", "text/csv;q=0.2"}, {"ACCEPT", "application/json"}}));
    EXPECT_TRUE(csv_for("garbage, text/csv"));
    EXPECT_TRUE(csv_for("text/csv;q=2, text/csv"));  // a bad q-value: that entry is skipped
    EXPECT_FALSE(csv_for("text/csv;q=abc"));
    EXPECT_TRUE(csv_for("text/csv;q=0.001"));
    EXPECT_TRUE(csv_for(" text/csv ;  q=1.000 "));
}

}  // namespace
}  // namespace coalition::server
