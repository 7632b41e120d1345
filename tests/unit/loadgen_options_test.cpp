#include "tools/loadgen/options.hpp"
#include "tools/loadgen/stats.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace coalition::loadgen {
namespace {

std::vector<std::string> with(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--target", "127.0.0.1:8443", "--insecure", "--partners",
                                     "p.txt"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

TEST(LoadgenOptions, OnlyLoopbackTargets) {
    EXPECT_EQ(parse_target("127.0.0.1:8443").host, "127.0.0.1");
    EXPECT_EQ(parse_target("127.0.0.1:8443").port, 8443);
    EXPECT_EQ(parse_target("[::1]:9000").host, "::1");
    EXPECT_EQ(parse_target("[::1]:9000").port, 9000);
    for (const char* refused : {"10.0.0.1:8443", "example.com:443", "localhost:8443",
                                "0.0.0.0:8443", "[::]:8443", "127.0.0.2:8443", "[fe80::1]:1"}) {
        EXPECT_THROW(parse_target(refused), UsageError) << refused;
    }
    for (const char* malformed : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
                                  "127.0.0.1:x", "[::1]8443", ""}) {
        EXPECT_THROW(parse_target(malformed), UsageError) << malformed;
    }
}

TEST(LoadgenOptions, RefusalSaysWhy) {
    try {
        parse_target("192.168.1.5:8443");
        FAIL();
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("this machine"), std::string::npos);
    }
}

TEST(LoadgenOptions, ALoadMustBeBounded) {
    EXPECT_THROW(parse_options(with({})), UsageError);
    EXPECT_NO_THROW(parse_options(with({"--requests", "10"})));
    EXPECT_NO_THROW(parse_options(with({"--duration-s", "1.5"})));
    EXPECT_THROW(parse_options(with({"--duration-s", "601"})), UsageError);
    EXPECT_THROW(parse_options(with({"--duration-s", "0"})), UsageError);
    EXPECT_THROW(parse_options(with({"--requests", "0"})), UsageError);
    // At 1/s, 1,000 requests would outlast the 600 s cap.
    EXPECT_THROW(parse_options(with({"--requests", "1000", "--rate", "1"})), UsageError);
}

TEST(LoadgenOptions, ReadsEveryOption) {
    const auto options = parse_options(with({"--connections",
                                             "64",
                                             "--duration-s",
                                             "20",
                                             "--requests",
                                             "5000",
                                             "--rate",
                                             "250.5",
                                             "--mix",
                                             "earn=1",
                                             "--members",
                                             "7",
                                             "--member-prefix",
                                             "B-",
                                             "--seed",
                                             "42",
                                             "--json",
                                             "--threads",
                                             "2",
                                             "--blind-burns",
                                             "--timeout-ms",
                                             "500"}));
    EXPECT_EQ(options.connections, 64);
    EXPECT_EQ(options.duration_s, 20.0);
    EXPECT_EQ(options.requests, 5000u);
    EXPECT_EQ(options.rate, 250.5);
    EXPECT_EQ(options.mix.to_string(), "earn=1,burn=0,reversal=0");
    EXPECT_EQ(options.members, 7u);
    EXPECT_EQ(options.member_prefix, "B-");
    EXPECT_EQ(options.seed, 42u);
    EXPECT_TRUE(options.json);
    EXPECT_EQ(options.threads, 2);
    EXPECT_TRUE(options.blind_burns);
    EXPECT_EQ(options.timeout_ms, 500);
}

TEST(LoadgenOptions, RefusesNonsense) {
    EXPECT_THROW(parse_options(with({"--requests", "1", "--bogus"})), UsageError);
    EXPECT_THROW(parse_options(with({"--requests", "1", "--connections"})), UsageError);
    EXPECT_THROW(parse_options(with({"--requests", "1", "--mix", "earn=x"})), UsageError);
    EXPECT_THROW(parse_options(with({"--requests", "1", "--member-prefix", "bad prefix"})),
                 UsageError);
    EXPECT_THROW(parse_options(with({"--requests", "1", "--threads", "4", "--connections", "2"})),
                 UsageError);
    EXPECT_THROW(parse_options({"--requests", "1", "--insecure", "--partners", "p"}),
                 UsageError);  // no target
    // Exactly one way of treating the server's certificate.
    EXPECT_THROW(parse_options({"--target", "127.0.0.1:1", "--partners", "p", "--requests", "1"}),
                 UsageError);
    EXPECT_THROW(parse_options(with({"--requests", "1", "--ca", "ca.pem"})), UsageError);
}

