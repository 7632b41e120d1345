// `coalitionctl partner rotate-secret`: the old secret keeps working for 24 hours, and the server's
// clock (the one that checks webhook-timestamp, and that faketime moves in tests) ends it too,
// not only the database's. The real server runs under libfaketime 23 and 25 hours ahead, each on
// a database of this test's own (a server a day ahead closes today's date, which would disturb
// any other test).
#include "tests/support/claims_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/test_database.hpp"
#include "tests/support/tls_client.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

namespace coalition::testing {
namespace {

const std::string kFakeTimeLibrary = faketime_library();

// coalition-server's environment with its system clock `hours` ahead; monotonic clocks are left
// alone, so that I/O deadlines measure real time.
EnvOverrides clock_hours_ahead(int hours) {
    EnvOverrides env{{"LD_PRELOAD", kFakeTimeLibrary},
                     {"FAKETIME", "+" + std::to_string(hours) + "h"},
                     {"FAKETIME_DONT_FAKE_MONOTONIC", "1"}};
    // Under the sanitizer build libfaketime is preloaded ahead of the ASan runtime, whose
    // link-order check would refuse to start although its interception works.
    if (const char* asan = std::getenv("ASAN_OPTIONS")) {
        env["ASAN_OPTIONS"] = std::string(asan) + ":verify_asan_link_order=0";
    }
    return env;
}

std::int64_t now_s() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

TEST(SecretRotation, TheOldSecretWorksFor24HoursOnTheServersClock) {
    ASSERT_TRUE(!kFakeTimeLibrary.empty() && access(kFakeTimeLibrary.c_str(), R_OK) == 0)
        << "libfaketime is missing: apt-get install libfaketime";
    for (const int hours : {23, 25}) {
        SCOPED_TRACE(std::to_string(hours) + " hours after the rotation");
        TestDatabase database("secret_rotation");
        ProgramSetup setup(database);
        const PartnerSigner old_signer("grocer", setup.add_partner("grocer", "Grocer"));
        const auto rotated = setup.ctl({"partner", "rotate-secret", "grocer"});
        ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
        std::string new_secret = rotated.out;
        while (!new_secret.empty() && new_secret.back() == '\n') new_secret.pop_back();
        const PartnerSigner new_signer("grocer", new_secret);

        ServerProcess server(database.conninfo(), clock_hours_ahead(hours));
        TlsClient client(server.port());
        // Signed on the server's clock, as a till beside it would sign.
        const auto timestamp = now_s() + hours * 3600;
        const auto with_old =
            send_claim(client, old_signer.sign_at("old", earn_body("M-1", 5), timestamp));
        if (hours < 24) {
            EXPECT_EQ(with_old.status, 201) << with_old.body;
        } else {
            EXPECT_EQ(with_old.status, 401) << with_old.body;
            EXPECT_EQ(error_code_of(with_old), "invalid_signature");
        }
        const auto with_new =
            send_claim(client, new_signer.sign_at("new", earn_body("M-1", 5), timestamp));
        EXPECT_EQ(with_new.status, 201) << with_new.body;
        EXPECT_EQ(setup.query_int("SELECT count(*) FROM claims"), hours < 24 ? 2 : 1);
    }
}

// A rotated-out secret ends when its end comes, on the server's clock, not at the first re-read
// of the partner directory after it (up to refresh_interval_ms later): here its end falls
// between two re-reads 4 s apart.
TEST(SecretRotation, AnOldSecretEndsWhenItsEndComesNotAtTheNextReRead) {
    TestDatabase database("secret_end");
    ProgramSetup setup(database);
    const PartnerSigner old_signer("grocer", setup.add_partner("grocer", "Grocer"));
    ASSERT_EQ(setup.ctl({"partner", "rotate-secret", "grocer"}).exit_code, 0);
    ServerProcess server(database.conninfo(), {{"COALITION_REFRESH_INTERVAL_MS", "4000"}});
    TlsClient client(server.port());
    // The old secret ends 6 s from now (the database's clock, this host's).
    using namespace std::chrono;
    const auto ends = system_clock::time_point(milliseconds(setup.query_int(
        "WITH ended AS (UPDATE partner_secrets SET valid_until = now() + interval '6 seconds' "
        "WHERE valid_until IS NOT NULL RETURNING valid_until) "
        "SELECT (extract(epoch FROM valid_until) * 1000)::bigint FROM ended")));
    // A re-read (every 4 s) has loaded the new end by then; the old secret still has 1.5 s.
    std::this_thread::sleep_until(ends - milliseconds(1500));
    EXPECT_EQ(old_signer.post(client, "before", earn_body("M-1", 5)).status, 201);
    std::this_thread::sleep_until(ends + milliseconds(300));
    const auto after = old_signer.post(client, "after", earn_body("M-1", 5));
    EXPECT_EQ(after.status, 401) << after.body;
    EXPECT_EQ(error_code_of(after), "invalid_signature");
    EXPECT_EQ(setup.query_int("SELECT count(*) FROM claims"), 1);
}

}  // namespace
}  // namespace coalition::testing
