#include "tools/loadgen/stats.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace coalition::loadgen {
namespace {

constexpr std::array<double, 5> kPercentiles = {50, 90, 99, 99.9, 100};
// JSON keys; the text report spells p99_9 as p99.9.
constexpr std::array<const char*, 5> kPercentileNames = {"p50", "p90", "p99", "p99_9", "max"};
constexpr std::array<const char*, 5> kPercentileLabels = {"p50", "p90", "p99", "p99.9", "max"};

double ms(std::uint64_t microseconds) { return static_cast<double>(microseconds) / 1000.0; }

std::string fixed(double value, int decimals) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    return buffer;
}

double rounded(double value, int decimals) {
    double scale = 1;
    for (int i = 0; i < decimals; ++i) scale *= 10;
    return static_cast<double>(static_cast<long long>(value * scale + (value < 0 ? -0.5 : 0.5))) /
           scale;
}

}  // namespace

void RunStats::merge(const RunStats& other) {
    for (const auto& [status, count] : other.by_status) by_status[status] += count;
    for (const auto& [code, count] : other.by_error) by_error[code] += count;
    for (const auto& [what, count] : other.by_transport) by_transport[what] += count;
    for (std::size_t i = 0; i < kClaimKindCount; ++i) {
        sent[i] += other.sent[i];
        booked[i] += other.booked[i];
    }
    fallbacks += other.fallbacks;
    reconnects += other.reconnects;
    latency_us.merge(other.latency_us);
}

std::uint64_t RunStats::answered() const {
    std::uint64_t sum = 0;
    for (const auto& [status, count] : by_status) sum += count;
    return sum;
}

std::uint64_t RunStats::successes() const {
    std::uint64_t sum = 0;
    for (const auto& [status, count] : by_status) sum += status >= 200 && status < 300 ? count : 0;
    return sum;
}

std::uint64_t RunStats::server_errors() const {
    std::uint64_t sum = 0;
    for (const auto& [status, count] : by_status) sum += status >= 500 ? count : 0;
    return sum;
}

std::uint64_t RunStats::transport_errors() const {
    std::uint64_t sum = 0;
    for (const auto& [what, count] : by_transport) sum += count;
    return sum;
}

double run_elapsed_s(double last_answer_s, std::uint64_t issued, double target_rate) {
    if (target_rate <= 0) return last_answer_s;
    return std::max(last_answer_s, static_cast<double>(issued) / target_rate);
}

double RunSummary::claims_per_s() const {
    return elapsed_s > 0 ? static_cast<double>(stats.successes()) / elapsed_s : 0;
}

double RunSummary::requests_per_s() const {
    return elapsed_s > 0 ? static_cast<double>(stats.answered()) / elapsed_s : 0;
}

bool RunSummary::clean() const {
    return stats.transport_errors() == 0 && stats.server_errors() == 0;
}

std::string format_text(const RunSummary& summary) {
    const auto& stats = summary.stats;
    std::ostringstream out;
    out << "mode         " << summary.mode;
    if (summary.mode == "fixed-rate") {
        // A slow schedule (0.025/s) must not read as 0.0/s.
        out << " at " << fixed(summary.target_rate, summary.target_rate < 1 ? 3 : 1) << "/s";
    }
    out << ", " << summary.connections << " connections, " << summary.threads << " thread(s), mix "
        << summary.mix << "\n";
    out << "elapsed      " << fixed(summary.elapsed_s, 3) << " s"
        << (summary.time_capped ? " (stopped by the 600 s cap)" : "") << "\n";
    out << "claims/s     " << fixed(summary.claims_per_s(), 1) << "   (2xx answers per second)\n";
    out << "requests/s   " << fixed(summary.requests_per_s(), 1) << "\n";
    out << "sent         ";
    for (std::size_t i = 0; i < kClaimKindCount; ++i) {
        out << (i ? ", " : "") << kind_name(static_cast<ClaimKind>(i)) << " " << stats.sent[i]
            << " (" << stats.booked[i] << " booked)";
    }
    out << "\n";
    if (stats.fallbacks) out << "fallbacks    " << stats.fallbacks << " sent as earns\n";
    out << "status       ";
    bool first = true;
    for (const auto& [status, count] : stats.by_status) {
        out << (first ? "" : ", ") << status << " x" << count;
        first = false;
    }
    out << (first ? "(no answers)" : "") << "\n";
    for (const auto& [code, count] : stats.by_error)
        out << "  error      " << code << " x" << count << "\n";
    for (const auto& [what, count] : stats.by_transport) {
        out << "  transport  " << what << " x" << count << "\n";
    }
    if (stats.reconnects) out << "reconnects   " << stats.reconnects << "\n";
    out << "latency ms  ";
    for (std::size_t i = 0; i < kPercentiles.size(); ++i) {
        out << " " << kPercentileLabels[i] << " "
            << fixed(ms(stats.latency_us.value_at_percentile(kPercentiles[i])), 3);
    }
    out << (summary.mode == "fixed-rate" ? "   (from the intended send time)" : "") << "\n";
    out << "result       "
        << (summary.clean() ? "clean (no transport errors, no 5xx)" : "ERRORS (transport or 5xx)")
        << "\n";
    return out.str();
}

std::string format_json(const RunSummary& summary) {
    const auto& stats = summary.stats;
    nlohmann::ordered_json json;
    json["mode"] = summary.mode;
    if (summary.mode == "fixed-rate") json["target_rate"] = summary.target_rate;
    json["connections"] = summary.connections;
    json["threads"] = summary.threads;
    json["mix"] = summary.mix;
    json["elapsed_s"] = rounded(summary.elapsed_s, 3);
    json["time_capped"] = summary.time_capped;
    json["claims_per_s"] = rounded(summary.claims_per_s(), 1);
    json["requests_per_s"] = rounded(summary.requests_per_s(), 1);
    std::uint64_t sent_total = 0;
    for (const auto count : stats.sent) sent_total += count;
    json["requests"] = sent_total;
    json["answered"] = stats.answered();
    json["successes"] = stats.successes();
    json["server_errors"] = stats.server_errors();
    json["transport_errors"] = stats.transport_errors();
    nlohmann::ordered_json sent;
    nlohmann::ordered_json booked;
    for (std::size_t i = 0; i < kClaimKindCount; ++i) {
        const std::string name(kind_name(static_cast<ClaimKind>(i)));
        sent[name] = stats.sent[i];
        booked[name] = stats.booked[i];
    }
    json["sent"] = sent;
    json["booked"] = booked;
    json["fallbacks"] = stats.fallbacks;
    json["reconnects"] = stats.reconnects;
    nlohmann::ordered_json statuses = nlohmann::ordered_json::object();
    for (const auto& [status, count] : stats.by_status) statuses[std::to_string(status)] = count;
    json["status"] = statuses;
    json["errors"] = nlohmann::ordered_json(stats.by_error);
    json["transport"] = nlohmann::ordered_json(stats.by_transport);
    nlohmann::ordered_json latency;
    for (std::size_t i = 0; i < kPercentiles.size(); ++i) {
        latency[kPercentileNames[i]] =
            rounded(ms(stats.latency_us.value_at_percentile(kPercentiles[i])), 3);
    }
    latency["mean"] = rounded(stats.latency_us.mean() / 1000.0, 3);
    json["latency_ms"] = latency;
    json["clean"] = summary.clean();
    return json.dump();
}

}  // namespace coalition::loadgen
