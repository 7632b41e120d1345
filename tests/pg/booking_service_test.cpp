// BookingService, the group-commit front of booking, on a real pool and database: claims submitted
// together are answered once each, after their commit; a batch that fails as a whole (a key
// committed meanwhile by another process) is booked again claim by claim, and the claim whose key
// was taken gets its 409, and a database lost meanwhile answers the rest 503 at once; no two
// running batches name one member; stop() answers every waiting claim.
#include "server/booking_service.hpp"

#include "core/crypto.hpp"
#include "server/db_pool.hpp"
#include "server/logger.hpp"
#include "storage/partner_store.hpp"
#include "storage/program_store.hpp"
#include "storage/settlement_store.hpp"
#include "storage/sql_time.hpp"

#include "tests/support/program_history.hpp"
#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace coalition::server {
namespace {

using coalition::testing::TestDatabase;
using namespace std::chrono_literals;

storage::BookingInput earn(const std::string& id, const std::string& member, std::int64_t points) {
    storage::BookingInput input;
    input.partner_id = "grocer";
    input.webhook_id = id;
    input.request_sha256 = crypto::sha256(id + member + std::to_string(points));
    input.request.type = partners::ClaimType::earn;
    input.request.member_id = member;
    input.request.points = Points(points);
    input.accepted_at_us = storage::now_unix_micros();
    return input;
}

storage::BookingInput reversal(const std::string& id, const std::string& target) {
    storage::BookingInput input;
    input.partner_id = "grocer";
    input.webhook_id = id;
    input.request_sha256 = crypto::sha256(id + "/" + target);
    input.request.type = partners::ClaimType::reversal;
    input.request.reverses = target;
    input.accepted_at_us = storage::now_unix_micros();
    return input;
}

class BookingServiceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        db_ = std::make_unique<TestDatabase>("booking_service");
        pqxx::connection connection(db_->conninfo());
        pqxx::work tx(connection);
        storage::add_partner(tx, storage::NewPartner{"grocer", "grocer", 1, {}});
        storage::add_partner(tx, storage::NewPartner{"fuel", "fuel", 1, {}});
        tx.commit();
        settings_.db = db_->conninfo();
        settings_.db_pool_size = 2;
        // Batches here are held on locks on purpose, for as long as a test takes on a slow
        // (sanitizer) build: far from the production limit's 503s.
        settings_.db_lock_timeout_ms = 60000;
    }

    // The date in the program's zone (UTC here) at `unix_us`, as the database computes it.
    static storage::Date utc_date_at(pqxx::connection& connection, std::int64_t unix_us) {
        return storage::parse_date(
            pqxx::nontransaction(connection)
                .exec_params1("SELECT ($1::timestamptz AT TIME ZONE 'UTC')::date::text",
                              storage::timestamp_literal(unix_us))[0]
                .as<std::string>());
    }

    std::int64_t claims_stored() {
        pqxx::connection connection(db_->conninfo());
        pqxx::nontransaction tx(connection);
        return tx.exec1("SELECT count(*) FROM claims")[0].as<std::int64_t>();
    }

    // Until some transaction of this database waits on a lock (up to 5 s).
    void wait_until_a_batch_waits_on_a_lock() { db_->wait_until_a_session_waits_on_a_lock(); }

    using Outcomes = std::vector<std::future<BookingOutcome>>;

    // A running batch stuck on another transaction's lock of `member`'s row (the member must
    // exist): it holds an in-flight slot and the member until `holder` commits.
    struct HeldBatch {
        std::unique_ptr<pqxx::connection> connection;
        std::unique_ptr<pqxx::work> holder;
        Outcomes claim;  // the claim `id` on `member`, 1 point
    };
    HeldBatch hold_a_batch_on(BookingService& service, const std::string& member,
                              const std::string& id) {
        HeldBatch held;
        held.connection = std::make_unique<pqxx::connection>(db_->conninfo());
        held.holder = std::make_unique<pqxx::work>(*held.connection);
        held.holder->exec("SELECT 1 FROM members WHERE id = " + held.holder->quote(member) +
                          " FOR UPDATE");
        held.claim = submit_all(service, {earn(id, member, 1)});
        wait_until_a_batch_waits_on_a_lock();
        return held;
    }

    // `member` enrolled by a booked earn (id "<member>-0"), then its row held by a transaction
    // outside the server, as a psql session left open would.
    struct HeldMember {
        std::unique_ptr<pqxx::connection> connection;
        std::unique_ptr<pqxx::work> holder;
    };
    HeldMember enrol_and_hold(BookingService& service, const std::string& member) {
        EXPECT_EQ(result_of(submit_all(service, {earn(member + "-0", member, 5)})[0]).status, 201);
        HeldMember held;
        held.connection = std::make_unique<pqxx::connection>(db_->conninfo());
        held.holder = std::make_unique<pqxx::work>(*held.connection);
        held.holder->exec("SELECT 1 FROM members WHERE id = " + held.holder->quote(member) +
                          " FOR UPDATE");
        return held;
    }

    static Outcomes submit_all(BookingService& service, const std::vector<storage::BookingInput>& inputs) {
        Outcomes outcomes;
        for (const auto& input : inputs) {
            auto promise = std::make_shared<std::promise<BookingOutcome>>();
            outcomes.push_back(promise->get_future());
            service.submit(input, [promise](BookingOutcome outcome) { promise->set_value(std::move(outcome)); });
        }
        return outcomes;
    }

    // Whether `outcome` came within `wait` and is a 503 (nothing stored).
    static bool is_unavailable(std::future<BookingOutcome>& outcome,
                               std::chrono::seconds wait = 30s) {
        if (outcome.wait_for(wait) != std::future_status::ready) return false;
        return std::holds_alternative<BookingUnavailable>(outcome.get());
    }

    static storage::BookingResult result_of(std::future<BookingOutcome>& outcome) {
        EXPECT_EQ(outcome.wait_for(30s), std::future_status::ready);
        auto value = outcome.get();
        auto* result = std::get_if<storage::BookingResult>(&value);
        if (result == nullptr) {
            ADD_FAILURE() << "not a booking result: variant index " << value.index();
            return {};
        }
        return *result;
    }

    std::unique_ptr<TestDatabase> db_;
    Settings settings_;
    Logger logger_{LogLevel::error};
};

