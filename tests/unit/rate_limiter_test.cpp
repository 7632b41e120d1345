#include "server/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace coalition::server {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiter, AllowsTheBurstThenAsksToWait) {
    RateLimiter limiter(/*rate_per_s=*/1, /*burst=*/2);
    const auto t0 = RateLimiter::Clock::time_point{} + 100s;
    EXPECT_EQ(limiter.try_acquire("grocer", t0), 0);
    EXPECT_EQ(limiter.try_acquire("grocer", t0), 0);
    EXPECT_EQ(limiter.try_acquire("grocer", t0), 1);  // Retry-After: 1 s
    EXPECT_EQ(limiter.try_acquire("grocer", t0 + 999ms), 1);
    EXPECT_EQ(limiter.try_acquire("grocer", t0 + 1s), 0);  // refilled one token
}

TEST(RateLimiter, PartnersHaveSeparateBuckets) {
    RateLimiter limiter(1, 1);
    const auto t0 = RateLimiter::Clock::time_point{} + 100s;
    EXPECT_EQ(limiter.try_acquire("grocer", t0), 0);
    EXPECT_GT(limiter.try_acquire("grocer", t0), 0);
    EXPECT_EQ(limiter.try_acquire("fuel", t0), 0);
}

TEST(RateLimiter, RetryAfterCoversTheWholeWait) {
    RateLimiter limiter(/*rate_per_s=*/1, /*burst=*/1);
    const auto t0 = RateLimiter::Clock::time_point{} + 100s;
    EXPECT_EQ(limiter.try_acquire("p", t0), 0);
    EXPECT_EQ(limiter.try_acquire("p", t0 + 100ms), 1);
    RateLimiter slow(1, 1);
    EXPECT_EQ(slow.try_acquire("p", t0), 0);
    // A bucket never holds more than its burst, however long it was idle.
    EXPECT_EQ(slow.try_acquire("p", t0 + 3600s), 0);
    EXPECT_EQ(slow.try_acquire("p", t0 + 3600s), 1);
}

}  // namespace
}  // namespace coalition::server
