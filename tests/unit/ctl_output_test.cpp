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
#include <vector>

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

// A secret or token typed where another argument was due is not echoed into stderr, which CI
// logs and the journal keep; an id that merely begins like one is.
TEST(CtlOutput, AUsageErrorDoesNotEchoASecretOrAToken) {
    const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const std::string token = "coal_" + std::string(64, 'a');
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"partner", "add", "grocer", "--name", "Grocer", secret},
             {"token", "revoke", "--id", "7", token},
             {"partner", secret}}) {
        std::ostringstream out;
        std::ostringstream err;
        EXPECT_EQ(run_ctl(args, out, err, no_environment), kExitUsage);
        EXPECT_EQ(err.str().find(secret.substr(6, 8)), std::string::npos) << err.str();
        EXPECT_EQ(err.str().find("aaaaaaaaaaaaaaaa"), std::string::npos) << err.str();
        EXPECT_THAT(err.str(), ::testing::HasSubstr("(not shown)"));
    }
    std::ostringstream out;
    std::ostringstream err;
    EXPECT_EQ(run_ctl({"partner", "coal_mine"}, out, err, no_environment), kExitUsage);
    EXPECT_THAT(err.str(), ::testing::HasSubstr("'coal_mine'"));
    std::ostringstream err_word;
    EXPECT_EQ(run_ctl({"partner", "charcoal_briquettes_north_east"}, out, err_word, no_environment),
              kExitUsage);
    EXPECT_THAT(err_word.str(), ::testing::HasSubstr("'charcoal_briquettes_north_east'"));
}

}  // namespace
}  // namespace coalition::ctl