TEST_F(BookingServiceTest, ClaimsSubmittedTogetherAreEachAnsweredOnceCommitted) {
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 50, 1});
    std::vector<storage::BookingInput> inputs;
    for (int i = 0; i < 200; ++i) inputs.push_back(earn("e-" + std::to_string(i), "M-" + std::to_string(i % 7), 10));
    auto outcomes = submit_all(service, inputs);
    for (auto& outcome : outcomes) EXPECT_EQ(result_of(outcome).status, 201);
    EXPECT_EQ(claims_stored(), 200);
    service.stop();
    pool.stop();
}

TEST_F(BookingServiceTest, ABatchThatFailsAsAWholeIsBookedClaimByClaim) {
    const auto taken = earn("taken", "M-1", 5);
    // Another process books the key "taken" for another member with another body, and has not
    // committed yet: the batch does not see it when it looks the keys up, its insert of the same
    // key waits on the unique index, then fails with unique_violation once the other commits.
    pqxx::connection other(db_->conninfo());
    pqxx::work other_tx(other);
    other_tx.exec("INSERT INTO members (id, enrolled_by) VALUES ('M-9', 'grocer')");
    other_tx.exec_params(
        "INSERT INTO claims (partner_id, webhook_id, request_sha256, type, member_id, points, "
        "  accepted_at, settlement_date, settings_version, response_status, response_body) "
        "VALUES ('grocer', 'taken', decode($1, 'hex'), 'earn', 'M-9', 5, now(), current_date, 1, 201, "
        "  '{}')",
        crypto::hex(crypto::sha256("another body")));

    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 0, 1});
    auto outcomes = submit_all(service, {earn("first", "M-2", 7), taken, earn("last", "M-3", 9)});
    // Wait until the batch is blocked on the other transaction's key, then let that commit.
    wait_until_a_batch_waits_on_a_lock();
    other_tx.commit();

    EXPECT_EQ(result_of(outcomes[0]).status, 201);
    const auto conflict = result_of(outcomes[1]);
    ASSERT_TRUE(conflict.error);
    EXPECT_EQ(conflict.error->code, ErrorCode::idempotency_conflict);
    EXPECT_EQ(result_of(outcomes[2]).status, 201);
    EXPECT_EQ(claims_stored(), 3);  // the other process's claim and the two others, once each
    pqxx::connection check(db_->conninfo());
    pqxx::nontransaction read(check);
    EXPECT_EQ(read.exec1("SELECT count(*) FROM members WHERE id = 'M-1'")[0].as<int>(), 0)
        << "the refused claim's member was enrolled";
    service.stop();
    pool.stop();
}

// A batch booked again claim by claim (here because it spans midnight) keeps the batch's order:
// the earn first, then the burns it funds, then its reversal. Booked side by side on the pool's
// eight connections, burns ran before the earn (422 unknown_member) and the reversal could too
// (422 reversal_target_not_found, a refusal the partner has no reason to retry).
TEST_F(BookingServiceTest, ABatchBookedAgainClaimByClaimKeepsItsOrder) {
    settings_.db_pool_size = 8;
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 0, 1});
    auto enrolled = submit_all(service, {earn("enrol", "M-X", 1)});
    ASSERT_EQ(result_of(enrolled[0]).status, 201);
    // The one batch slot is held by a batch stuck on M-X's row lock, so the claims below queue
    // up and leave together as one batch when it commits.
    auto held = hold_a_batch_on(service, "M-X", "held");

    const auto midnight_us = storage::now_unix_micros() / 86'400'000'000 * 86'400'000'000;
    std::vector<storage::BookingInput> batch;
    batch.push_back(earn("e-1", "M-N", 100));
    batch.back().accepted_at_us = midnight_us - 1'000;  // yesterday, the batch's earliest claim
    for (int i = 0; i < 10; ++i) {
        auto burn = earn("b-" + std::to_string(i), "M-N", 10);
        burn.request.type = partners::ClaimType::burn;
        burn.partner_id = "fuel";
        batch.push_back(burn);
    }
    storage::BookingInput reversal = earn("r-1", "", 0);
    reversal.request.type = partners::ClaimType::reversal;
    reversal.request.reverses = "e-1";
    batch.insert(batch.begin() + 1, reversal);  // listed early, booked after the earns and burns
    auto outcomes = submit_all(service, batch);
    held.holder->commit();
    EXPECT_EQ(result_of(held.claim[0]).status, 201);

    for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto result = result_of(outcomes[i]);
        EXPECT_EQ(result.status, 201) << batch[i].webhook_id << ": " << result.body
                                      << (result.error ? result.error->message : "");
    }
    pqxx::connection check(db_->conninfo());
    pqxx::nontransaction read(check);
    EXPECT_EQ(read.exec1("SELECT debt FROM members WHERE id = 'M-N'")[0].as<int>(), 100)
        << "the reversal came after the ten burns spent the earn";
    service.stop();
    pool.stop();
}