TEST(LoadgenOptions, IdleModeNeedsAHoldAndNoLoad) {
    const std::vector<std::string> base = {"--target", "127.0.0.1:8443", "--insecure"};
    auto idle = base;
    idle.insert(idle.end(), {"--idle-connections", "1000", "--hold-s", "10"});
    const auto options = parse_options(idle);
    EXPECT_TRUE(options.idle_mode());
    EXPECT_EQ(options.idle_connections, 1000);
    auto no_hold = base;
    no_hold.insert(no_hold.end(), {"--idle-connections", "10"});
    EXPECT_THROW(parse_options(no_hold), UsageError);
    auto with_load = idle;
    with_load.insert(with_load.end(), {"--requests", "5"});
    EXPECT_THROW(parse_options(with_load), UsageError);
}

TEST(LoadgenOptions, PartnersFile) {
    std::istringstream good(
        "# id secret\n"
        "\n"
        "grocer whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
        "  fuel   whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD  \n");
    const auto partners = parse_partners(good, "p.txt");
    ASSERT_EQ(partners.size(), 2u);
    EXPECT_EQ(partners[0].id, "grocer");
    EXPECT_EQ(partners[1].id, "fuel");
    EXPECT_EQ(partners[0].key.size(), 24u);

    std::istringstream empty("# nothing\n");
    EXPECT_THROW(parse_partners(empty, "p.txt"), UsageError);
    std::istringstream no_secret("grocer\n");
    EXPECT_THROW(parse_partners(no_secret, "p.txt"), UsageError);
    std::istringstream bad_secret("grocer secret\n");
    EXPECT_THROW(parse_partners(bad_secret, "p.txt"), UsageError);
    std::istringstream bad_id("gro/cer whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
    EXPECT_THROW(parse_partners(bad_id, "p.txt"), UsageError);
    std::istringstream extra("grocer whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw more\n");
    EXPECT_THROW(parse_partners(extra, "p.txt"), UsageError);
}

TEST(LoadgenReport, CleanMeansNoTransportErrorAndNo5xx) {
    RunSummary summary;
    summary.mode = "closed-loop";
    summary.elapsed_s = 2;
    summary.stats.by_status[201] = 10;
    summary.stats.by_status[422] = 2;
    summary.stats.by_error["422 insufficient_points"] = 2;
    summary.stats.latency_us.record(1500);
    EXPECT_TRUE(summary.clean());
    EXPECT_DOUBLE_EQ(summary.claims_per_s(), 5.0);
    EXPECT_DOUBLE_EQ(summary.requests_per_s(), 6.0);

    const auto json = nlohmann::json::parse(format_json(summary));
    EXPECT_EQ(json.at("successes"), 10);
    EXPECT_EQ(json.at("status").at("422"), 2);
    EXPECT_EQ(json.at("errors").at("422 insufficient_points"), 2);
    EXPECT_EQ(json.at("latency_ms").at("max"), 1.5);
    EXPECT_EQ(json.at("clean"), true);
    EXPECT_NE(format_text(summary).find("clean"), std::string::npos);

    summary.stats.by_status[503] = 1;
    EXPECT_FALSE(summary.clean());
    summary.stats.by_status.erase(503);
    summary.stats.by_transport["read: timed out"] = 1;
    EXPECT_FALSE(summary.clean());
    EXPECT_EQ(nlohmann::json::parse(format_json(summary)).at("transport_errors"), 1);
}

}  // namespace
}  // namespace coalition::loadgen
