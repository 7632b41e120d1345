#include "ledger/slice.hpp"

#include "ledger/result.hpp"

namespace coalition::ledger {

void check_slice(const Slice& slice) {
    require(slice.points > Points(0), "slice: points must be > 0");
    require(slice.point_value > Micros(0), "slice: point_value must be > 0");
    require(slice.amount == value_of(slice.points, slice.point_value),
            "slice: amount must equal points × point_value");
    require(!slice.issuer.empty() && !slice.redeemer.empty(), "slice: partners must be named");
    require((slice.kind == SliceKind::burn_reversal) == (slice.reverses_slice_id != 0),
            "slice: only a reversal slice names the slice it reverses");
}

}  // namespace coalition::ledger
