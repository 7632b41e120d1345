#include "server/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace coalition::server {

int RateLimiter::try_acquire(const std::string& partner_id, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = buckets_.try_emplace(partner_id);
    Bucket& bucket = it->second;
    if (inserted) {
        bucket.tokens = burst_;
        bucket.updated = now;
    }
    const double elapsed_s = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min<double>(burst_, bucket.tokens + std::max(0.0, elapsed_s) * rate_per_s_);
    bucket.updated = std::max(bucket.updated, now);
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        return 0;
    }
    const double wait_s = (1.0 - bucket.tokens) / rate_per_s_;
    return std::max(1, static_cast<int>(std::ceil(wait_s)));
}

}  // namespace coalition::server
