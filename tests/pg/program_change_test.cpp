// A price change applies to claims accepted after it only (CONTRACT.md §1; migration 0008): a
// claim is priced by the program in force at its accepted_at, whenever its booking runs, on the
// one-claim path and in a batch, whatever the skew between the server's clock and the
// database's (migration 0010); a batch across a change is booked claim by claim; a change
// waits for the bookings in flight, and a booking that starts during a change waits for it and
// then sees it.
#include "storage/claim_batch.hpp"
#include "storage/claim_booking.hpp"
#include "storage/partner_store.hpp"
#include "storage/program_store.hpp"
#include "storage/sql_time.hpp"

#include "tests/support/booking_input.hpp"
#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace coalition::storage {
namespace {

using coalition::testing::TestDatabase;
using partners::ClaimType;
using namespace std::chrono;

// How long after a claim's acceptance the tests change the program. A booking maps its
// acceptance onto the database's clock late by the statement's transit, which on two busy cores
// can take milliseconds: 2 ms failed in a full unit+pg run (as booking_service_test's twin did).
constexpr auto kChangeAfterAcceptance = milliseconds(100);

BookingInput claim(const std::string& partner, const std::string& id, ClaimType type,
                   const std::string& member, std::int64_t points, std::int64_t accepted_at_us) {
    auto input = coalition::testing::booking_input(partner, id, type, member, points);
    input.accepted_at_us = accepted_at_us;
    return input;
}

class ProgramChange : public ::testing::Test {
  protected:
    void SetUp() override {
        db_ = std::make_unique<TestDatabase>("program_change");
        connection_ = std::make_unique<pqxx::connection>(db_->conninfo());
        pqxx::work tx(*connection_);
        for (const char* id : {"grocer", "fuel"}) add_partner(tx, NewPartner{id, id, 1, {}});
        tx.commit();
    }

    // Sets point_value (micro-units per point) and returns the new version.
    std::int64_t set_point_value(pqxx::connection& connection, const std::string& value) {
        pqxx::work tx(connection);
        const auto version = set_program_setting(tx, "point_value", value).version;
        tx.commit();
        return version;
    }

    std::int64_t scalar(const std::string& sql) {
        pqxx::nontransaction tx(*connection_);
        return tx.exec1(sql)[0].as<std::int64_t>();
    }

