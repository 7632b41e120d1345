// "Exactly once" and "never overdrawn" against the real server and PostgreSQL: many TLS
// connections released together on one member, duplicate requests racing each other, reversals
// racing each other, and the same workloads split over two server processes on one database.
// Each test gets a fresh database, so every row count below is exact.
#include "tests/support/claims_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/test_database.hpp"
#include "tests/support/tls_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace coalition::testing {
namespace {

constexpr int kClientTimeoutMs = 30000;  // 64 requests queue for a few pooled DB connections

struct Outcome {
    HttpResult result;
    std::string failure;  // non-empty: no answer (connect or I/O error)
};

// Sends claims[i] over its own TLS connection to ports[i % ports.size()]. Every connection is
// open before any request is written, and a latch releases all writers at once, so the requests
// really overlap at the server rather than trickling in as connections complete.
std::vector<Outcome> post_in_parallel(const std::vector<int>& ports,
                                      const std::vector<SignedClaim>& claims) {
    std::vector<Outcome> outcomes(claims.size());
    std::latch start(static_cast<std::ptrdiff_t>(claims.size()));
    std::vector<std::thread> threads;
    threads.reserve(claims.size());
    for (std::size_t i = 0; i < claims.size(); ++i) {
        threads.emplace_back([&, i] {
            std::unique_ptr<TlsClient> client;
            try {
                client = std::make_unique<TlsClient>(
                    ports[i % ports.size()], TlsClientOptions{.timeout_ms = kClientTimeoutMs});
            } catch (const std::exception& e) {
                outcomes[i].failure = std::string("connect: ") + e.what();
            }
            start.arrive_and_wait();
            if (!client) return;
            try {
                outcomes[i].result = send_claim(*client, claims[i]);
            } catch (const std::exception& e) {
                outcomes[i].failure = std::string("request: ") + e.what();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    return outcomes;
}

std::map<int, int> status_histogram(const std::vector<Outcome>& outcomes) {
    std::map<int, int> histogram;
    for (const auto& outcome : outcomes) ++histogram[outcome.result.status];
    return histogram;
}

nlohmann::json body_json(const HttpResult& result) {
    return nlohmann::json::parse(result.body, nullptr, /*allow_exceptions=*/false);
}

// Polls the member's balance until stopped; remembers the lowest value and any failed read.
class BalanceWatcher {
  public:
    BalanceWatcher(int port, std::string token, std::string member_id)
        : thread_([this, port, token = std::move(token), member_id = std::move(member_id)] {
              try {
                  TlsClient client(port, {.timeout_ms = kClientTimeoutMs});
                  while (!stop_.load()) {
                      const auto view = get_member(client, token, member_id);
                      if (view.status != 200) {
                          ++bad_reads_;
                      } else {
                          lowest_ = std::min(lowest_.load(), view.balance);
                          lowest_debt_free_ = lowest_debt_free_.load() && view.debt == 0;
                          ++reads_;
                      }
                      std::this_thread::sleep_for(std::chrono::milliseconds(5));
                  }
              } catch (const std::exception&) {
                  ++bad_reads_;
              }
          }) {}
    ~BalanceWatcher() { stop(); }

    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::int64_t lowest() const { return lowest_; }
    bool never_in_debt() const { return lowest_debt_free_; }
    int reads() const { return reads_; }
    int bad_reads() const { return bad_reads_; }

  private:
    std::atomic<bool> stop_{false};
    std::atomic<std::int64_t> lowest_{INT64_MAX};
    std::atomic<bool> lowest_debt_free_{true};
    std::atomic<int> reads_{0};
    std::atomic<int> bad_reads_{0};
    std::thread thread_;  // last: starts after the counters exist
};

class ClaimsConcurrency : public ::testing::Test {
  protected:
    void SetUp() override {
        database_ = std::make_unique<TestDatabase>("claims_concurrency");
        setup_ = std::make_unique<ProgramSetup>(*database_);
        grocer_ =
            std::make_unique<PartnerSigner>("grocer", setup_->add_partner("grocer", "Grocer"));
        fuel_ = std::make_unique<PartnerSigner>("fuel", setup_->add_partner("fuel", "Fuel"));
        token_ = setup_->create_operator_token();
        ASSERT_THAT(token_, ::testing::StartsWith("coal_"));
        server_ = start_server();
        wait_until_token_accepted(server_->port(), token_);
    }

    std::unique_ptr<ServerProcess> start_server() {
        return std::make_unique<ServerProcess>(database_->conninfo(),
                                               EnvOverrides{{"COALITION_LOG_LEVEL", "warn"}});
    }

    // One claim, sequentially, that must be accepted.
    HttpResult book(const PartnerSigner& partner, const std::string& id, const std::string& body) {
        TlsClient client(server_->port(), {.timeout_ms = kClientTimeoutMs});
        auto result = partner.post(client, id, body);
        EXPECT_EQ(result.status, 201) << id << ": " << result.body;
        return result;
    }

    MemberView member(const std::string& member_id) {
        TlsClient client(server_->port(), {.timeout_ms = kClientTimeoutMs});
        return get_member(client, token_, member_id);
    }

    std::int64_t claims_of(const std::string& member_id, const std::string& type) {
        return setup_->query_int("SELECT count(*) FROM claims WHERE member_id = '" + member_id +
                                 "' AND type = '" + type + "'");
    }

    // The 64-burn workload of test 1 over `ports`: 1,000 points, 64 burns of 50 each.
    void expect_exactly_twenty_of_sixty_four_burns(const std::vector<int>& ports,
                                                   const std::string& member_id) {
        book(*grocer_, member_id + "-earn", earn_body(member_id, 1000));
        std::vector<SignedClaim> burns;
        const std::string body = burn_body(member_id, 50);
        for (int i = 0; i < 64; ++i) {
            burns.push_back(fuel_->sign(member_id + "-burn-" + std::to_string(i), body));
        }

        BalanceWatcher watcher(ports.back(), token_, member_id);
        const auto outcomes = post_in_parallel(ports, burns);
        watcher.stop();

        std::set<std::int64_t> balances_answered;
        int accepted = 0;
        int refused = 0;
        for (std::size_t i = 0; i < outcomes.size(); ++i) {
            const auto& outcome = outcomes[i];
            ASSERT_EQ(outcome.failure, "") << "burn " << i;
            if (outcome.result.status == 201) {
                ++accepted;
                const auto json = body_json(outcome.result);
                EXPECT_EQ(json.value("claim_id", ""), burns[i].headers.at("webhook-id"));
                EXPECT_EQ(json.value("status", ""), "accepted");
                EXPECT_EQ(json.value("type", ""), "burn");
                EXPECT_EQ(json.value("points", 0), 50);
                EXPECT_FALSE(is_replay(outcome.result));
                balances_answered.insert(json.value("balance", std::int64_t{-1}));
            } else {
                ++refused;
                EXPECT_EQ(outcome.result.status, 422) << outcome.result.body;
                EXPECT_EQ(error_code_of(outcome.result), "insufficient_points");
            }
        }
        EXPECT_EQ(accepted, 20) << ::testing::PrintToString(status_histogram(outcomes));
        EXPECT_EQ(refused, 44);
        // Serialised burns each see the previous one: the answered balances are 950, 900, ... 0,
        // each exactly once. Two burns answering the same balance would be a lost update.
        std::set<std::int64_t> expected_balances;
        for (std::int64_t balance = 0; balance < 1000; balance += 50)
            expected_balances.insert(balance);
        EXPECT_EQ(balances_answered, expected_balances);

        EXPECT_GE(watcher.lowest(), 0) << "a reader saw a negative balance";
        EXPECT_TRUE(watcher.never_in_debt());
        EXPECT_EQ(watcher.bad_reads(), 0);
        EXPECT_GT(watcher.reads(), 0);
        const auto final_view = member(member_id);
        ASSERT_EQ(final_view.status, 200);
        EXPECT_EQ(final_view.balance, 0);
        EXPECT_EQ(final_view.debt, 0);

        EXPECT_EQ(setup_->sum_slice_points("burn"), 1000);
        EXPECT_EQ(setup_->query_int("SELECT coalesce(sum(points_remaining), 0)::bigint FROM lots "
                                    "WHERE member_id = '" +
                                    member_id + "'"),
                  0);
        EXPECT_EQ(claims_of(member_id, "earn"), 1);
        EXPECT_EQ(claims_of(member_id, "burn"), 20);
    }

    // `copies` identical requests (same id, same body, same signature) over `ports`: booked once,
    // answered identically, all but one flagged as replays.
    void expect_booked_once(const std::vector<int>& ports, const SignedClaim& claim, int copies) {
        const std::vector<SignedClaim> claims(static_cast<std::size_t>(copies), claim);
        const auto outcomes = post_in_parallel(ports, claims);
        int replays = 0;
        for (const auto& outcome : outcomes) {
            ASSERT_EQ(outcome.failure, "");
            EXPECT_EQ(outcome.result.status, outcomes.front().result.status);
            EXPECT_EQ(outcome.result.body, outcomes.front().result.body);
            if (is_replay(outcome.result)) ++replays;
        }
        EXPECT_EQ(outcomes.front().result.status, 201)
            << ::testing::PrintToString(status_histogram(outcomes)) << " "
            << outcomes.front().result.body;
        EXPECT_EQ(replays, copies - 1);
        EXPECT_EQ(setup_->query_int("SELECT count(*) FROM claims WHERE webhook_id = '" +
                                    claim.headers.at("webhook-id") + "'"),
                  1);
    }

    std::unique_ptr<TestDatabase> database_;
    std::unique_ptr<ProgramSetup> setup_;
    std::unique_ptr<PartnerSigner> grocer_;
    std::unique_ptr<PartnerSigner> fuel_;
    std::string token_;
    std::unique_ptr<ServerProcess> server_;
};

TEST_F(ClaimsConcurrency, SixtyFourParallelBurnsNeverOverdraw) {
    expect_exactly_twenty_of_sixty_four_burns({server_->port()}, "M-burst");
    EXPECT_TRUE(server_->process().running());
}

TEST_F(ClaimsConcurrency, ParallelBurnsOfRandomSizesNeverOverdraw) {
    const std::string member_id = "M-mixed";
    constexpr std::int64_t kEarned = 1000;
    book(*grocer_, "mixed-earn", earn_body(member_id, kEarned));

    constexpr std::uint32_t kSeed = 20261121;
    std::mt19937 random(kSeed);
    std::uniform_int_distribution<std::int64_t> size(1, 120);
    std::vector<SignedClaim> burns;
    std::vector<std::int64_t> points;
    for (int i = 0; i < 64; ++i) {
        points.push_back(size(random));
        burns.push_back(
            fuel_->sign("mixed-burn-" + std::to_string(i), burn_body(member_id, points.back())));
    }
    const auto outcomes = post_in_parallel({server_->port()}, burns);

    std::int64_t accepted_points = 0;
    std::int64_t smallest_refused = INT64_MAX;
    std::vector<std::pair<std::int64_t, std::int64_t>> balance_after_burn;  // (balance, points)
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        ASSERT_EQ(outcomes[i].failure, "") << "burn " << i;
        const auto& result = outcomes[i].result;
        if (result.status == 201) {
            accepted_points += points[i];
            balance_after_burn.emplace_back(body_json(result).value("balance", std::int64_t{-1}),
                                            points[i]);
        } else {
            EXPECT_EQ(result.status, 422) << result.body;
            EXPECT_EQ(error_code_of(result), "insufficient_points");
            smallest_refused = std::min(smallest_refused, points[i]);
        }
    }
    SCOPED_TRACE("seed " + std::to_string(kSeed));
    EXPECT_LE(accepted_points, kEarned);
    EXPECT_FALSE(balance_after_burn.empty());

    // The accepted burns form one serial history: ordered by the balance each answered, every
    // balance is the previous one minus that burn's points.
    std::sort(balance_after_burn.rbegin(), balance_after_burn.rend());
    std::int64_t running = kEarned;
    for (const auto& [balance, burned] : balance_after_burn) {
        running -= burned;
        EXPECT_EQ(balance, running);
    }
    const auto final_view = member(member_id);
    ASSERT_EQ(final_view.status, 200);
    EXPECT_EQ(final_view.balance, kEarned - accepted_points);
    EXPECT_GE(final_view.balance, 0);
    // Balances only fall during the burst, so a burn refused at any point was also bigger than
    // what is left at the end.
    EXPECT_LT(final_view.balance, smallest_refused);
    EXPECT_EQ(setup_->sum_slice_points("burn"), accepted_points);
    EXPECT_EQ(claims_of(member_id, "burn"), static_cast<std::int64_t>(balance_after_burn.size()));
}

TEST_F(ClaimsConcurrency, ThirtyTwoCopiesOfOneEarnBookOnce) {
    const std::string member_id = "M-dup-earn";
    expect_booked_once({server_->port()}, grocer_->sign("dup-earn", earn_body(member_id, 120)), 32);
    const auto view = member(member_id);
    ASSERT_EQ(view.status, 200);
    EXPECT_EQ(view.balance, 120);
    EXPECT_EQ(setup_->query_int("SELECT count(*) FROM lots WHERE member_id = '" + member_id + "'"),
              1);
    EXPECT_EQ(setup_->count_claims(), 1);
}

TEST_F(ClaimsConcurrency, ThirtyTwoCopiesOfOneBurnBookOnce) {
    const std::string member_id = "M-dup-burn";
    book(*grocer_, "dup-burn-earn", earn_body(member_id, 1000));
    expect_booked_once({server_->port()}, fuel_->sign("dup-burn", burn_body(member_id, 300)), 32);
    const auto view = member(member_id);
    ASSERT_EQ(view.status, 200);
    EXPECT_EQ(view.balance, 700);
    EXPECT_EQ(setup_->sum_slice_points("burn"), 300);
    EXPECT_EQ(claims_of(member_id, "burn"), 1);
}

TEST_F(ClaimsConcurrency, SixteenRacingReversalsOfOneBurnReverseItOnce) {
    const std::string member_id = "M-rev";
    book(*grocer_, "rev-earn", earn_body(member_id, 1000));
    book(*fuel_, "rev-burn", burn_body(member_id, 300));
    std::vector<SignedClaim> reversals;
    for (int i = 0; i < 16; ++i) {
        reversals.push_back(
            fuel_->sign("rev-reversal-" + std::to_string(i), reversal_body("rev-burn")));
    }
    const auto outcomes = post_in_parallel({server_->port()}, reversals);
    int accepted = 0;
    for (const auto& outcome : outcomes) {
        ASSERT_EQ(outcome.failure, "");
        if (outcome.result.status == 201) {
            ++accepted;
            EXPECT_EQ(body_json(outcome.result).value("balance", std::int64_t{-1}), 1000);
        } else {
            EXPECT_EQ(outcome.result.status, 422) << outcome.result.body;
            EXPECT_EQ(error_code_of(outcome.result), "already_reversed");
        }
    }
    EXPECT_EQ(accepted, 1) << ::testing::PrintToString(status_histogram(outcomes));
    const auto view = member(member_id);
    ASSERT_EQ(view.status, 200);
    EXPECT_EQ(view.balance, 1000);
    EXPECT_EQ(view.debt, 0);
    EXPECT_EQ(claims_of(member_id, "reversal"), 1);
    EXPECT_EQ(setup_->sum_slice_points("burn_reversal"), 300);
}

TEST_F(ClaimsConcurrency, TwoServerProcessesOnOneDatabaseStillNeverOverdraw) {
    const auto second = start_server();
    wait_until_token_accepted(second->port(), token_);
    // Alternating ports: 32 of the 64 burns go to each process.
    expect_exactly_twenty_of_sixty_four_burns({server_->port(), second->port()}, "M-two");
    EXPECT_TRUE(server_->process().running());
    EXPECT_TRUE(second->process().running());
}

TEST_F(ClaimsConcurrency, DuplicatesSplitOverTwoServerProcessesBookOnce) {
    const auto second = start_server();
    wait_until_token_accepted(second->port(), token_);
    const std::vector<int> ports = {server_->port(), second->port()};
    const std::string member_id = "M-two-dup";
    expect_booked_once(ports, grocer_->sign("two-dup-earn", earn_body(member_id, 1000)), 32);
    expect_booked_once(ports, fuel_->sign("two-dup-burn", burn_body(member_id, 400)), 32);
    const auto view = member(member_id);
    ASSERT_EQ(view.status, 200);
    EXPECT_EQ(view.balance, 600);
    EXPECT_EQ(setup_->count_claims(), 2);
    EXPECT_EQ(setup_->sum_slice_points("burn"), 400);
}

}  // namespace
}  // namespace coalition::testing
