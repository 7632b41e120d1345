#pragma once
// What to send next: earns, burns and reversals drawn from a mix over M members and P partners,
// with just enough bookkeeping to make the claims plausible. Burns go to members believed to have
// points, reversals to earlier booked claims of the same partner, each reversed at most once.
// Pure and single-threaded (each load thread owns one), seeded, so a run can be repeated; the
// webhook-ids come from a per-run prefix so they are fresh on every run all the same.
#include "tools/loadgen/mix.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace coalition::loadgen {

struct WorkloadConfig {
    Mix mix;
    std::size_t partner_count = 1;
    std::uint64_t member_count = 1;
    std::string member_prefix = "M-";  // member i (1-based) is prefix + i
    std::string id_prefix;             // webhook-id i is id_prefix + i: unique per run and thread
    std::uint64_t seed = 1;
    // Burns ignore the expected balances (any member, any small amount): for the hot-member
    // run, where many connections race for one balance and 422 insufficient_points is the point.
    bool blind_burns = false;
};

inline constexpr std::int64_t kEarnPointsMax = 100;
inline constexpr std::int64_t kBurnPointsMax = 20;
// Booked claims kept per partner as reversal targets; beyond it a random one is forgotten, which
// bounds memory on long runs (a forgotten claim is simply never reversed).
inline constexpr std::size_t kReversalPoolMax = 100'000;

struct PlannedClaim {
    ClaimKind kind = ClaimKind::earn;   // what is sent
    ClaimKind drawn = ClaimKind::earn;  // what the mix drew; differs when nothing fit (fallback)
    std::size_t partner = 0;            // index into the partner list
    std::uint64_t member = 0;           // 0-based member index (a reversal: its target's member)
    std::int64_t points = 0;            // earn/burn points; a reversal: its target's points
    ClaimKind target_kind = ClaimKind::earn;  // a reversal's target
    std::string webhook_id;
    std::string body;
};

class Workload {
  public:
    explicit Workload(WorkloadConfig config);

    PlannedClaim next();
    // The answer's status for a claim from next() (0: no answer, e.g. a transport error).
    // Every planned claim must be reported exactly once, so reserved points are given back.
    void on_outcome(const PlannedClaim& claim, int status);

    std::string member_id(std::uint64_t member) const;
    std::int64_t expected_balance(std::uint64_t member) const;
    std::size_t funded_member_count() const { return funded_.size(); }
    std::size_t reversal_pool_size(std::size_t partner) const;
    std::uint64_t fallbacks() const { return fallbacks_; }

  private:
    struct Reversible {
        std::string webhook_id;
        std::uint64_t member = 0;
        std::int64_t points = 0;
        ClaimKind kind = ClaimKind::earn;
    };

    std::uint64_t draw(std::uint64_t bound);  // uniform in [0, bound)
    void adjust_balance(std::uint64_t member, std::int64_t delta);
    bool plan_burn(PlannedClaim& claim);
    bool plan_reversal(PlannedClaim& claim);
    void plan_earn(PlannedClaim& claim);

    WorkloadConfig config_;
    std::mt19937_64 random_;
    std::uint64_t counter_ = 0;
    std::uint64_t fallbacks_ = 0;
    std::vector<std::int64_t> expected_;
    // Members whose expected balance is > 0, and each member's place in it (kNotFunded if none),
    // so a burn finds a funded member in O(1).
    std::vector<std::uint64_t> funded_;
    std::vector<std::size_t> funded_position_;
    std::vector<std::vector<Reversible>> reversible_;  // per partner
};

// Claim bodies, serialised by hand: ids here are [A-Za-z0-9._-] and printable ASCII without
// quotes or backslashes, so nothing needs escaping, and JSON libraries cost the load generator
// CPU the server would rather have.
std::string earn_body(const std::string& member_id, std::int64_t points);
std::string burn_body(const std::string& member_id, std::int64_t points);
std::string reversal_body(const std::string& webhook_id);

}  // namespace coalition::loadgen
