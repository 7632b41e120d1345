// The member read model (GET /v1/members/{id}) on a real database: its balance, debt and lots are
// read from one snapshot, so a look-up racing a booking shows the member before the booking or
// after it, never a mix of the two (a balance that never existed).
#include "storage/member_store.hpp"

#include "storage/claim_booking.hpp"
#include "storage/database.hpp"
#include "storage/partner_store.hpp"
#include "storage/sql_time.hpp"

#include "tests/support/booking_input.hpp"
#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <chrono>
#include <future>
#include <memory>

namespace coalition::storage {
namespace {

using coalition::testing::TestDatabase;
using namespace std::chrono_literals;

class MemberStore : public ::testing::Test {
  protected:
    void SetUp() override {
        db_ = std::make_unique<TestDatabase>("member_store");
        pqxx::connection connection(db_->conninfo());
        pqxx::work tx(connection);
        add_partner(tx, NewPartner{"grocer", "grocer", 1, {}});
        tx.commit();
    }

    std::unique_ptr<TestDatabase> db_;
};

TEST_F(MemberStore, ALookUpRacingAChangeSeesTheMemberBeforeItOrAfterItNeverAMix) {
    pqxx::connection reader(db_->conninfo());
    pqxx::connection writer(db_->conninfo());
    const auto earned =
        coalition::testing::booking_input("grocer", "e-1", partners::ClaimType::earn, "M-1", 50);
    ASSERT_EQ(book_claim(writer, earned).status, 201);
    const auto now_us = coalition::testing::noon_today_us();
    const auto before = read_member(reader, "M-1", now_us);
    ASSERT_TRUE(before);
    ASSERT_EQ(before->balance.value(), 50);

    // Another transaction holds `lots` locked, so the look-up reads the member's row and then
    // waits to read its lots; meanwhile that transaction empties the lot and puts the member
    // 30 points in debt (the member after: balance -30), and commits.
    pqxx::work change(writer);
    change.exec("LOCK TABLE lots IN ACCESS EXCLUSIVE MODE");
    auto look_up =
        std::async(std::launch::async, [&] { return read_member(reader, "M-1", now_us); });
    ASSERT_TRUE(db_->wait_until_a_session_waits_on_a_lock());
    change.exec("UPDATE lots SET points_remaining = 0 WHERE member_id = 'M-1'");
    change.exec("UPDATE members SET debt = 30 WHERE id = 'M-1'");
    change.commit();

    ASSERT_EQ(look_up.wait_for(10s), std::future_status::ready);
    const auto seen = look_up.get();
    ASSERT_TRUE(seen);
    // Read committed, the look-up paired the old debt (0) with the lots after (none): balance 0.
    EXPECT_EQ(seen->balance.value(), 50)
        << "debt " << seen->debt.value() << ", " << seen->lots.size() << " open lots";
    EXPECT_EQ(seen->debt.value(), 0);
    EXPECT_EQ(seen->lots.size(), 1u);

    const auto after = read_member(reader, "M-1", now_us);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->balance.value(), -30);
    EXPECT_EQ(after->debt.value(), 30);
    EXPECT_TRUE(after->lots.empty());
}

// The code reads dates back as text and parses YYYY-MM-DD: a database whose DateStyle is
// another (set by its owner, say 'SQL, DMY') must not change what a look-up answers.
TEST_F(MemberStore, ALookUpAnswersTheSameWhateverTheDatabasesDateStyle) {
    {
        pqxx::connection admin(db_->conninfo());
        pqxx::nontransaction tx(admin);
        tx.exec("ALTER DATABASE " + tx.quote_name(db_->name()) + " SET DateStyle = 'SQL, DMY'");
    }
    Settings settings;
    settings.db = db_->conninfo();
    const auto connection = connect(settings);
    ASSERT_EQ(book_claim(*connection, coalition::testing::booking_input(
                                          "grocer", "e-1", partners::ClaimType::earn, "M-1", 50))
                  .status,
              201);
    const auto view = read_member(*connection, "M-1", coalition::testing::noon_today_us());
    ASSERT_TRUE(view);
    EXPECT_EQ(view->balance.value(), 50);
    ASSERT_EQ(view->lots.size(), 1u);
    pqxx::nontransaction tx(*connection);
    EXPECT_EQ(tx.exec1("SELECT expires_on::text FROM lots")[0].as<std::string>(),
              date_literal(view->lots[0].expires_on));
}

}  // namespace
}  // namespace coalition::storage