// The database lost while a batch is booked again claim by claim: the claim that met the loss
// and every claim after it are answered unavailable (503) at once, and none is stored. Without
// that, each would wait for its own connect timeout while its members stay held. Here the
// batch spans midnight (so it is booked claim by claim), its first claim waits on a row lock
// another transaction holds, and that claim's backend is terminated.
TEST_F(BookingServiceTest, ADatabaseLostDuringTheFallbackAnswersTheRestUnavailableAtOnce) {
    settings_.db_pool_size = 2;
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 0, 1});
    auto enrolled = submit_all(service, {earn("enrol-h", "M-H", 1), earn("enrol-l", "M-L", 1)});
    for (auto& outcome : enrolled) ASSERT_EQ(result_of(outcome).status, 201);
    const auto stored_before = claims_stored();

    // The one batch slot is held, so the three claims below leave together as one batch.
    auto held = hold_a_batch_on(service, "M-H", "held");
    std::vector<storage::BookingInput> batch{earn("e-1", "M-L", 5), earn("e-2", "M-2", 5),
                                             earn("e-3", "M-3", 5)};
    const auto midnight_us = storage::now_unix_micros() / 86'400'000'000 * 86'400'000'000;
    batch[0].accepted_at_us = midnight_us - 1'000;  // yesterday: the batch is booked one by one
    auto outcomes = submit_all(service, batch);

    pqxx::connection locker(db_->conninfo());
    pqxx::work lock_m_l(locker);
    lock_m_l.exec("SELECT 1 FROM members WHERE id = 'M-L' FOR UPDATE");
    held.holder->commit();
    EXPECT_EQ(result_of(held.claim[0]).status, 201);
    // e-1, booked alone, waits on M-L's row lock. The pool retries a job once on a fresh
    // connection when its pooled one broke (it may have gone stale while idle), so e-1's backend
    // is terminated twice: the second loss is on a connection opened for the job, and final.
    for (int loss = 0; loss < 2; ++loss) {
        wait_until_a_batch_waits_on_a_lock();
        pqxx::connection killer(db_->conninfo());
        pqxx::nontransaction kill(killer);
        ASSERT_EQ(kill.exec1("SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                             "WHERE wait_event_type = 'Lock' AND datname = current_database()")[0]
                      .as<int>(),
                  1);
    }
    for (auto& outcome : outcomes) EXPECT_TRUE(is_unavailable(outcome, 5s));
    lock_m_l.abort();
    EXPECT_EQ(claims_stored(), stored_before + 1) << "only the held batch's claim is stored";

    // Their retries are booked: nothing of them was half-stored.
    auto retried = submit_all(service, batch);
    for (auto& outcome : retried) EXPECT_EQ(result_of(outcome).status, 201);
    EXPECT_EQ(claims_stored(), stored_before + 4);
    service.stop();
    pool.stop();
}

// No two running batches name the same member: a claim on a member a running batch holds waits
// for that batch, and a batch of other members' claims leaves meanwhile. Here another
// transaction holds M-X's row lock, so the batch with M-X's first claim is stuck on it; M-Y's
// claim, which arrives after M-X's second, is still booked, and M-X's second waits.
TEST_F(BookingServiceTest, AClaimOnAMemberARunningBatchHoldsWaitsForThatBatch) {
    settings_.db_pool_size = 3;
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 0, 2});
    auto enrolled = submit_all(service, {earn("enrol", "M-X", 1)});
    ASSERT_EQ(result_of(enrolled[0]).status, 201);

    auto held = hold_a_batch_on(service, "M-X", "x-1");
    auto& first = held.claim;
    auto later = submit_all(service, {earn("x-2", "M-X", 1), earn("y-1", "M-Y", 1)});
    ASSERT_EQ(later[1].wait_for(10s), std::future_status::ready) << "M-Y waited for M-X's lock";
    EXPECT_EQ(result_of(later[1]).status, 201);
    EXPECT_EQ(later[0].wait_for(200ms), std::future_status::timeout);
    EXPECT_EQ(first[0].wait_for(0s), std::future_status::timeout);

    held.holder->commit();
    EXPECT_EQ(result_of(first[0]).status, 201);
    EXPECT_EQ(result_of(later[0]).status, 201);
    EXPECT_EQ(claims_stored(), 4);
    service.stop();
    pool.stop();
}

