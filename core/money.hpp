#pragma once
// Strong types for quantities of value. Points, Micros (10^-6 of the currency's major unit) and
// MinorUnits (cents) never mix implicitly, and every arithmetic step is overflow-checked:
// an overflow throws instead of silently wrapping someone's money.
#include <compare>
#include <cstdint>
#include <stdexcept>

namespace coalition {

class ArithmeticOverflow : public std::overflow_error {
public:
    using std::overflow_error::overflow_error;
};

inline std::int64_t checked_add(std::int64_t a, std::int64_t b) {
    std::int64_t out = 0;
    if (__builtin_add_overflow(a, b, &out)) throw ArithmeticOverflow("int64 addition overflow");
    return out;
}
inline std::int64_t checked_sub(std::int64_t a, std::int64_t b) {
    std::int64_t out = 0;
    if (__builtin_sub_overflow(a, b, &out)) throw ArithmeticOverflow("int64 subtraction overflow");
    return out;
}
inline std::int64_t checked_mul(std::int64_t a, std::int64_t b) {
    std::int64_t out = 0;
    if (__builtin_mul_overflow(a, b, &out)) throw ArithmeticOverflow("int64 multiplication overflow");
    return out;
}

// A quantity of one unit, tagged so that Points + Micros does not compile.
template <typename Tag>
class Quantity {
public:
    constexpr Quantity() = default;
    constexpr explicit Quantity(std::int64_t value) : value_(value) {}
    constexpr std::int64_t value() const { return value_; }

    friend Quantity operator+(Quantity a, Quantity b) { return Quantity(checked_add(a.value_, b.value_)); }
    friend Quantity operator-(Quantity a, Quantity b) { return Quantity(checked_sub(a.value_, b.value_)); }
    Quantity operator-() const { return Quantity(checked_sub(0, value_)); }
    Quantity& operator+=(Quantity b) { return *this = *this + b; }
    Quantity& operator-=(Quantity b) { return *this = *this - b; }
    friend constexpr auto operator<=>(Quantity, Quantity) = default;

private:
    std::int64_t value_ = 0;
};

using Points = Quantity<struct PointsTag>;
using Micros = Quantity<struct MicrosTag>;
using MinorUnits = Quantity<struct MinorUnitsTag>;

// The value of `points` at `micros_per_point` (point_value or issue_fee).
inline Micros value_of(Points points, Micros micros_per_point) {
    return Micros(checked_mul(points.value(), micros_per_point.value()));
}

}  // namespace coalition
