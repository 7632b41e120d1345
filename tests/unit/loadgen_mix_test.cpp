#include "tools/loadgen/mix.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace coalition::loadgen {
namespace {

TEST(LoadgenMix, ParsesTheDefaultSpelling) {
    const Mix mix = parse_mix("earn=70,burn=25,reversal=5");
    EXPECT_EQ(mix.weight(ClaimKind::earn), 70u);
    EXPECT_EQ(mix.weight(ClaimKind::burn), 25u);
    EXPECT_EQ(mix.weight(ClaimKind::reversal), 5u);
    EXPECT_EQ(mix.total(), 100u);
    EXPECT_EQ(mix.to_string(), "earn=70,burn=25,reversal=5");
}

TEST(LoadgenMix, OrderIsFreeAndMissingKindsWeighNothing) {
    const Mix mix = parse_mix("burn=1,earn=2");
    EXPECT_EQ(mix.weight(ClaimKind::earn), 2u);
    EXPECT_EQ(mix.weight(ClaimKind::burn), 1u);
    EXPECT_EQ(mix.weight(ClaimKind::reversal), 0u);
    EXPECT_EQ(parse_mix("reversal=0,earn=1").to_string(), "earn=1,burn=0,reversal=0");
}

TEST(LoadgenMix, RefusesWhatItCannotMeanExactly) {
    for (const char* bad :
         {"", "earn", "earn=", "=5", "earn=70,", ",earn=1", "earn=1,,burn=1", "earn=-1", "earn=1.5",
          "earn=0x10", "earn= 5", "Earn=5", "redeem=5", "earn=1,earn=2", "earn=0,burn=0",
          "earn=1000001", "earn=99999999999999999999"}) {
        EXPECT_THROW(parse_mix(bad), MixError) << "'" << bad << "'";
    }
}

TEST(LoadgenMix, ErrorsNameTheCulprit) {
    try {
        parse_mix("earn=1,redeem=5");
        FAIL() << "no error";
    } catch (const MixError& e) {
        EXPECT_NE(std::string(e.what()).find("redeem"), std::string::npos) << e.what();
    }
}

TEST(LoadgenMix, PickSplitsDrawsInProportion) {
    const Mix mix = parse_mix("earn=70,burn=25,reversal=5");
    std::array<int, kClaimKindCount> counts{};
    for (std::uint64_t draw = 0; draw < mix.total(); ++draw) {
        ++counts[static_cast<std::size_t>(mix.pick(draw))];
    }
    EXPECT_EQ(counts[0], 70);
    EXPECT_EQ(counts[1], 25);
    EXPECT_EQ(counts[2], 5);
    EXPECT_EQ(mix.pick(0), ClaimKind::earn);
    EXPECT_EQ(mix.pick(69), ClaimKind::earn);
    EXPECT_EQ(mix.pick(70), ClaimKind::burn);
    EXPECT_EQ(mix.pick(95), ClaimKind::reversal);
}

TEST(LoadgenMix, ZeroWeightKindsAreNeverPicked) {
    const Mix mix = parse_mix("earn=0,burn=3,reversal=0");
    for (std::uint64_t draw = 0; draw < 10; ++draw) EXPECT_EQ(mix.pick(draw), ClaimKind::burn);
}

}  // namespace
}  // namespace coalition::loadgen