// A reversal names no member, but it never leaves before the claim it reverses when that claim
// arrived first and is still being booked or still waits: decided first, it would find no
// target and its 422 reversal_target_not_found would be kept with its key for good. Here x-1
// runs in a batch held on M-X's row lock, and x-2 waits behind it (M-X is busy); a reversal of
// each waits, while a reversal of a claim booked long ago and another member's earn leave.
TEST_F(BookingServiceTest, AReversalWaitsForTheClaimItReversesWhileThatIsInFlight) {
    settings_.db_pool_size = 3;
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 0, 2});
    auto enrolled = submit_all(service, {earn("enrol", "M-X", 5), earn("old", "M-Z", 5)});
    for (auto& outcome : enrolled) ASSERT_EQ(result_of(outcome).status, 201);

    auto held = hold_a_batch_on(service, "M-X", "x-1");
    auto later =
        submit_all(service, {earn("x-2", "M-X", 1), reversal("r-1", "x-1"), reversal("r-2", "x-2"),
                             reversal("r-old", "old"), earn("y-1", "M-Y", 1)});
    ASSERT_EQ(later[4].wait_for(10s), std::future_status::ready) << "M-Y waited for M-X's lock";
    EXPECT_EQ(result_of(later[4]).status, 201);
    ASSERT_EQ(later[3].wait_for(10s), std::future_status::ready) << "a reversal of a booked claim";
    EXPECT_EQ(result_of(later[3]).status, 201);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(later[i].wait_for(200ms), std::future_status::timeout) << i;
    }

    held.holder->commit();
    EXPECT_EQ(result_of(held.claim[0]).status, 201);
    for (std::size_t i = 0; i < 3; ++i) {
        const auto result = result_of(later[i]);
        EXPECT_EQ(result.status, 201) << i << " " << result.body;
    }
    EXPECT_EQ(claims_stored(), 8);
    service.stop();
    pool.stop();
}

// A claim accepted just before the program's currency changed (allowed while no claim exists)
// and booked after it is answered 503, nothing stored: its retry is accepted under the new one.
TEST_F(BookingServiceTest, AClaimAcceptedBeforeACurrencyChangeIsAnsweredUnavailable) {
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 0, 2});
    auto queued = earn("e-1", "M-1", 10);
    // The booking maps its acceptance onto the database's clock late by the statement's
    // transit, which on two busy cores can take milliseconds: the change must come well after
    // (it failed once with 2 ms here, every core taken by other tests).
    std::this_thread::sleep_for(100ms);
    {
        pqxx::connection connection(db_->conninfo());
        pqxx::work tx(connection);
        storage::set_program_setting(tx, "currency", "USD");
        tx.commit();
    }
    auto outcomes = submit_all(service, {queued});
    EXPECT_TRUE(is_unavailable(outcomes[0]));
    EXPECT_EQ(claims_stored(), 0);
    EXPECT_EQ(result_of(submit_all(service, {earn("e-1", "M-1", 10)})[0]).status, 201);
    service.stop();
    pool.stop();
}

