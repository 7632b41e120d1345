#pragma once
// The one place where exact amounts (micro-units) become statement figures (minor units).
// Every figure of a run or statement is rounded here exactly once, half to even, so a
// long run of ties neither favours the operator nor the partners.
#include <optional>
#include <string_view>

#include "core/money.hpp"

namespace coalition::settlement {

// Minor units have at most 6 decimals, because amounts are computed in micro-units.
inline constexpr int kMinorUnitExponentMax = 6;

// Rounds `amount` to the minor unit of a currency with `exponent` decimals (EUR: 2), ties to the
// even neighbour, symmetric for negative amounts (-2.5 cents -> -2, -3.5 cents -> -4).
// Throws std::invalid_argument when exponent is outside 0..6.
MinorUnits round_half_even_to_minor(Micros amount, int exponent);

// ISO 4217 minor-unit exponent of a currency code: 0 for JPY, 3 for KWD, 2 for EUR.
// nullopt for codes ISO 4217 gives no minor unit (XAU, XDR, XXX...) or that are not listed.
std::optional<int> iso4217_minor_unit_exponent(std::string_view currency);

// The exponent a settlement uses: the ISO 4217 one where known, else 2, the exponent of the
// great majority of currencies (the program accepts any three capital letters as currency).
int minor_unit_exponent(std::string_view currency);

}  // namespace coalition::settlement
