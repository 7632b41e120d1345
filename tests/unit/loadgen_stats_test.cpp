#include "tools/loadgen/stats.hpp"

#include <gtest/gtest.h>

namespace coalition::loadgen {
namespace {

// A fixed-rate run lasts at least its schedule: N slots of 1/rate each. Measured to the last
// answer alone, 4 requests at 2/s (slots at 0, 0.5, 1 and 1.5 s, answered at once) read 2.6/s.
TEST(LoadgenStats, AFixedRateRunLastsAtLeastItsSchedule) {
    EXPECT_DOUBLE_EQ(run_elapsed_s(1.51, 4, 2.0), 2.0);
    // Its last requests failed at once (connections already closed): not 43.8/s.
    EXPECT_DOUBLE_EQ(run_elapsed_s(0.023, 4, 0.025), 160.0);
    // A stalled server's answers came after the schedule: the run lasted until then.
    EXPECT_DOUBLE_EQ(run_elapsed_s(3.5, 4, 2.0), 3.5);
}

TEST(LoadgenStats, AClosedLoopRunLastsUntilItsLastAnswer) {
    EXPECT_DOUBLE_EQ(run_elapsed_s(1.51, 4000, 0.0), 1.51);
}

}  // namespace
}  // namespace coalition::loadgen