// Whatever the wait allowed (here 30 s), a batch leaves at once when no batch is running, and
// while one is, as soon as it is full or the running one commits: the batcher is woken by the
// arrival or the commit that lets a batch leave, and only by those.
TEST_F(BookingServiceTest, ABatchLeavesAtOnceWhenFullOrWhenNoneIsRunningWhateverTheWait) {
    settings_.db_pool_size = 3;
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {4, 30'000, 2});
    auto idle = submit_all(service, {earn("idle", "M-H", 1)});  // nothing running: leaves at once
    ASSERT_EQ(idle[0].wait_for(10s), std::future_status::ready);
    EXPECT_EQ(result_of(idle[0]).status, 201);

    // A running batch, held on M-H's row lock by another transaction.
    auto held = hold_a_batch_on(service, "M-H", "held");

    // Three claims fill the next batch up to its deadline; the fourth fills it, and it leaves.
    auto filling =
        submit_all(service, {earn("f-1", "M-1", 1), earn("f-2", "M-2", 1), earn("f-3", "M-3", 1)});
    EXPECT_EQ(filling[0].wait_for(300ms), std::future_status::timeout);
    auto fourth = submit_all(service, {earn("f-4", "M-4", 1)});
    ASSERT_EQ(fourth[0].wait_for(10s), std::future_status::ready) << "a full batch waited";
    for (auto& outcome : filling) EXPECT_EQ(result_of(outcome).status, 201);
    EXPECT_EQ(result_of(fourth[0]).status, 201);

    // One claim waits for its deadline while the held batch runs, and leaves when it commits.
    auto after = submit_all(service, {earn("after", "M-5", 1)});
    EXPECT_EQ(after[0].wait_for(300ms), std::future_status::timeout);
    held.holder->commit();
    EXPECT_EQ(result_of(held.claim[0]).status, 201);
    ASSERT_EQ(after[0].wait_for(10s), std::future_status::ready) << "waited past the commit";
    EXPECT_EQ(result_of(after[0]).status, 201);
    EXPECT_EQ(claims_stored(), 7);
    service.stop();
    pool.stop();
}

// A claim taken just before midnight whose date is closed before its turn comes (it queued
// behind a busy member; an operator closed the date at 00:00:01) was refused by the closed-date
// guard and answered 500. Nothing of it was stored, so it is accepted when it is booked, on the
// date that is today; the closed run does not change.
TEST_F(BookingServiceTest, AClaimWhoseDateClosedWhileItWaitedIsAcceptedOnTodaysDate) {
    using namespace std::chrono;
    const auto now_us = storage::now_unix_micros();
    const storage::Date today{floor<days>(sys_time<microseconds>(microseconds(now_us)))};
    const storage::Date yesterday{sys_days(today) - days(1)};
    const auto last_moment_of_yesterday_us =
        duration_cast<microseconds>(sys_days(today).time_since_epoch()).count() - 100'000;
    {
        pqxx::connection connection(db_->conninfo());
        ASSERT_EQ(storage::close_settlement(connection, yesterday, now_us).outcome,
                  storage::CloseOutcome::closed_now);
    }
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 50, 1});
    auto late = earn("taken-at-23:59:59.9", "m-late", 7);
    late.accepted_at_us = last_moment_of_yesterday_us;
    auto outcomes = submit_all(service, {late, earn("taken-today", "m-today", 3)});
    const auto late_result = result_of(outcomes[0]);
    ASSERT_EQ(late_result.status, 201) << late_result.body;
    const auto today_text = storage::date_literal(today);
    EXPECT_EQ(nlohmann::json::parse(late_result.body).at("settlement_date"), today_text);
    EXPECT_EQ(result_of(outcomes[1]).status, 201);

    pqxx::connection connection(db_->conninfo());
    pqxx::nontransaction tx(connection);
    const auto row = tx.exec1("SELECT settlement_date::text, accepted_at >= to_timestamp(" +
                              std::to_string(now_us) +
                              " / 1e6) FROM claims WHERE webhook_id = 'taken-at-23:59:59.9'");
    EXPECT_EQ(row[0].as<std::string>(), today_text);
    EXPECT_TRUE(row[1].as<bool>()) << "accepted when booked, not when taken";
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM claims WHERE settlement_date = " +
                       tx.quote(storage::date_literal(yesterday)))[0]
                  .as<int>(),
              0);
}

// The connection breaks while the batch's COMMIT is under way (a deferred trigger holds the
// commit; the backend is terminated meanwhile): the claims may be stored or not, so they are
// answered "in doubt" (500, retry), never "unavailable" (503 promises nothing was stored). Here
// the commit did not happen, and the retry books the claim.
TEST_F(BookingServiceTest, AConnectionLostDuringCommitIsAnsweredInDoubtNotUnavailable) {
    db_->pause_inserts("claims", "true", 30, /*at_commit=*/true);
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 50, 1});
    auto outcomes = submit_all(service, {earn("in-doubt", "m-doubt", 5), earn("beside", "m-2", 1)});
    {
        // Until every claim is answered: the two may leave in one batch or in two (the first
        // leaves at once when none is running), and each batch's commit is held in turn.
        pqxx::connection killer(db_->conninfo());
        int terminated = 0;
        const auto all_answered = [&] {
            return std::all_of(outcomes.begin(), outcomes.end(), [](auto& outcome) {
                return outcome.wait_for(0s) == std::future_status::ready;
            });
        };
        for (int i = 0; i < 800 && !all_answered(); ++i) {
            pqxx::nontransaction tx(killer);
            terminated += tx.exec1(
                                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE wait_event = 'PgSleep' AND datname = current_database()")[0]
                              .as<int>();
            std::this_thread::sleep_for(25ms);
        }
        ASSERT_GT(terminated, 0) << "no commit ever reached the deferred trigger";
    }
    for (auto& outcome : outcomes) {
        ASSERT_EQ(outcome.wait_for(30s), std::future_status::ready);
        const auto value = outcome.get();
        EXPECT_TRUE(std::holds_alternative<BookingInDoubt>(value)) << "variant " << value.index();
    }
    EXPECT_EQ(claims_stored(), 0);
    {
        pqxx::connection connection(db_->conninfo());
        pqxx::work tx(connection);
        tx.exec("DROP TRIGGER test_pause_claims ON claims");
        tx.commit();
    }
    auto retry = submit_all(service, {earn("in-doubt", "m-doubt", 5)});
    const auto booked = result_of(retry[0]);
    EXPECT_EQ(booked.status, 201);
    EXPECT_FALSE(booked.replayed);
    EXPECT_EQ(claims_stored(), 1);
}

