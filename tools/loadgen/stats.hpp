#pragma once
// What a load run counted, and its summary as text or JSON. Each load thread fills its own
// RunStats (no locks on the hot path); they are merged once at the end.
#include "tools/loadgen/histogram.hpp"
#include "tools/loadgen/mix.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <string>

namespace coalition::loadgen {

struct RunStats {
    std::map<int, std::uint64_t> by_status;
    std::map<std::string, std::uint64_t> by_error;      // "422 insufficient_points"
    std::map<std::string, std::uint64_t> by_transport;  // "read: timed out", "connect: ..."
    std::array<std::uint64_t, kClaimKindCount> sent{};
    std::array<std::uint64_t, kClaimKindCount> booked{};  // 2xx
    std::uint64_t fallbacks = 0;   // burns/reversals sent as earns: nothing fit yet
    std::uint64_t reconnects = 0;  // connections reopened (server closed it, or an error)
    LatencyHistogram latency_us;   // answered requests only

    void merge(const RunStats& other);
    std::uint64_t answered() const;
    std::uint64_t successes() const;      // 2xx
    std::uint64_t server_errors() const;  // 5xx
    std::uint64_t transport_errors() const;
};

struct RunSummary {
    std::string mode;        // "closed-loop" or "fixed-rate"
    double target_rate = 0;  // fixed-rate only
    int connections = 0;
    int threads = 0;
    std::string mix;
    double elapsed_s = 0;      // run_elapsed_s
    bool time_capped = false;  // stopped by the 600 s wall-clock cap, not by its own bounds
    RunStats stats;

    double claims_per_s() const;
    double requests_per_s() const;
    // The exit rule: a benchmark can assert "no errors" from the status alone.
    bool clean() const;
};

// The run's length in seconds: from its first (intended) send to its last answer, and in
// fixed-rate mode at least the schedule it issued, `issued` slots of 1/rate each. Without that
// floor the rate achieved read high by N/(N-1) (2.6/s for 2/s over 2 s), and by far more when
// the last requests failed early (found by review).
double run_elapsed_s(double last_answer_s, std::uint64_t issued, double target_rate);

std::string format_text(const RunSummary& summary);
std::string format_json(const RunSummary& summary);  // one line

}  // namespace coalition::loadgen
