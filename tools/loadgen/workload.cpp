#include "tools/loadgen/workload.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <utility>

namespace coalition::loadgen {
namespace {

constexpr std::size_t kNotFunded = std::numeric_limits<std::size_t>::max();

}  // namespace

std::string earn_body(const std::string& member_id, std::int64_t points) {
    return R"({"type":"earn","member_id":")" + member_id + R"(","points":)" +
           std::to_string(points) + "}";
}

std::string burn_body(const std::string& member_id, std::int64_t points) {
    return R"({"type":"burn","member_id":")" + member_id + R"(","points":)" +
           std::to_string(points) + "}";
}

std::string reversal_body(const std::string& webhook_id) {
    return R"({"type":"reversal","reverses":")" + webhook_id + R"("})";
}

Workload::Workload(WorkloadConfig config) : config_(std::move(config)), random_(config_.seed) {
    if (config_.partner_count == 0) throw std::invalid_argument("workload: no partners");
    if (config_.member_count == 0) throw std::invalid_argument("workload: no members");
    if (config_.mix.total() == 0) throw std::invalid_argument("workload: empty mix");
    expected_.assign(config_.member_count, 0);
    funded_position_.assign(config_.member_count, kNotFunded);
    reversible_.resize(config_.partner_count);
}

std::uint64_t Workload::draw(std::uint64_t bound) {
    return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(random_);
}

std::string Workload::member_id(std::uint64_t member) const {
    return config_.member_prefix + std::to_string(member + 1);
}

std::int64_t Workload::expected_balance(std::uint64_t member) const { return expected_[member]; }

std::size_t Workload::reversal_pool_size(std::size_t partner) const {
    return reversible_[partner].size();
}

void Workload::adjust_balance(std::uint64_t member, std::int64_t delta) {
    auto& balance = expected_[member];
    const bool was_funded = balance > 0;
    balance += delta;
    const bool is_funded = balance > 0;
    if (is_funded && !was_funded) {
        funded_position_[member] = funded_.size();
        funded_.push_back(member);
    } else if (!is_funded && was_funded) {
        const std::size_t place = funded_position_[member];
        const std::uint64_t moved = funded_.back();
        funded_[place] = moved;
        funded_position_[moved] = place;
        funded_.pop_back();
        funded_position_[member] = kNotFunded;
    }
}

void Workload::plan_earn(PlannedClaim& claim) {
    claim.kind = ClaimKind::earn;
    claim.partner = static_cast<std::size_t>(draw(config_.partner_count));
    claim.member = draw(config_.member_count);
    claim.points = static_cast<std::int64_t>(draw(kEarnPointsMax)) + 1;
    claim.body = earn_body(member_id(claim.member), claim.points);
}

bool Workload::plan_burn(PlannedClaim& claim) {
    claim.kind = ClaimKind::burn;
    claim.partner = static_cast<std::size_t>(draw(config_.partner_count));
    if (config_.blind_burns) {
        claim.member = draw(config_.member_count);
        claim.points = static_cast<std::int64_t>(draw(kBurnPointsMax)) + 1;
    } else {
        if (funded_.empty()) return false;
        claim.member = funded_[static_cast<std::size_t>(draw(funded_.size()))];
        const std::int64_t most = std::min(expected_[claim.member], kBurnPointsMax);
        claim.points = static_cast<std::int64_t>(draw(static_cast<std::uint64_t>(most))) + 1;
        // Reserved now, so concurrent burns of one member do not all count on the same points.
        adjust_balance(claim.member, -claim.points);
    }
    claim.body = burn_body(member_id(claim.member), claim.points);
    return true;
}

bool Workload::plan_reversal(PlannedClaim& claim) {
    std::size_t partner = static_cast<std::size_t>(draw(config_.partner_count));
    // The drawn partner may have nothing booked yet: take the next one that has.
    for (std::size_t tried = 0; reversible_[partner].empty(); ++tried) {
        if (tried == config_.partner_count) return false;
        partner = (partner + 1) % config_.partner_count;
    }
    auto& pool = reversible_[partner];
    const auto place = static_cast<std::size_t>(draw(pool.size()));
    // Taken out of the pool when sent, whatever the answer: a claim is reversed at most once.
    Reversible target = std::move(pool[place]);
    pool[place] = std::move(pool.back());
    pool.pop_back();
    claim.kind = ClaimKind::reversal;
    claim.partner = partner;
    claim.member = target.member;
    claim.points = target.points;
    claim.target_kind = target.kind;
    claim.body = reversal_body(target.webhook_id);
    return true;
}

PlannedClaim Workload::next() {
    PlannedClaim claim;
    claim.drawn = config_.mix.pick(draw(config_.mix.total()));
    claim.webhook_id = config_.id_prefix + std::to_string(++counter_);
    bool planned = true;
    switch (claim.drawn) {
        case ClaimKind::earn:
            plan_earn(claim);
            break;
        case ClaimKind::burn:
            planned = plan_burn(claim);
            break;
        case ClaimKind::reversal:
            planned = plan_reversal(claim);
            break;
    }
    if (!planned) {
        // Nothing to burn or reverse yet (early in a run): an earn keeps the load going and
        // builds what later burns and reversals need. Counted, so the report can say so.
        ++fallbacks_;
        plan_earn(claim);
    }
    return claim;
}

void Workload::on_outcome(const PlannedClaim& claim, int status) {
    const bool booked = status >= 200 && status < 300;
    switch (claim.kind) {
        case ClaimKind::earn:
            if (!booked) return;
            adjust_balance(claim.member, claim.points);
            break;
        case ClaimKind::burn:
            if (!booked) {
                if (!config_.blind_burns) adjust_balance(claim.member, claim.points);
                return;
            }
            break;
        case ClaimKind::reversal:
            if (!booked) return;
            // Loose on purpose: an earn reversal removes what is left of its lot, which may be
            // less than its points; the server's 422 corrects any optimism later.
            adjust_balance(claim.member,
                           claim.target_kind == ClaimKind::earn ? -claim.points : claim.points);
            return;
    }
    auto& pool = reversible_[claim.partner];
    Reversible entry{claim.webhook_id, claim.member, claim.points, claim.kind};
    if (pool.size() < kReversalPoolMax) {
        pool.push_back(std::move(entry));
    } else {
        pool[static_cast<std::size_t>(draw(pool.size()))] = std::move(entry);
    }
}

}  // namespace coalition::loadgen