// A date closed by hand from a host whose clock is ahead of this server's, while this server's
// clock is still on it: the claim cannot be accepted on that date nor on the next one yet.
// It is answered 503 (nothing stored; the retry will do), not 500.
TEST_F(BookingServiceTest, AClaimOnADateClosedByAClockAheadIsUnavailableNotAnError) {
    {
        pqxx::connection connection(db_->conninfo());
        const auto now_us = storage::now_unix_micros();
        const auto today = utc_date_at(connection, now_us);
        // Tomorrow too, so that a midnight passing meanwhile changes nothing.
        for (const auto date :
             {today, storage::Date{std::chrono::sys_days(today) + std::chrono::days(1)}}) {
            const auto closed =
                storage::close_settlement(connection, date, now_us + 2 * 86'400'000'000);
            ASSERT_EQ(closed.outcome, storage::CloseOutcome::closed_now);
        }
    }
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {8, 5, 1});
    auto outcomes = submit_all(service, {earn("today", "M-1", 5), earn("also-today", "M-2", 5)});
    for (auto& outcome : outcomes) EXPECT_TRUE(is_unavailable(outcome));
    EXPECT_EQ(claims_stored(), 0);
    service.stop();
    pool.stop();
}

// A later date closed by a host whose clock is ahead, while this server's clock is still on an
// open date: a claim booked into that open date would change the closed run's figures that
// count everything up to its date's end (the points outstanding then), which `coalitionctl
// check` then finds different from the stored run (found by review). It is answered 503, as for
// a closed date of its own, in a batch and one by one, and nothing is stored.
TEST_F(BookingServiceTest, AClaimBeforeADateClosedByAClockAheadIsUnavailable) {
    {
        pqxx::connection connection(db_->conninfo());
        const auto now_us = storage::now_unix_micros();
        const auto today = utc_date_at(connection, now_us);
        // Two days ahead: a midnight passing meanwhile leaves a later date closed.
        const storage::Date closed{std::chrono::sys_days(today) + std::chrono::days(2)};
        ASSERT_EQ(
            storage::close_settlement(connection, closed, now_us + 3 * 86'400'000'000).outcome,
            storage::CloseOutcome::closed_now);
    }
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {8, 5, 1});
    auto outcomes = submit_all(service, {earn("today", "M-1", 5), earn("also-today", "M-2", 5)});
    for (auto& outcome : outcomes) EXPECT_TRUE(is_unavailable(outcome));
    EXPECT_EQ(claims_stored(), 0);
    // One at a time too.
    pqxx::connection connection(db_->conninfo());
    EXPECT_THROW(storage::book_claim(connection, earn("alone", "M-3", 5)),
                 storage::SettlementDateClosedAhead);
    EXPECT_EQ(claims_stored(), 0);
    // Nothing else either: no member enrolled, no refusal kept for the ids' retries.
    pqxx::nontransaction read(connection);
    EXPECT_EQ(read.exec1("SELECT count(*) FROM members")[0].as<int>(), 0);
    EXPECT_EQ(read.exec1("SELECT count(*) FROM refused_claims")[0].as<int>(), 0);
    service.stop();
    pool.stop();
}

// A member held by a transaction outside the server (a psql session left open) costs its own
// claims a 503, after one lock wait for all of them; the batch's other claims are booked, one
// by one once the batch has failed. A table held (a DDL) fails every claim, after at most three
// lock waits.
TEST_F(BookingServiceTest, ALockHeldOutsideTheServerFailsOnlyTheClaimsItHolds) {
    settings_.db_lock_timeout_ms = 500;
    // A claim whose batch takes two seconds to write, not waiting on a lock (which the lock
    // timeout would cut short), keeps the only in-flight slot meanwhile: claims submitted then
    // leave together, as one batch, after it.
    db_->pause_inserts("claims", "NEW.webhook_id LIKE 'slow-%'", 2);
    const auto occupy_the_slot = [this](BookingService& service, const std::string& id) {
        auto slow = submit_all(service, {earn(id, "M-S", 5)});
        EXPECT_TRUE(db_->wait_until_a_session_sleeps());
        return slow;
    };
    {
        DatabasePool pool(settings_, logger_);
        BookingService service(pool, logger_, {16, 5, 1});
        auto held_member = enrol_and_hold(service, "M-X");
        auto& holder = *held_member.holder;
        auto slow = occupy_the_slot(service, "slow-1");
        auto outcomes = submit_all(
            service, {earn("a-1", "M-A", 5), earn("x-1", "M-X", 5), earn("x-2", "M-X", 5),
                      earn("x-3", "M-X", 5), earn("b-1", "M-B", 5)});
        EXPECT_EQ(result_of(slow[0]).status, 201);
        const auto started = std::chrono::steady_clock::now();
        EXPECT_EQ(result_of(outcomes[0]).status, 201);
        for (std::size_t held = 1; held <= 3; ++held) EXPECT_TRUE(is_unavailable(outcomes[held]));
        EXPECT_EQ(result_of(outcomes[4]).status, 201);
        // The batch's wait and x-1's (1 s): x-2 and x-3 do not wait again (2 s), nor is the held
        // member taken for a held table, which would have cost b-1 its booking.
        EXPECT_LT(std::chrono::steady_clock::now() - started, 1700ms);
        holder.abort();
        EXPECT_EQ(claims_stored(), 4);

        // A reversal names no member the batch knows: its lock timeout, the batch's first, is
        // not taken for a held table, and the next reversal is booked.
        pqxx::work holder_again(*held_member.connection);
        holder_again.exec("SELECT 1 FROM members WHERE id = 'M-X' FOR UPDATE");
        slow = occupy_the_slot(service, "slow-2");
        auto reversals = submit_all(service, {reversal("r-x", "M-X-0"), reversal("r-a", "a-1")});
        EXPECT_EQ(result_of(slow[0]).status, 201);
        EXPECT_TRUE(is_unavailable(reversals[0]));
        EXPECT_EQ(result_of(reversals[1]).status, 201);
        holder_again.abort();
        EXPECT_EQ(claims_stored(), 6);
        service.stop();
        pool.stop();
    }
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {32, 5, 1});
    pqxx::connection holder_connection(db_->conninfo());
    pqxx::work holder(holder_connection);
    holder.exec("LOCK TABLE claims IN SHARE MODE");
    std::vector<storage::BookingInput> inputs;
    for (int i = 0; i < 20; ++i)
        inputs.push_back(earn("t-" + std::to_string(i), "M-T" + std::to_string(i), 5));
    const auto started = std::chrono::steady_clock::now();
    auto outcomes = submit_all(service, inputs);
    for (auto& outcome : outcomes) EXPECT_TRUE(is_unavailable(outcome));
    // The batch's wait, then two claims' (1.5 s; twenty would take 10.5 s), with slack.
    EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
    holder.abort();
    EXPECT_EQ(claims_stored(), 6);
    service.stop();
    pool.stop();
}

