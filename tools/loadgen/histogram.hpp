#pragma once
// A latency histogram in the HDR style: exact below 128 units, then 64 sub-buckets per power of
// two, so every recorded value is reported within 1/64 (1.6 %) of itself, over the whole uint64
// range, in a fixed 30 KB with no allocation per sample. Percentiles read the highest value a
// bucket can hold, so a reported p99 is never lower than the true one.
#include <array>
#include <cstddef>
#include <cstdint>

namespace coalition::loadgen {

class LatencyHistogram {
  public:
    // Sub-buckets of the first, exact range; each later power of two gets half as many.
    static constexpr unsigned kExactBits = 7;
    static constexpr std::uint64_t kExactLimit = std::uint64_t{1} << kExactBits;  // 128
    static constexpr std::uint64_t kHalf = kExactLimit / 2;                       // 64
    static constexpr std::size_t kBucketCount = kExactLimit + (64 - kExactBits) * kHalf;

    void record(std::uint64_t value);
    void merge(const LatencyHistogram& other);

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
    std::uint64_t max() const { return max_; }
    double mean() const;

    // The value at `percentile` (0 < p <= 100) by the nearest-rank rule: the smallest recorded
    // value v such that at least p % of the samples are <= v, rounded up to its bucket's top and
    // capped at the exact maximum. 0 when empty.
    std::uint64_t value_at_percentile(double percentile) const;

    // Exposed for tests: where a value goes, and the range of values a bucket stands for.
    static std::size_t bucket_of(std::uint64_t value);
    static std::uint64_t bucket_lowest(std::size_t bucket);
    static std::uint64_t bucket_highest(std::size_t bucket);

  private:
    std::array<std::uint64_t, kBucketCount> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t min_ = 0;
    std::uint64_t max_ = 0;
    // long double: a sum of 10^9 microsecond samples stays exact far beyond any run's length.
    long double sum_ = 0;
};

}  // namespace coalition::loadgen
