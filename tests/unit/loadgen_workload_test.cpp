#include "tools/loadgen/workload.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>

namespace coalition::loadgen {
namespace {

WorkloadConfig config(const std::string& mix, std::uint64_t members = 50) {
    WorkloadConfig c;
    c.mix = parse_mix(mix);
    c.partner_count = 3;
    c.member_count = members;
    c.member_prefix = "M-";
    c.id_prefix = "run-";
    c.seed = 7;
    return c;
}

// A toy ledger standing in for the server: books earns and burns, refuses overdrafts and
// second reversals, and answers like the contract (201 or 422).
class ToyServer {
  public:
    int answer(const PlannedClaim& claim) {
        const auto body = nlohmann::json::parse(claim.body);
        const std::string type = body.at("type");
        if (type == "earn") {
            balance_[body.at("member_id")] += body.at("points").get<std::int64_t>();
        } else if (type == "burn") {
            auto& balance = balance_[body.at("member_id")];
            const auto points = body.at("points").get<std::int64_t>();
            if (balance < points) return 422;
            balance -= points;
        } else {
            const std::string target = body.at("reverses");
            if (!reversed_.insert(target).second) return 422;
        }
        return 201;
    }

  private:
    std::map<std::string, std::int64_t> balance_;
    std::set<std::string> reversed_;
};

TEST(LoadgenWorkload, WebhookIdsAreUniqueAndCarryThePrefix) {
    Workload workload(config("earn=1"));
    std::set<std::string> ids;
    for (int i = 0; i < 1000; ++i) {
        const auto claim = workload.next();
        EXPECT_EQ(claim.webhook_id.rfind("run-", 0), 0u);
        EXPECT_TRUE(ids.insert(claim.webhook_id).second) << claim.webhook_id;
        workload.on_outcome(claim, 201);
    }
}

TEST(LoadgenWorkload, EarnsAreOneToOneHundredPointsOverTheMembers) {
    Workload workload(config("earn=1", 5));
    std::set<std::uint64_t> members;
    for (int i = 0; i < 2000; ++i) {
        const auto claim = workload.next();
        ASSERT_EQ(claim.kind, ClaimKind::earn);
        ASSERT_GE(claim.points, 1);
        ASSERT_LE(claim.points, kEarnPointsMax);
        ASSERT_LT(claim.partner, 3u);
        members.insert(claim.member);
        const auto body = nlohmann::json::parse(claim.body);
        EXPECT_EQ(body.at("member_id"), workload.member_id(claim.member));
        EXPECT_EQ(body.at("points"), claim.points);
    }
    EXPECT_EQ(members.size(), 5u);
    EXPECT_EQ(workload.member_id(0), "M-1");
}

TEST(LoadgenWorkload, NothingToBurnOrReverseYetFallsBackToEarns) {
    Workload workload(config("burn=1,reversal=1"));
    const auto claim = workload.next();
    EXPECT_EQ(claim.kind, ClaimKind::earn);
    EXPECT_NE(claim.drawn, ClaimKind::earn);
    EXPECT_EQ(workload.fallbacks(), 1u);
}

TEST(LoadgenWorkload, BurnsNeverExceedWhatTheMemberWasSeenToEarn) {
    Workload workload(config("earn=70,burn=25,reversal=5"));
    ToyServer server;
    std::map<std::string, int> outcomes;
    for (int i = 0; i < 20'000; ++i) {
        const auto claim = workload.next();
        const int status = server.answer(claim);
        if (claim.kind == ClaimKind::burn) {
            // With every answer in before the next claim, expectations are exact: no 422.
            EXPECT_EQ(status, 201) << claim.body;
        }
        workload.on_outcome(claim, status);
        ++outcomes[std::string(kind_name(claim.kind))];
    }
    EXPECT_GT(outcomes["burn"], 4000);
    EXPECT_GT(outcomes["reversal"], 500);
}

TEST(LoadgenWorkload, ReversalsTargetBookedClaimsOfTheSamePartnerOnce) {
    Workload workload(config("earn=50,burn=20,reversal=30"));
    std::map<std::string, std::size_t> booked_by;  // webhook-id -> partner
    std::set<std::string> reversed;
    for (int i = 0; i < 10'000; ++i) {
        const auto claim = workload.next();
        int status = 201;
        if (claim.kind == ClaimKind::reversal) {
            const std::string target = nlohmann::json::parse(claim.body).at("reverses");
            ASSERT_TRUE(booked_by.count(target)) << "reverses a claim never booked: " << target;
            EXPECT_EQ(booked_by[target], claim.partner);
            EXPECT_TRUE(reversed.insert(target).second) << "reversed twice: " << target;
        } else if (i % 7 == 0) {
            status = 422;  // refused claims must never become reversal targets
        } else {
            booked_by[claim.webhook_id] = claim.partner;
        }
        workload.on_outcome(claim, status);
    }
    EXPECT_GT(reversed.size(), 1000u);
}

TEST(LoadgenWorkload, InFlightBurnsReserveAndFailedOnesGiveBack) {
    Workload workload(config("earn=1", 1));
    auto earn = workload.next();
    workload.on_outcome(earn, 201);
    const auto balance = workload.expected_balance(0);
    ASSERT_EQ(balance, earn.points);

    WorkloadConfig both = config("earn=1,burn=1000000", 1);
    Workload mixed(both);
    PlannedClaim first = mixed.next();  // a fallback earn: nothing funded yet
    ASSERT_EQ(first.kind, ClaimKind::earn);
    mixed.on_outcome(first, 201);
    std::int64_t reserved = 0;
    std::vector<PlannedClaim> in_flight;
    while (mixed.funded_member_count() > 0) {
        auto claim = mixed.next();
        if (claim.kind != ClaimKind::burn) {
            mixed.on_outcome(claim, 500);  // an earn refused: changes nothing
            continue;
        }
        reserved += claim.points;
        in_flight.push_back(std::move(claim));
    }
    // Concurrent burns never promise more than the member was seen to have.
    EXPECT_EQ(reserved, first.points);
    EXPECT_EQ(mixed.expected_balance(0), 0);
    for (const auto& claim : in_flight) mixed.on_outcome(claim, 0);  // all failed in transit
    EXPECT_EQ(mixed.expected_balance(0), first.points);
    EXPECT_EQ(mixed.funded_member_count(), 1u);
}

TEST(LoadgenWorkload, BlindBurnsIgnoreBalances) {
    WorkloadConfig c = config("burn=1", 1);
    c.blind_burns = true;
    Workload workload(c);
    for (int i = 0; i < 100; ++i) {
        const auto claim = workload.next();
        ASSERT_EQ(claim.kind, ClaimKind::burn);
        ASSERT_GE(claim.points, 1);
        ASSERT_LE(claim.points, kBurnPointsMax);
        workload.on_outcome(claim, 422);
    }
    EXPECT_EQ(workload.fallbacks(), 0u);
}

TEST(LoadgenWorkload, SameSeedSameClaims) {
    Workload a(config("earn=70,burn=25,reversal=5"));
    Workload b(config("earn=70,burn=25,reversal=5"));
    for (int i = 0; i < 500; ++i) {
        const auto x = a.next();
        const auto y = b.next();
        ASSERT_EQ(x.body, y.body);
        a.on_outcome(x, 201);
        b.on_outcome(y, 201);
    }
}

TEST(LoadgenWorkload, BodiesAreWhatTheContractShows) {
    EXPECT_EQ(earn_body("M-1", 12), R"({"type":"earn","member_id":"M-1","points":12})");
    EXPECT_EQ(burn_body("M-1", 3), R"({"type":"burn","member_id":"M-1","points":3})");
    EXPECT_EQ(reversal_body("lg-1"), R"({"type":"reversal","reverses":"lg-1"})");
}

}  // namespace
}  // namespace coalition::loadgen