// A claim whose transaction PostgreSQL picks as a deadlock's victim stored nothing: 503 with
// Retry-After, which the partner retries, not 500. libpqxx 6 throws a deadlock as
// transaction_rollback, which is no sql_error and carries no SQLSTATE.
TEST_F(BookingServiceTest, AClaimADeadlockRollsBackIsUnavailable) {
    {
        pqxx::connection connection(db_->conninfo());
        pqxx::work tx(connection);
        coalition::testing::set_program_since_2000(tx, "validity_months", "36");
        tx.commit();
    }
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {16, 5, 1});
    ASSERT_EQ(result_of(submit_all(service, {earn("h-0", "M-H", 5)})[0]).status, 201);
    auto held_member = enrol_and_hold(service, "M-X");
    auto& holder = *held_member.holder;
    // A claim of yesterday beside it makes the batch span two dates, so x-1 is booked on its
    // own: it takes its id's lock, then waits for M-X. A batch held on M-H meanwhile keeps the
    // only in-flight slot, so that the two leave as one batch.
    auto blocker = hold_a_batch_on(service, "M-H", "h-1");
    auto yesterday = earn("y-1", "M-Y", 5);
    yesterday.accepted_at_us -= 86'400'000'000;
    auto outcomes = submit_all(service, {yesterday, earn("x-1", "M-X", 5)});
    blocker.holder->abort();
    EXPECT_EQ(result_of(blocker.claim[0]).status, 201);
    EXPECT_EQ(result_of(outcomes[0]).status, 201);
    ASSERT_TRUE(db_->wait_until_a_session_waits_on_a_lock());
    // The holder now waits for x-1's id lock: a cycle, which x-1's session, waiting longer,
    // finds first (deadlock_timeout) and is rolled back for. The holder then gets the lock.
    holder.exec("SELECT pg_advisory_xact_lock(6190880, hashtext('grocer/x-1'))");
    EXPECT_TRUE(is_unavailable(outcomes[1]));
    holder.abort();
    EXPECT_EQ(claims_stored(), 4);  // not x-1
    service.stop();
    pool.stop();
}

// Stopping sends the waiting claims without waiting for slots, but never beside a running batch
// of their member: a burn queued behind its member's earn is not refused for good (its 422
// would be kept) by a batch that overtook the earn's. Nor does the stop wait for that batch
// (it could sit behind the pool's whole queue): the burn is answered unavailable, nothing
// stored, and its retry is booked. The earn's batch is held here on its claim id's lock,
// taken by another transaction, before it locks its member.
TEST_F(BookingServiceTest, StopAnswersAClaimItsMembersRunningBatchHoldsUnavailable) {
    settings_.db_pool_size = 3;
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 0, 2});
    pqxx::connection holder_connection(db_->conninfo());
    pqxx::work holder(holder_connection);
    holder.exec("SELECT pg_advisory_xact_lock(6190880, hashtext('grocer/s-earn'))");
    auto first = submit_all(service, {earn("s-earn", "M-S", 10)});
    wait_until_a_batch_waits_on_a_lock();

    auto burn = earn("s-burn", "M-S", 10);
    burn.request.type = partners::ClaimType::burn;
    burn.partner_id = "fuel";
    auto second = submit_all(service, {burn});
    auto stopped = std::async(std::launch::async, [&service] { service.stop(); });
    // The stop neither books the burn nor waits for the earn's batch.
    EXPECT_TRUE(is_unavailable(second[0], 5s));
    EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
    holder.commit();
    stopped.get();
    pool.stop();
    EXPECT_EQ(result_of(first[0]).status, 201);
    EXPECT_EQ(claims_stored(), 1);
    pqxx::connection check(db_->conninfo());
    EXPECT_EQ(pqxx::nontransaction(check).exec1("SELECT count(*) FROM refused_claims")[0].as<int>(),
              0);
}

