#include "settlement/rounding.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>

namespace coalition::settlement {
namespace {

std::int64_t round_cents(std::int64_t micros) {
    return round_half_even_to_minor(Micros(micros), 2).value();
}

TEST(RoundHalfEvenToMinor, TiesGoToTheEvenNeighbour) {
    EXPECT_EQ(round_cents(25'000), 2);  // 2.5 cents
    EXPECT_EQ(round_cents(35'000), 4);  // 3.5 cents
    EXPECT_EQ(round_cents(15'000), 2);  // 1.5 cents
    EXPECT_EQ(round_cents(5'000), 0);   // 0.5 cents
    EXPECT_EQ(round_cents(-25'000), -2);
    EXPECT_EQ(round_cents(-35'000), -4);
    EXPECT_EQ(round_cents(-15'000), -2);
    EXPECT_EQ(round_cents(-5'000), 0);
}

TEST(RoundHalfEvenToMinor, NonTiesGoToTheNearest) {
    EXPECT_EQ(round_cents(0), 0);
    EXPECT_EQ(round_cents(24'999), 2);
    EXPECT_EQ(round_cents(25'001), 3);
    EXPECT_EQ(round_cents(-24'999), -2);
    EXPECT_EQ(round_cents(-25'001), -3);
    EXPECT_EQ(round_cents(1), 0);
    EXPECT_EQ(round_cents(-1), 0);
    EXPECT_EQ(round_cents(9'999), 1);
    EXPECT_EQ(round_cents(-9'999), -1);
    EXPECT_EQ(round_cents(1'500'000), 150);  // whole cents are untouched
    EXPECT_EQ(round_cents(-1'500'000), -150);
}

TEST(RoundHalfEvenToMinor, OtherExponents) {
    // JPY: no minor unit, 10^6 micro-units per yen.
    EXPECT_EQ(round_half_even_to_minor(Micros(500'000), 0).value(), 0);
    EXPECT_EQ(round_half_even_to_minor(Micros(1'500'000), 0).value(), 2);
    EXPECT_EQ(round_half_even_to_minor(Micros(2'500'000), 0).value(), 2);
    EXPECT_EQ(round_half_even_to_minor(Micros(-2'500'001), 0).value(), -3);
    // KWD: 3 decimals, 1000 micro-units per fils.
    EXPECT_EQ(round_half_even_to_minor(Micros(1'500), 3).value(), 2);
    EXPECT_EQ(round_half_even_to_minor(Micros(2'500), 3).value(), 2);
    EXPECT_EQ(round_half_even_to_minor(Micros(-500), 3).value(), 0);
    // Exponent 6: the minor unit is the micro-unit, nothing to round.
    EXPECT_EQ(round_half_even_to_minor(Micros(-123'457), 6).value(), -123'457);
}

TEST(RoundHalfEvenToMinor, ExtremesDoNotOverflow) {
    constexpr auto max = std::numeric_limits<std::int64_t>::max();  // ...5807 micros
    constexpr auto min = std::numeric_limits<std::int64_t>::min();  // ...5808 micros
    EXPECT_EQ(round_cents(max), 922'337'203'685'478);
    EXPECT_EQ(round_cents(min), -922'337'203'685'478);
    EXPECT_EQ(round_half_even_to_minor(Micros(min), 6).value(), min);
    EXPECT_EQ(round_half_even_to_minor(Micros(max), 0).value(), 9'223'372'036'855);
}

TEST(RoundHalfEvenToMinor, RefusesExponentsOutsideMicroUnits) {
    EXPECT_THROW(round_half_even_to_minor(Micros(1), -1), std::invalid_argument);
    EXPECT_THROW(round_half_even_to_minor(Micros(1), 7), std::invalid_argument);
}

// Against a second formulation: the nearest multiple by distance, ties to the even one.
TEST(RoundHalfEvenToMinor, AgreesWithNearestByDistanceOnARange) {
    for (int exponent : {0, 2, 3, 4}) {
        std::int64_t divisor = 1;
        for (int i = exponent; i < 6; ++i) divisor *= 10;
        for (std::int64_t micros = -3 * divisor - 7; micros <= 3 * divisor + 7; ++micros) {
            // Candidates: the multiples of divisor just below and just above.
            std::int64_t low = micros / divisor;
            if (low * divisor > micros) --low;
            const std::int64_t high = low + 1;
            const std::int64_t to_low = micros - low * divisor;
            const std::int64_t to_high = high * divisor - micros;
            std::int64_t expected = to_low < to_high ? low : high;
            if (to_low == to_high) expected = (low % 2 == 0) ? low : high;
            ASSERT_EQ(round_half_even_to_minor(Micros(micros), exponent).value(), expected)
                << micros << " at exponent " << exponent;
        }
    }
}

TEST(MinorUnitExponent, FollowsIso4217) {
    EXPECT_EQ(iso4217_minor_unit_exponent("EUR"), 2);
    EXPECT_EQ(iso4217_minor_unit_exponent("USD"), 2);
    EXPECT_EQ(iso4217_minor_unit_exponent("JPY"), 0);
    EXPECT_EQ(iso4217_minor_unit_exponent("KWD"), 3);
    EXPECT_EQ(iso4217_minor_unit_exponent("CLF"), 4);
    // The whole of list one, not only the usual few: a Qatari or Kenyan program can be set up.
    for (const char* code : {"QAR", "UAH", "KES", "AFN", "XCD", "ZWG", "UYU"}) {
        EXPECT_EQ(iso4217_minor_unit_exponent(code), 2) << code;
    }
    EXPECT_EQ(iso4217_minor_unit_exponent("XAU"), std::nullopt);
    EXPECT_EQ(iso4217_minor_unit_exponent("QQQ"), std::nullopt);
    EXPECT_EQ(minor_unit_exponent("QQQ"), 2);
    EXPECT_EQ(minor_unit_exponent("XAU"), 2);
    EXPECT_EQ(minor_unit_exponent("ISK"), 0);
}

}  // namespace
}  // namespace coalition::settlement
