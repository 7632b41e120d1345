// PostgreSQL stops under a steady stream of claims and comes back: the real server (the same
// process throughout) answers 503 unavailable while it is down, never 201, and afterwards the
// claims table holds exactly the claims that were answered 201, plus those whose retries were.
#include "tests/support/claims_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/test_database.hpp"
#include "tests/support/tls_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace coalition::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWorkers = 4;
constexpr int kRequestsMax = 1000;  // the whole stream, all workers together (~450 are needed)
constexpr auto kPacing = std::chrono::milliseconds(40);
constexpr int kAcceptedBeforeStop = 40;
constexpr int kAcceptedAfterStart = 20;
constexpr auto kDownFor = std::chrono::seconds(2);
constexpr auto kPhaseDeadline = std::chrono::seconds(30);
constexpr std::int64_t kPointsPerEarn = 10;
constexpr int kRetriesMax = 5;  // per id, for 503s from pooled connections not yet renewed

struct Attempt {
    std::string webhook_id;
    std::string member_id;
    std::string body;
    Clock::time_point sent;
    Clock::time_point answered;
    HttpResult result;    // status 0: no answer
    std::string failure;  // why there was no answer
};

// Starts the cluster again when the test leaves by any path, so a failure here cannot leave
// the shared test cluster down for the tests that follow.
class ClusterRestartGuard {
  public:
    ~ClusterRestartGuard() {
        if (!stopped_) return;
        try {
            start_test_cluster();
        } catch (const std::exception& e) {
            ADD_FAILURE() << "could not start the test cluster again: " << e.what();
        }
    }
    void stop() {
        stopped_ = true;  // set first: a pgctl that fails half-way still gets a start
        stop_test_cluster();
    }
    void start() {
        start_test_cluster();
        stopped_ = false;
    }

  private:
    bool stopped_ = false;
};

class EarnStream {
  public:
    EarnStream(int port, const PartnerSigner& partner) : port_(port), partner_(partner) {
        attempts_.resize(kWorkers);  // before any worker runs: no reallocation under them
        for (int w = 0; w < kWorkers; ++w) workers_.emplace_back([this, w] { run(w); });
    }
    ~EarnStream() { stop(); }

    void stop() {
        stop_ = true;
        for (auto& worker : workers_) {
            if (worker.joinable()) worker.join();
        }
    }
    int accepted() const { return accepted_; }
    // From now on, also count the 201s of attempts sent at or after `since`.
    void count_accepted_from(Clock::time_point since) { since_ = since.time_since_epoch().count(); }
    int accepted_counted() const { return accepted_since_; }
    bool exhausted() const { return sent_ >= kRequestsMax; }
    // Only after stop().
    std::vector<Attempt> attempts() const {
        std::vector<Attempt> all;
        for (const auto& list : attempts_) all.insert(all.end(), list.begin(), list.end());
        return all;
    }

  private:
    void run(int worker) {
        std::unique_ptr<TlsClient> client;
        const std::string member_id = "F-" + std::to_string(worker);
        for (int n = 0; !stop_.load() && sent_.fetch_add(1) < kRequestsMax; ++n) {
            Attempt attempt;
            attempt.webhook_id = "fault-" + std::to_string(worker) + "-" + std::to_string(n);
            attempt.member_id = member_id;
            attempt.body = earn_body(member_id, kPointsPerEarn);
            attempt.sent = Clock::now();
            try {
                if (!client) client = std::make_unique<TlsClient>(port_);
                attempt.result = partner_.post(*client, attempt.webhook_id, attempt.body);
            } catch (const std::exception& e) {
                attempt.failure = e.what();
                client.reset();  // the next attempt reconnects
            }
            attempt.answered = Clock::now();
            if (attempt.result.status == 201) {
                ++accepted_;
                if (attempt.sent.time_since_epoch().count() >= since_.load()) ++accepted_since_;
            }
            attempts_[static_cast<std::size_t>(worker)].push_back(std::move(attempt));
            std::this_thread::sleep_for(kPacing);
        }
    }

    int port_;
    const PartnerSigner& partner_;
    std::atomic<bool> stop_{false};
    std::atomic<int> sent_{0};
    std::atomic<int> accepted_{0};
    std::atomic<Clock::rep> since_{Clock::time_point::max().time_since_epoch().count()};
    std::atomic<int> accepted_since_{0};
    std::vector<std::vector<Attempt>> attempts_;  // one list per worker: no sharing
    std::vector<std::thread> workers_;
};