// An answer given without booking (a suspended partner's retry, an invalid body under a used id)
// reads the id's stored answer; it must not do so while an attempt with that id still waits in
// the queue, or it says "not stored" of a claim that commits after it. Here M-X's batch holds
// the one in-flight slot on a row lock, so y-1 (twice: a retry) and z-1 wait in the queue: what
// waits for y-1 runs only once both its attempts are answered, after their `done`, and what
// waits for an id nobody sent runs at once.
TEST_F(BookingServiceTest, WhatWaitsForAnIdsAttemptsRunsOnceTheLastIsAnswered) {
    settings_.db_pool_size = 2;
    DatabasePool pool(settings_, logger_);
    BookingService service(pool, logger_, {64, 0, 1});
    auto enrolled = submit_all(service, {earn("enrol", "M-X", 1)});
    ASSERT_EQ(result_of(enrolled[0]).status, 201);

    auto held = hold_a_batch_on(service, "M-X", "x-1");
    auto queued =
        submit_all(service, {earn("y-1", "M-Y", 1), earn("z-1", "M-Z", 1), earn("y-1", "M-Y", 1)});
    bool unsent_ran = false;
    service.after_attempts_of("grocer", "never-sent", [&] { unsent_ran = true; });
    EXPECT_TRUE(unsent_ran);
    // Another partner's claim with the same id is another claim.
    bool other_partner_ran = false;
    service.after_attempts_of("fuel", "y-1", [&] { other_partner_ran = true; });
    EXPECT_TRUE(other_partner_ran);

    std::promise<bool> y_answered_first;
    service.after_attempts_of("grocer", "y-1", [&] {
        y_answered_first.set_value(queued[0].wait_for(0s) == std::future_status::ready &&
                                   queued[2].wait_for(0s) == std::future_status::ready);
    });
    auto ran = y_answered_first.get_future();
    EXPECT_EQ(ran.wait_for(300ms), std::future_status::timeout) << "ran while y-1 was queued";
    EXPECT_EQ(claims_stored(), 1);

    held.holder->commit();
    ASSERT_EQ(ran.wait_for(30s), std::future_status::ready);
    EXPECT_TRUE(ran.get()) << "ran before y-1's attempts were answered";
    EXPECT_EQ(result_of(held.claim[0]).status, 201);
    EXPECT_EQ(result_of(queued[0]).status, 201);
    EXPECT_EQ(result_of(queued[1]).status, 201);
    const auto retry = result_of(queued[2]);
    EXPECT_EQ(retry.status, 201);
    EXPECT_TRUE(retry.replayed);
    EXPECT_EQ(claims_stored(), 4);

    // Answered, an id keeps nothing waiting.
    bool after_ran = false;
    service.after_attempts_of("grocer", "y-1", [&] { after_ran = true; });
    EXPECT_TRUE(after_ran);
    service.stop();
    pool.stop();
}

// Every waiting claim is answered once: booked (the pool runs what it was sent before it
// stops), or unavailable with nothing stored (its member held by a running batch).
TEST_F(BookingServiceTest, StopAnswersEveryWaitingClaim) {
    DatabasePool pool(settings_, logger_);
    auto service = std::make_unique<BookingService>(pool, logger_, BatchLimits{8, 1000, 1});
    std::vector<storage::BookingInput> inputs;
    for (int i = 0; i < 50; ++i) {
        inputs.push_back(earn("s-" + std::to_string(i), "M-" + std::to_string(i % 10), 1));
    }
    auto outcomes = submit_all(*service, inputs);
    service->stop();
    pool.stop();
    int booked = 0;
    for (auto& outcome : outcomes) {
        ASSERT_EQ(outcome.wait_for(30s), std::future_status::ready);
        const auto value = outcome.get();
        if (std::holds_alternative<BookingUnavailable>(value)) continue;
        ASSERT_TRUE(std::holds_alternative<storage::BookingResult>(value));
        EXPECT_EQ(std::get<storage::BookingResult>(value).status, 201);
        ++booked;
    }
    EXPECT_GT(booked, 0);
    EXPECT_EQ(claims_stored(), booked);

    // After stop, a claim is answered unavailable at once: nothing is left waiting.
    auto late = submit_all(*service, {earn("late", "M-1", 1)});
    EXPECT_TRUE(is_unavailable(late[0], 1s));
}

}  // namespace
}  // namespace coalition::server
