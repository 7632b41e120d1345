#include "tools/loadgen/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace coalition::loadgen {

std::size_t LatencyHistogram::bucket_of(std::uint64_t value) {
    if (value < kExactLimit) return static_cast<std::size_t>(value);
    // shift >= 1 brings the value into [64, 127]: its top 7 bits pick the sub-bucket.
    const auto shift = static_cast<unsigned>(std::bit_width(value)) - kExactBits;
    const std::uint64_t sub = (value >> shift) - kHalf;
    return static_cast<std::size_t>(kExactLimit + (shift - 1) * kHalf + sub);
}

std::uint64_t LatencyHistogram::bucket_lowest(std::size_t bucket) {
    if (bucket < kExactLimit) return bucket;
    const std::size_t above = bucket - kExactLimit;
    const auto shift = static_cast<unsigned>(above / kHalf) + 1;
    const std::uint64_t sub = above % kHalf;
    return (kHalf + sub) << shift;
}

std::uint64_t LatencyHistogram::bucket_highest(std::size_t bucket) {
    if (bucket < kExactLimit) return bucket;
    const auto shift = static_cast<unsigned>((bucket - kExactLimit) / kHalf) + 1;
    return bucket_lowest(bucket) + ((std::uint64_t{1} << shift) - 1);
}

void LatencyHistogram::record(std::uint64_t value) {
    ++counts_[bucket_of(value)];
    min_ = count_ == 0 ? value : std::min(min_, value);
    max_ = std::max(max_, value);
    ++count_;
    sum_ += static_cast<long double>(value);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    if (other.count_ == 0) return;
    for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
    min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    count_ += other.count_;
    sum_ += other.sum_;
}

double LatencyHistogram::mean() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::value_at_percentile(double percentile) const {
    if (count_ == 0) return 0;
    const double clamped = std::clamp(percentile, 0.0, 100.0);
    // Nearest rank: ceil(p/100 * n), at least the first sample. The small epsilon keeps
    // 99.9 % of 1000 at rank 999 despite 99.9/100*1000 being 999.0000000000001 in binary.
    const double exact_rank = clamped / 100.0 * static_cast<double>(count_);
    auto rank = static_cast<std::uint64_t>(std::ceil(exact_rank - 1e-9));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::min(bucket_highest(i), max_);
    }
    return max_;
}

}  // namespace coalition::loadgen
