#include "tools/loadgen/histogram.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace coalition::loadgen {
namespace {

TEST(LoadgenHistogram, EmptyReportsZero) {
    const LatencyHistogram histogram;
    EXPECT_EQ(histogram.count(), 0u);
    EXPECT_EQ(histogram.value_at_percentile(50), 0u);
    EXPECT_EQ(histogram.max(), 0u);
    EXPECT_EQ(histogram.min(), 0u);
    EXPECT_EQ(histogram.mean(), 0.0);
}

TEST(LoadgenHistogram, SmallValuesAreExact) {
    LatencyHistogram histogram;
    for (std::uint64_t v = 1; v <= 100; ++v) histogram.record(v);
    // Nearest rank: p50 of 1..100 is the 50th value, p99 the 99th, p100 the last.
    EXPECT_EQ(histogram.value_at_percentile(50), 50u);
    EXPECT_EQ(histogram.value_at_percentile(90), 90u);
    EXPECT_EQ(histogram.value_at_percentile(99), 99u);
    EXPECT_EQ(histogram.value_at_percentile(100), 100u);
    EXPECT_EQ(histogram.value_at_percentile(0.001), 1u);  // never below the first sample
    EXPECT_EQ(histogram.min(), 1u);
    EXPECT_EQ(histogram.max(), 100u);
    EXPECT_DOUBLE_EQ(histogram.mean(), 50.5);
}

TEST(LoadgenHistogram, BucketsTileTheRangeWithoutGapsOrOverlap) {
    EXPECT_EQ(LatencyHistogram::bucket_lowest(0), 0u);
    for (std::size_t b = 1; b < LatencyHistogram::kBucketCount; ++b) {
        ASSERT_EQ(LatencyHistogram::bucket_lowest(b), LatencyHistogram::bucket_highest(b - 1) + 1)
            << "bucket " << b;
    }
    EXPECT_EQ(LatencyHistogram::bucket_highest(LatencyHistogram::kBucketCount - 1),
              std::numeric_limits<std::uint64_t>::max());
    // Every bucket's edges map back to it.
    for (std::size_t b = 0; b < LatencyHistogram::kBucketCount; ++b) {
        ASSERT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::bucket_lowest(b)), b);
        ASSERT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::bucket_highest(b)), b);
    }
}

TEST(LoadgenHistogram, RelativeErrorIsAtMostOneSixtyFourth) {
    for (std::uint64_t v = 1; v < (std::uint64_t{1} << 40); v = v * 3 + 1) {
        const auto bucket = LatencyHistogram::bucket_of(v);
        const auto low = LatencyHistogram::bucket_lowest(bucket);
        const auto high = LatencyHistogram::bucket_highest(bucket);
        ASSERT_LE(low, v);
        ASSERT_GE(high, v);
        ASSERT_LE(static_cast<double>(high - low), static_cast<double>(v) / 64.0) << v;
    }
}

TEST(LoadgenHistogram, PercentilesNeverUnderstateAndStayClose) {
    LatencyHistogram histogram;
    for (std::uint64_t v = 1; v <= 100'000; ++v) histogram.record(v);
    for (const double p : {50.0, 90.0, 99.0, 99.9}) {
        const auto exact = static_cast<std::uint64_t>(p / 100.0 * 100'000.0 + 0.5);
        const auto reported = histogram.value_at_percentile(p);
        EXPECT_GE(reported, exact) << p;
        EXPECT_LE(static_cast<double>(reported), static_cast<double>(exact) * (1 + 1.0 / 64)) << p;
    }
    EXPECT_EQ(histogram.value_at_percentile(100), 100'000u);  // the exact max, not a bucket top
}

TEST(LoadgenHistogram, OneStallShowsInTheTailNotTheMedian) {
    LatencyHistogram histogram;
    for (int i = 0; i < 999; ++i) histogram.record(1'000);  // 1 ms
    histogram.record(2'000'000);                            // one 2 s stall
    EXPECT_LE(histogram.value_at_percentile(50), 1'015u);
    EXPECT_LE(histogram.value_at_percentile(99.9), 1'015u);  // rank 999 is still a 1 ms sample
    EXPECT_EQ(histogram.value_at_percentile(100), 2'000'000u);
    EXPECT_EQ(histogram.max(), 2'000'000u);
}

TEST(LoadgenHistogram, MergeEqualsRecordingEverythingInOne) {
    LatencyHistogram a;
    LatencyHistogram b;
    LatencyHistogram both;
    for (std::uint64_t v = 0; v < 5'000; ++v) {
        const std::uint64_t value = v * v % 7'919 + 10;
        (v % 3 == 0 ? a : b).record(value);
        both.record(value);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), both.count());
    EXPECT_EQ(a.min(), both.min());
    EXPECT_EQ(a.max(), both.max());
    EXPECT_DOUBLE_EQ(a.mean(), both.mean());
    for (const double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
        EXPECT_EQ(a.value_at_percentile(p), both.value_at_percentile(p)) << p;
    }
    LatencyHistogram empty;
    empty.merge(LatencyHistogram{});
    EXPECT_EQ(empty.count(), 0u);
    empty.merge(both);
    EXPECT_EQ(empty.min(), both.min());
}

TEST(LoadgenHistogram, HugeValuesDoNotOverflow) {
    LatencyHistogram histogram;
    histogram.record(std::numeric_limits<std::uint64_t>::max());
    histogram.record(0);
    EXPECT_EQ(histogram.value_at_percentile(100), std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(histogram.value_at_percentile(50), 0u);
}

}  // namespace
}  // namespace coalition::loadgen
