// coalitionctl's output failing (a full disk, a closed pipe): a token or secret is printed once,
// so losing it must not exit 0.
#include "tools/ctl/commands.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <streambuf>
#include <string>

namespace coalition::ctl {
namespace {

// Refuses every byte, as a stream on /dev/full does at its flush.
class RefusingBuffer : public std::streambuf {
  protected:
    int_type overflow(int_type) override { return traits_type::eof(); }
};

std::optional<std::string> no_environment(const std::string&) { return std::nullopt; }

TEST(CtlOutput, OutputThatCannotBeWrittenExitsNonZeroWithOneLine) {
    RefusingBuffer refusing;
    std::ostream out(&refusing);
    std::ostringstream err;
    EXPECT_EQ(run_ctl({"help"}, out, err, no_environment), kExitFailed);
    const std::string reason = err.str();
    EXPECT_THAT(reason, ::testing::StartsWith("coalitionctl: could not write the output"));
    EXPECT_EQ(std::count(reason.begin(), reason.end(), '\n'), 1);
}

TEST(CtlOutput, OutputThatIsWrittenExitsZero) {
    std::ostringstream out;
    std::ostringstream err;
    EXPECT_EQ(run_ctl({"help"}, out, err, no_environment), kExitOk);
    EXPECT_FALSE(out.str().empty());
    EXPECT_TRUE(err.str().empty());
}

}  // namespace
}  // namespace coalition::ctl