    // The version and the slice amount (micro-units) a burn was booked with.
    std::pair<std::int64_t, std::int64_t> burn_priced(const std::string& webhook_id) {
        pqxx::nontransaction tx(*connection_);
        const auto row = tx.exec_params1(
            "SELECT c.settings_version, s.amount_micros FROM claims c "
            "JOIN slices s ON s.claim_id = c.id WHERE c.webhook_id = $1",
            webhook_id);
        return {row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
    }

    std::unique_ptr<TestDatabase> db_;
    std::unique_ptr<pqxx::connection> connection_;
};

TEST_F(ProgramChange, ClaimsAcceptedBeforeAChangeKeepTheOldPriceWhenBookedAfterIt) {
    const auto funded = now_unix_micros();
    ASSERT_EQ(
        book_claim(*connection_, claim("grocer", "e-1", ClaimType::earn, "M-1", 1'000, funded))
            .status,
        201);
    const std::int64_t old_version = scalar("SELECT max(version) FROM program_settings");
    // Accepted, then still queued for booking when the price doubles.
    const auto before = now_unix_micros();
    std::this_thread::sleep_for(kChangeAfterAcceptance);
    const auto new_version = set_point_value(*connection_, "20000");
    const auto after = now_unix_micros();

    // The one-claim path, and a batch of claims all accepted before the change: the old price.
    ASSERT_EQ(
        book_claim(*connection_, claim("fuel", "b-1", ClaimType::burn, "M-1", 10, before)).status,
        201);
    const auto batched = book_claims(
        *connection_, std::vector{claim("fuel", "b-2", ClaimType::burn, "M-1", 10, before),
                                  claim("fuel", "b-3", ClaimType::burn, "M-1", 10, before)});
    for (const auto& result : batched) EXPECT_EQ(result.status, 201) << result.body;
    for (const char* id : {"b-1", "b-2", "b-3"}) {
        EXPECT_EQ(burn_priced(id), std::make_pair(old_version, std::int64_t{100'000})) << id;
    }

    // Accepted after it: the new price, on both paths.
    ASSERT_EQ(
        book_claim(*connection_, claim("fuel", "b-4", ClaimType::burn, "M-1", 10, after)).status,
        201);
    const auto later = book_claims(
        *connection_, std::vector{claim("fuel", "b-5", ClaimType::burn, "M-1", 10, after)});
    EXPECT_EQ(later.at(0).status, 201) << later.at(0).body;
    for (const char* id : {"b-4", "b-5"}) {
        EXPECT_EQ(burn_priced(id), std::make_pair(new_version, std::int64_t{200'000})) << id;
    }
}

TEST_F(ProgramChange, ABatchAcrossAChangeAsksForOneByOneAndStoresNothing) {
    const auto before = now_unix_micros();
    std::this_thread::sleep_for(kChangeAfterAcceptance);
    set_point_value(*connection_, "20000");
    const auto after = now_unix_micros();
    EXPECT_THROW(
        book_claims(*connection_,
                    std::vector{claim("grocer", "e-1", ClaimType::earn, "M-1", 10, before),
                                claim("grocer", "e-2", ClaimType::earn, "M-2", 10, after)}),
        BatchNeedsSingleBookings);
    EXPECT_EQ(scalar("SELECT count(*) FROM claims"), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM members"), 0);
}

// Validation checks a purchase's currency against the server's snapshot of the program, which
// learns of a change up to a refresh interval late (a currency changes only while no claim
// exists: the first seconds of a program). Booking checks it again against the program in force
// when the claim was accepted: such an earn is answered as validation would answer it (400,
// kept nowhere, no member enrolled), on the one-claim path and from a batch, which books claim
// by claim instead; its neighbours are booked.
TEST_F(ProgramChange, APurchaseInTheCurrencyJustReplacedIsRefusedAtBookingAndStoresNothing) {
    {
        pqxx::work tx(*connection_);
        set_program_setting(tx, "currency", "USD");
        tx.commit();
    }
    const auto after = now_unix_micros();
    auto in_eur = [&](const std::string& id, const std::string& member) {
        auto input = claim("grocer", id, ClaimType::earn, member, 120, after);
        input.request.points_from_purchase = true;
        input.request.purchase = partners::Purchase{12'050, "EUR"};
        return input;
    };
    const auto expect_refused = [](const BookingResult& result) {
        EXPECT_EQ(result.status, 400) << result.body;
        ASSERT_TRUE(result.error);
        EXPECT_EQ(result.error->code, ErrorCode::invalid_field);
        EXPECT_EQ(result.error->field, "purchase.currency");
        EXPECT_EQ(result.error->message, "purchase.currency must be the program currency USD");
    };

    expect_refused(book_claim(*connection_, in_eur("e-1", "M-1")));
    EXPECT_THROW(book_claims(*connection_,
                             std::vector{claim("grocer", "e-2", ClaimType::earn, "M-2", 10, after),
                                         in_eur("e-3", "M-3")}),
                 BatchNeedsSingleBookings);
    EXPECT_EQ(scalar("SELECT count(*) FROM claims"), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM refused_claims"), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM members"), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM lots"), 0);

    // In the program's currency, both paths book it.
    auto in_usd = in_eur("e-4", "M-4");
    in_usd.request.purchase->currency = "USD";
    EXPECT_EQ(book_claim(*connection_, in_usd).status, 201);
    in_usd.webhook_id = "e-5";
    in_usd.request.member_id = "M-5";
    const auto batched = book_claims(*connection_, std::vector{in_usd});
    EXPECT_EQ(batched.at(0).status, 201) << batched.at(0).body;
    EXPECT_EQ(scalar("SELECT count(*) FROM claims"), 2);
}

// A currency changes only while no claim exists, but claims accepted just before the change may
// still be queued when it commits. Booked under the program they were accepted under, they would
// put amounts of the old currency into a date that nets in the new one: nothing of them is
// stored (the server answers 503), and their retries are accepted under the new program.
TEST_F(ProgramChange, AClaimAcceptedBeforeACurrencyChangeIsNotBookedAfterIt) {
    const auto before = now_unix_micros();
    std::this_thread::sleep_for(kChangeAfterAcceptance);
    {
        pqxx::work tx(*connection_);
        set_program_setting(tx, "currency", "USD");
        tx.commit();
    }
    EXPECT_THROW(
        book_claim(*connection_, claim("grocer", "e-1", ClaimType::earn, "M-1", 10, before)),
        ProgramCurrencyReplaced);
    EXPECT_THROW(book_claims(*connection_, std::vector{claim("grocer", "e-2", ClaimType::earn,
                                                             "M-2", 10, before)}),
                 BatchNeedsSingleBookings);
    EXPECT_EQ(scalar("SELECT count(*) FROM claims"), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM members"), 0);

    const auto after = now_unix_micros();
    EXPECT_EQ(
        book_claim(*connection_, claim("grocer", "e-1", ClaimType::earn, "M-1", 10, after)).status,
        201);
    const auto batched = book_claims(
        *connection_, std::vector{claim("grocer", "e-2", ClaimType::earn, "M-2", 10, after)});
    EXPECT_EQ(batched.at(0).status, 201) << batched.at(0).body;
}

// A change is stamped by the database's clock, a claim's acceptance by the server host's
// (migration 0010): the booking passes its own clock's time as it sends the statement, so that
// a server whose clock is far behind the database's (run under faketime, as the contract
// invites) or ahead of it still prices a claim by the change it was accepted after, and only by
// that. Here a server clock 60 to 200 days behind or ahead accepts one claim a second before
// the change and one a second after it, on the database's clock. The skews are
// exact seconds and the session's time zone keeps daylight-saving time, so that arithmetic that
// followed the calendar across a DST change (an hour off) would be caught.
TEST_F(ProgramChange, AChangeAppliesByTheDatabasesClockWhateverTheServersClock) {
    const auto changed = set_point_value(*connection_, "20000");
    ASSERT_EQ(changed, 2);
    {
        pqxx::nontransaction tx(*connection_);
        tx.exec("SET TimeZone = 'Europe/Berlin'");
    }
    constexpr std::int64_t kDay = 86'400;
    // From any day of the year one of these lands in the other DST season.
    for (const std::int64_t skew_s : {-200 * kDay, -140 * kDay, -60 * kDay, 60 * kDay, 140 * kDay,
                                      200 * kDay, std::int64_t{0}}) {
        const auto skewed = [](const std::string& instant, std::int64_t by_s) {
            return instant + " + make_interval(secs => " + std::to_string(by_s) + ")";
        };
        const auto version_accepted = [&](int seconds_after_change) {
            return scalar("SELECT (SELECT version FROM program_in_force_at(" +
                          skewed("p.effective_from", skew_s + seconds_after_change) + ", " +
                          skewed("statement_timestamp()", skew_s) +
                          ")) FROM program_settings p WHERE version = 2");
        };
        EXPECT_EQ(version_accepted(-1), 1) << "server clock off by " << skew_s << " s";
        EXPECT_EQ(version_accepted(1), 2) << "server clock off by " << skew_s << " s";
    }
}

TEST_F(ProgramChange, AChangeWaitsForTheBookingsInFlight) {
    // A booking that has read the program in force holds the program's lock, shared.
    pqxx::connection booking_connection(db_->conninfo());
    pqxx::work booking(booking_connection);
    booking.exec("SELECT version FROM program_in_force_at(now(), now())");

    auto change = std::async(std::launch::async, [&] {
        pqxx::connection connection(db_->conninfo());
        set_point_value(connection, "20000");
    });
    EXPECT_EQ(change.wait_for(milliseconds(300)), std::future_status::timeout)
        << "the change did not wait for the booking in flight";
    const auto released = now_unix_micros();
    booking.commit();
    change.get();
    // Stamped after the booking ended: no claim that booking priced is accepted after it.
    EXPECT_GE(scalar("SELECT (extract(epoch FROM max(effective_from)) * 1e6)::bigint "
                     "FROM program_settings"),
              released);
}

// An unknown time zone is a bad argument, said at once: it neither waits for the bookings in
// flight nor reports itself as a conflict to retry when one is stuck.
TEST_F(ProgramChange, AnUnknownTimeZoneIsRefusedWithoutWaitingForBookings) {
    pqxx::connection booking_connection(db_->conninfo());
    pqxx::work stuck(booking_connection);
    stuck.exec("SELECT version FROM program_in_force_at(now(), now())");

    const auto started = steady_clock::now();
    try {
        pqxx::work tx(*connection_);
        set_program_setting(tx, "timezone", "Europe/Pariss");
        ADD_FAILURE() << "an unknown time zone was accepted";
    } catch (const ProgramSettingError& e) {
        EXPECT_EQ(e.kind(), ProgramSettingError::Kind::invalid) << e.what();
    }
    EXPECT_LT(steady_clock::now() - started, milliseconds(1000));
    stuck.commit();
    EXPECT_EQ(scalar("SELECT count(*) FROM program_settings"), 1);
}

// A change waits for the bookings in flight, and new bookings wait behind it: so it waits a
// bounded time. A booking stuck longer makes the change give up, change nothing, and say so.
TEST_F(ProgramChange, AChangeGivesUpOnABookingStuckInFlight) {
    pqxx::connection booking_connection(db_->conninfo());
    pqxx::work stuck(booking_connection);
    stuck.exec("SELECT version FROM program_in_force_at(now(), now())");

    const auto started = steady_clock::now();
    try {
        set_point_value(*connection_, "20000");
        ADD_FAILURE() << "the change did not give up";
    } catch (const ProgramSettingError& e) {
        EXPECT_EQ(e.kind(), ProgramSettingError::Kind::conflict);
        EXPECT_NE(std::string(e.what()).find("try again"), std::string::npos) << e.what();
    }
    EXPECT_LT(steady_clock::now() - started, seconds(10));
    stuck.commit();
    EXPECT_EQ(scalar("SELECT count(*) FROM program_settings"), 1);
    // Nothing left behind: the next change and the next booking go through.
    set_point_value(*connection_, "20000");
    EXPECT_EQ(book_claim(*connection_,
                         claim("grocer", "e-1", ClaimType::earn, "M-1", 10, now_unix_micros()))
                  .status,
              201);
}

TEST_F(ProgramChange, ABookingDuringAChangeWaitsAndThenSeesIt) {
    ASSERT_EQ(book_claim(*connection_,
                         claim("grocer", "e-1", ClaimType::earn, "M-1", 1'000, now_unix_micros()))
                  .status,
              201);
    // The change has stamped its row but not committed yet.
    pqxx::connection change_connection(db_->conninfo());
    pqxx::work change(change_connection);
    const auto new_version = set_program_setting(change, "point_value", "20000").version;
    const auto accepted = now_unix_micros();  // after effective_from: the new price applies

    auto batch = std::async(std::launch::async, [&] {
        pqxx::connection connection(db_->conninfo());
        return book_claims(connection,
                           std::vector{claim("fuel", "b-1", ClaimType::burn, "M-1", 10, accepted)});
    });
    auto single = std::async(std::launch::async, [&] {
        pqxx::connection connection(db_->conninfo());
        return book_claim(connection, claim("fuel", "b-2", ClaimType::burn, "M-1", 10, accepted));
    });
    EXPECT_EQ(batch.wait_for(milliseconds(300)), std::future_status::timeout)
        << "the batch did not wait for the change";
    EXPECT_EQ(single.wait_for(milliseconds(0)), std::future_status::timeout)
        << "the one-claim booking did not wait for the change";
    change.commit();
    EXPECT_EQ(batch.get().at(0).status, 201);
    EXPECT_EQ(single.get().status, 201);
    // Each read the program after the change committed, not with a snapshot from before it.
    for (const char* id : {"b-1", "b-2"}) {
        EXPECT_EQ(burn_priced(id), std::make_pair(new_version, std::int64_t{200'000})) << id;
    }
}

}  // namespace
}  // namespace coalition::storage
