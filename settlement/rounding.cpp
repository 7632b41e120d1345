#include "settlement/rounding.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <utility>

namespace coalition::settlement {

MinorUnits round_half_even_to_minor(Micros amount, int exponent) {
    if (exponent < 0 || exponent > kMinorUnitExponentMax) {
        throw std::invalid_argument("minor unit exponent must be within 0..6");
    }
    std::int64_t divisor = 1;
    for (int i = exponent; i < kMinorUnitExponentMax; ++i) divisor *= 10;

    // Floor division first, so that the remainder is never negative and one rule serves both
    // signs: C++ division truncates toward zero, which would mirror ties the wrong way.
    std::int64_t quotient = amount.value() / divisor;
    std::int64_t remainder = amount.value() % divisor;
    if (remainder < 0) {
        quotient -= 1;
        remainder += divisor;
    }
    // remainder < divisor <= 10^6, so doubling it cannot overflow.
    const std::int64_t twice = remainder * 2;
    if (twice > divisor || (twice == divisor && quotient % 2 != 0)) {
        quotient = checked_add(quotient, 1);
    }
    return MinorUnits(quotient);
}

namespace {

// ISO 4217 (list one, 2024) codes whose minor unit is not 2, and the codes with no minor
// unit at all (funds, precious metals, testing), which a settlement cannot be expressed in.
constexpr int kNoMinorUnit = -1;
// One line per group reads better than one line per currency.
// clang-format off
constexpr std::array<std::pair<std::string_view, int>, 35> kExponentExceptions{{
    {"BHD", 3}, {"BIF", 0}, {"CLF", 4}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"IQD", 3},
    {"ISK", 0}, {"JOD", 3}, {"JPY", 0}, {"KMF", 0}, {"KRW", 0}, {"KWD", 3}, {"LYD", 3},
    {"OMR", 3}, {"PYG", 0}, {"RWF", 0}, {"TND", 3}, {"UGX", 0}, {"UYI", 0}, {"UYW", 4},
    {"VND", 0}, {"VUV", 0}, {"XAF", 0}, {"XOF", 0}, {"XPF", 0},
    {"XAG", kNoMinorUnit}, {"XAU", kNoMinorUnit}, {"XBA", kNoMinorUnit},
    {"XDR", kNoMinorUnit}, {"XPD", kNoMinorUnit}, {"XPT", kNoMinorUnit},
    {"XSU", kNoMinorUnit}, {"XTS", kNoMinorUnit}, {"XXX", kNoMinorUnit},
}};

// ISO 4217 list one (2025): every active code whose minor unit is 2.
constexpr std::array<std::string_view, 140> kTwoDecimalCurrencies{
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT",
    "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK",
    "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR",
    "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN", "UYU",
    "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG"};
// clang-format on

}  // namespace

std::optional<int> iso4217_minor_unit_exponent(std::string_view currency) {
    for (const auto& [code, exponent] : kExponentExceptions) {
        if (code == currency) {
            if (exponent == kNoMinorUnit) return std::nullopt;
            return exponent;
        }
    }
    if (std::find(kTwoDecimalCurrencies.begin(), kTwoDecimalCurrencies.end(), currency) !=
        kTwoDecimalCurrencies.end()) {
        return 2;
    }
    return std::nullopt;
}

int minor_unit_exponent(std::string_view currency) {
    return iso4217_minor_unit_exponent(currency).value_or(2);
}

}  // namespace coalition::settlement