// Waits until `done()` or the deadline; false on the deadline.
template <typename Predicate>
bool wait_for(Predicate done, Clock::duration deadline) {
    const auto until = Clock::now() + deadline;
    while (!done()) {
        if (Clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

TEST(ClaimsFault, DatabaseOutageMidStreamLosesAndDuplicatesNothing) {
    TestDatabase database("claims_fault");
    ProgramSetup setup(database);
    const PartnerSigner grocer("grocer", setup.add_partner("grocer", "Grocer"));
    const std::string token = setup.create_operator_token();
    ServerProcess server(database.conninfo(), {{"COALITION_DB_CONNECT_TIMEOUT_S", "1"},
                                               {"COALITION_LOG_LEVEL", "warn"}});
    const pid_t server_pid = server.process().pid();
    wait_until_token_accepted(server.port(), token);

    Clock::time_point stopped_at;   // the cluster is certainly down from here ...
    Clock::time_point starting_at;  // ... until here
    Clock::time_point started_at;   // pg_ctl start has returned
    std::vector<Attempt> attempts;
    {
        ClusterRestartGuard cluster;
        EarnStream stream(server.port(), grocer);
        ASSERT_TRUE(
            wait_for([&] { return stream.accepted() >= kAcceptedBeforeStop; }, kPhaseDeadline))
            << "accepted before the outage: " << stream.accepted();

        cluster.stop();
        stopped_at = Clock::now();
        std::this_thread::sleep_for(kDownFor);
        starting_at = Clock::now();
        cluster.start();

        started_at = Clock::now();
        stream.count_accepted_from(started_at);
        wait_for(
            [&] { return stream.accepted_counted() >= kAcceptedAfterStart || stream.exhausted(); },
            kPhaseDeadline);
        stream.stop();
        attempts = stream.attempts();
        ASSERT_GE(stream.accepted_counted(), kAcceptedAfterStart)
            << "claims were not accepted again after the restart";
    }
    ASSERT_TRUE(server.process().running()) << server.log();
    EXPECT_EQ(server.process().pid(), server_pid);

    // What the server answered, attempt by attempt.
    int answered_while_down = 0;
    std::set<std::string> accepted_ids;
    std::vector<const Attempt*> to_retry;  // 503s and attempts that got no answer
    std::set<std::string> sent_while_down;
    std::map<int, int> statuses;
    for (const auto& attempt : attempts) {
        ++statuses[attempt.result.status];
        const int status = attempt.result.status;
        const bool while_down = attempt.sent >= stopped_at && attempt.answered <= starting_at;
        if (while_down) {
            ++answered_while_down;
            sent_while_down.insert(attempt.webhook_id);
            EXPECT_EQ(status, 503)
                << attempt.webhook_id
                << " sent while the database was down: " << attempt.result.body << attempt.failure;
        }
        if (status == 201) {
            EXPECT_FALSE(is_replay(attempt.result)) << attempt.webhook_id;
            accepted_ids.insert(attempt.webhook_id);
        } else if (status == 503) {
            EXPECT_EQ(error_code_of(attempt.result), "unavailable") << attempt.result.body;
            EXPECT_EQ(attempt.result.headers.count("retry-after"), 1u) << attempt.webhook_id;
            to_retry.push_back(&attempt);
        } else if (status == 500 &&
                   attempt.result.body.find("outcome unknown") != std::string::npos) {
            // PostgreSQL stopped while this claim's batch was committing: the server cannot
            // know whether it was stored, so it says so (never 503, which promises it was not).
            // The retry below gets its replay or books it.
            EXPECT_EQ(error_code_of(attempt.result), "internal") << attempt.result.body;
            EXPECT_EQ(attempt.result.headers.count("retry-after"), 1u) << attempt.webhook_id;
            to_retry.push_back(&attempt);
        } else {
            // Not even a dropped connection is acceptable: the server is up, only PostgreSQL is
            // not.
            ADD_FAILURE() << attempt.webhook_id << ": neither 201 nor 503 but " << status << " "
                          << attempt.result.body << attempt.failure;
            to_retry.push_back(&attempt);
        }
    }
    EXPECT_GT(answered_while_down, 0) << "no request was answered during the outage";
    RecordProperty("attempts", static_cast<int>(attempts.size()));
    RecordProperty("answered_while_down", answered_while_down);
    Clock::time_point first_accepted_again = Clock::time_point::max();
    for (const auto& attempt : attempts) {
        if (attempt.result.status == 201 && attempt.sent >= started_at) {
            first_accepted_again = std::min(first_accepted_again, attempt.answered);
        }
    }
    int refused_after_start = 0;
    Clock::time_point last_refused = started_at;
    for (const auto& attempt : attempts) {
        if (attempt.result.status == 503 && attempt.sent >= started_at) {
            ++refused_after_start;
            last_refused = std::max(last_refused, attempt.answered);
        }
    }
    const auto last_refused_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(last_refused - started_at);
    const auto recovery_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(first_accepted_again - started_at);
    RecordProperty("recovery_ms", static_cast<int>(recovery_ms.count()));
    std::cout << "statuses " << ::testing::PrintToString(statuses) << ", answered while down "
              << answered_while_down << ", first 201 " << recovery_ms.count()
              << " ms after PostgreSQL was back; " << refused_after_start
              << " refused after that, the last " << last_refused_ms.count() << " ms after\n";

    // Before any retry: every 201 is stored exactly once. An id answered 500 "outcome unknown"
    // (its commit was in doubt) or left unanswered may be stored; its retry must then be a
    // replay (checked below).
    std::map<std::string, int> stored;
    for (const auto& id : setup.claim_webhook_ids("grocer")) ++stored[id];
    for (const auto& id : accepted_ids) EXPECT_EQ(stored[id], 1) << id << " was answered 201";
    std::set<std::string> stored_despite_refusal;
    for (const auto* attempt : to_retry) {
        if (stored.count(attempt->webhook_id) != 0) {
            stored_despite_refusal.insert(attempt->webhook_id);
        }
        // A 503 promises that nothing was stored (an in-doubt commit is answered 500).
        if (attempt->result.status == 503) {
            EXPECT_EQ(stored.count(attempt->webhook_id), 0u)
                << attempt->webhook_id << " was answered 503 but is stored";
        }
    }
    // Whatever was in flight only while PostgreSQL was down cannot have been committed.
    for (const auto& id : sent_while_down) EXPECT_EQ(stored.count(id), 0u) << id;
    for (const auto& [id, count] : stored) {
        EXPECT_EQ(count, 1) << id;
        const bool answered_201 = accepted_ids.count(id) != 0;
        EXPECT_TRUE(answered_201 || stored_despite_refusal.count(id) != 0)
            << id << " is stored but this stream never sent it";
    }
    if (!stored_despite_refusal.empty()) {
        std::cout << stored_despite_refusal.size()
                  << " claim(s) answered 503 or unanswered were committed (commit in doubt)\n";
    }

    // Retry every refused or unanswered claim with the same id and the same bytes.
    TlsClient client(server.port());
    for (const auto* attempt : to_retry) {
        HttpResult retry;
        for (int n = 0; n < kRetriesMax; ++n) {
            retry = grocer.post(client, attempt->webhook_id, attempt->body);
            if (retry.status != 503) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        ASSERT_EQ(retry.status, 201) << attempt->webhook_id << ": " << retry.body;
        EXPECT_EQ(is_replay(retry), stored_despite_refusal.count(attempt->webhook_id) != 0)
            << attempt->webhook_id;
    }

    // Final state: every id ever sent is stored exactly once, and the balances add up.
    std::map<std::string, int> final_stored;
    for (const auto& id : setup.claim_webhook_ids("grocer")) ++final_stored[id];
    std::map<std::string, std::int64_t> expected_balance;
    for (const auto& attempt : attempts) {
        EXPECT_EQ(final_stored[attempt.webhook_id], 1) << attempt.webhook_id;
        expected_balance[attempt.member_id] += kPointsPerEarn;
    }
    EXPECT_EQ(final_stored.size(), attempts.size());
    EXPECT_EQ(setup.count_claims(), static_cast<std::int64_t>(attempts.size()));
    for (const auto& [member_id, balance] : expected_balance) {
        const auto view = get_member(client, token, member_id);
        ASSERT_EQ(view.status, 200) << member_id;
        EXPECT_EQ(view.balance, balance) << member_id;
    }
    EXPECT_TRUE(server.process().running());
    EXPECT_EQ(server.terminate(), 0) << server.log();
}

}  // namespace
}  // namespace coalition::testing
