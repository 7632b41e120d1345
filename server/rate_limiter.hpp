#pragma once
// Per-partner token buckets: `rate_per_s` claims a second on average, bursts up to `burst`.
// One till gone wild cannot starve the others or the database.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace coalition::server {

class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;

    RateLimiter(int rate_per_s, int burst) : rate_per_s_(rate_per_s), burst_(burst) {}

    // 0 when a claim may proceed now (a token is taken); else the whole seconds to wait
    // (at least 1), for Retry-After.
    int try_acquire(const std::string& partner_id, Clock::time_point now = Clock::now());

private:
    struct Bucket {
        double tokens = 0;  // fractional tokens refill continuously; not money
        Clock::time_point updated;
    };
    const int rate_per_s_;
    const int burst_;
    std::mutex mutex_;
    std::map<std::string, Bucket, std::less<>> buckets_;
};

}  // namespace coalition::server
