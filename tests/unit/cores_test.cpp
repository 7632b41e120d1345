// available_cores: the cores this process may use, not the host's, inside a container.
#include "core/cores.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <cstddef>
#include <thread>

namespace coalition {
namespace {

TEST(Cores, ACgroupV2QuotaGivesItsCoresRoundedUp) {
    EXPECT_EQ(cores_from_cpu_max("200000 100000\n"), 2);
    EXPECT_EQ(cores_from_cpu_max("150000 100000\n"), 2);  // 1.5 CPUs: two threads may run
    EXPECT_EQ(cores_from_cpu_max("50000 100000"), 1);
    EXPECT_EQ(cores_from_cpu_max("1 100000"), 1);
}

TEST(Cores, NoQuotaOrTextThatIsNotOneGivesNothing) {
    EXPECT_EQ(cores_from_cpu_max("max 100000\n"), std::nullopt);
    EXPECT_EQ(cores_from_cpu_max(""), std::nullopt);
    EXPECT_EQ(cores_from_cpu_max("200000"), std::nullopt);
    EXPECT_EQ(cores_from_cpu_max("2e5 100000"), std::nullopt);
    EXPECT_EQ(cores_from_cpu_max("200000 0"), std::nullopt);
    EXPECT_EQ(cores_from_cpu_max("-1 100000"), std::nullopt);
}

TEST(Cores, ACgroupV1QuotaOfMinusOneIsNone) {
    EXPECT_EQ(cores_from_cfs("-1\n", "100000\n"), std::nullopt);
    EXPECT_EQ(cores_from_cfs("300000\n", "100000\n"), 3);
    EXPECT_EQ(cores_from_cfs("x", "100000"), std::nullopt);
}

// The CPUs this process may run on bound the count: pinned to one, it has one core.
TEST(Cores, TheCpusTheProcessMayRunOnBoundTheCount) {
    const int all = available_cores();
    EXPECT_GE(all, 1);
    EXPECT_LE(all, static_cast<int>(std::max(1U, std::thread::hardware_concurrency())));

    cpu_set_t before;
    ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
    std::size_t first = 0;
    while (!CPU_ISSET(first, &before)) ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
    const int pinned = available_cores();
    ASSERT_EQ(sched_setaffinity(0, sizeof(before), &before), 0);
    EXPECT_EQ(pinned, 1);
    EXPECT_EQ(available_cores(), all);
}

}  // namespace
}  // namespace coalition
