// coalitionctl check's engine: passes on a ledger the booking path wrote (burns, reversals of
// both kinds, debt, a reissued lot, expiry, closed runs) and names each deliberately corrupted
// row.
#include "storage/ledger_check.hpp"

#include "core/crypto.hpp"
#include "storage/claim_booking.hpp"
#include "storage/partner_store.hpp"
#include "storage/program_store.hpp"
#include "storage/settlement_store.hpp"

#include "tests/support/program_history.hpp"
#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <memory>
#include <string>

namespace coalition::storage {
namespace {

using coalition::testing::TestDatabase;
using namespace std::chrono;

Date day(int y, unsigned m, unsigned d) { return Date{year(y), month(m), std::chrono::day(d)}; }
std::int64_t at(Date date, int hour) {
    return duration_cast<microseconds>(sys_days(date).time_since_epoch()).count() +
           std::int64_t{hour} * 3'600'000'000;
}

std::string joined(const LedgerCheckReport& report) {
    std::string out;
    for (const auto& line : report.violations) out += line + "\n";
    return out;
}

class LedgerCheck : public ::testing::Test {
  protected:
    void SetUp() override {
        db_ = std::make_unique<TestDatabase>("ledger_check");
        connection_ = std::make_unique<pqxx::connection>(db_->conninfo());
        pqxx::work tx(*connection_);
        for (const char* id : {"fuel", "grocer"}) add_partner(tx, NewPartner{id, id, 1, {}});
        coalition::testing::set_program_since_2000(tx, "validity_months", "1");
        tx.commit();
        book_ledger();
    }
    void TearDown() override {
        connection_.reset();
        db_.reset();
    }

    void book(const std::string& partner, const std::string& id, partners::ClaimType type,
              const std::string& member, std::int64_t points, const std::string& reverses,
              std::int64_t at_us) {
        BookingInput input;
        input.partner_id = partner;
        input.webhook_id = id;
        input.request_sha256 = crypto::sha256(partner + id);
        input.request.type = type;
        input.request.member_id = member;
        input.request.points = Points(points);
        input.request.reverses = reverses;
        input.accepted_at_us = at_us;
        const auto result = book_claim(*connection_, input);
        ASSERT_EQ(result.status, 201) << id << " " << result.body;
    }

    void book_ledger() {
        using partners::ClaimType;
        const Date jan = day(2025, 1, 10);
        // M-1: an earn reversed after part of it was spent (debt), a later earn repaying it,
        // then the burn reversed: its points come back as a reissued lot.
        book("grocer", "e-1", ClaimType::earn, "M-1", 1'000, "", at(jan, 9));
        book("fuel", "b-1", ClaimType::burn, "M-1", 400, "", at(jan, 10));
        book("grocer", "r-e1", ClaimType::reversal, "", 0, "e-1", at(jan, 11));
        book("grocer", "e-2", ClaimType::earn, "M-1", 500, "", at(jan, 12));
        book("fuel", "r-b1", ClaimType::reversal, "", 0, "b-1", at(jan, 13));
        // M-2: a lot that expires (2025-02-28) with points left.
        book("fuel", "e-3", ClaimType::earn, "M-2", 300, "", at(jan, 14));
        book("grocer", "b-2", ClaimType::burn, "M-2", 100, "", at(jan, 15));
        for (const auto date : {jan, day(2025, 3, 1)}) {
            ASSERT_EQ(close_settlement(*connection_, date, at(day(2025, 3, 5), 0)).outcome,
                      CloseOutcome::closed_now);
        }
    }

    LedgerCheckReport check() { return check_ledger(*connection_, at(day(2025, 3, 5), 12)); }

    // Changes rows no trigger guards, as any role with write access could.
    void change(const std::string& sql) {
        pqxx::work tx(*connection_);
        tx.exec(sql);
        tx.commit();
    }

    // Corrupts with the append-only trigger of `table` disabled, as only a superuser can.
    void corrupt(const std::string& table, const std::string& trigger, const std::string& sql) {
        pqxx::work tx(*connection_);
        tx.exec("ALTER TABLE " + table + " DISABLE TRIGGER " + trigger);
        tx.exec(sql);
        tx.exec("ALTER TABLE " + table + " ENABLE TRIGGER " + trigger);
        tx.commit();
    }

    // A kept refusal (422) of `webhook_id` for b-2's partner, answered with `body`.
    void insert_refusal(const std::string& webhook_id, const std::string& body) {
        pqxx::work tx(*connection_);
        tx.exec_params(
            "INSERT INTO refused_claims (partner_id, webhook_id, request_sha256, "
            "  response_status, response_body, refused_at) "
            "SELECT partner_id, $1, request_sha256, 422, $2, now() "
            "FROM claims WHERE webhook_id = 'b-2'",
            webhook_id, body);
        tx.commit();
    }

    std::int64_t query_int(const std::string& sql) {
        pqxx::nontransaction tx(*connection_);
        return tx.exec1(sql)[0].as<std::int64_t>();
    }

    std::unique_ptr<TestDatabase> db_;
    std::unique_ptr<pqxx::connection> connection_;
};

TEST_F(LedgerCheck, PassesOnWhatTheBookingPathWrote) {
    const auto report = check();
    EXPECT_TRUE(report.ok()) << joined(report);
    EXPECT_EQ(report.members_checked, 2);
    EXPECT_EQ(report.lots_checked, 4);  // e-1, e-2, e-3 and the reissue of e-1
    EXPECT_EQ(report.runs_checked, 2);
}

TEST_F(LedgerCheck, CatchesASliceWhosePointsChanged) {
    corrupt("slices", "slices_append_only",
            "UPDATE slices SET points = points + 1, amount_micros = (points + 1) * point_value "
            "WHERE id = (SELECT min(id) FROM slices WHERE kind = 'burn')");
    const auto report = check();
    EXPECT_FALSE(report.ok());
    const auto text = joined(report);
    EXPECT_NE(text.find("burn claim"), std::string::npos) << text;
    EXPECT_NE(text.find("does not mirror"), std::string::npos) << text;
    EXPECT_NE(text.find("run 2025-01-10"), std::string::npos) << text;  // recomputed differs
}

TEST_F(LedgerCheck, CatchesAChangedStoredRun) {
    corrupt("settlement_runs", "settlement_runs_append_only",
            "UPDATE settlement_runs "
            "SET run = jsonb_set(run::jsonb, '{totals,points_issued}', '1')::json "
            "WHERE settlement_date = '2025-03-01'");
    const auto report = check();
    ASSERT_EQ(report.violations.size(), 1u) << joined(report);
    EXPECT_NE(report.violations[0].find("run 2025-03-01"), std::string::npos);
    EXPECT_NE(report.violations[0].find("run_sha256"), std::string::npos);
}

// A run's currency (which sets its rounding) and point value are its program version's: edited
// in the run with its hash recomputed, they were taken as the truth, and the run recomputed from
// the ledger with them agreed with it.
TEST_F(LedgerCheck, CatchesARunWhosePointValueIsNotItsProgramsEvenRehashed) {
    const std::string edited =
        "replace(run::text, '\"point_value\":10000', '\"point_value\":20000')";
    corrupt("settlement_runs", "settlement_runs_append_only",
            "UPDATE settlement_runs SET run = " + edited +
                "::json, "
                "run_sha256 = sha256(convert_to(" +
                edited +
                ", 'UTF8')) "
                "WHERE settlement_date = '2025-03-01'");
    ASSERT_EQ(query_int("SELECT count(*) FROM settlement_runs WHERE run::text LIKE "
                        "'%\"point_value\":20000%'"),
              1);
    const auto report = check();
    ASSERT_EQ(report.violations.size(), 1u) << joined(report);
    EXPECT_EQ(report.violations[0],
              "run 2025-03-01: the stored run of 2025-03-01 names currency EUR and point_value "
              "20000, its program version 3 EUR and 10000");
}

TEST_F(LedgerCheck, CatchesARunRehashedAfterItsFiguresChanged) {
    // Someone changes a figure of a statement row, which the run's hash does not cover: the
    // partners' informational lines then no longer sum to the run's totals.
    corrupt("settlement_statements", "settlement_statements_append_only",
            "UPDATE settlement_statements SET statement = jsonb_set(statement, "
            "'{points_issued}', '7') WHERE partner_id = 'fuel' "
            "AND settlement_date = '2025-01-10'");
    const auto report = check();
    EXPECT_FALSE(report.ok());
    EXPECT_NE(joined(report).find("run 2025-01-10"), std::string::npos) << joined(report);
}

// A lot still valid, so that its expiry row cannot be what names it: only the lot's own
// equation (issued = remaining + debt repaid + burnt - returned) sees the point gone.
TEST_F(LedgerCheck, CatchesALotWhoseRemainingDrifted) {
    book("grocer", "e-5", partners::ClaimType::earn, "M-5", 50, "", at(day(2025, 3, 2), 9));
    ASSERT_TRUE(check().ok()) << joined(check());
    change(
        "UPDATE lots SET points_remaining = points_remaining - 1 "
        "WHERE claim_id = (SELECT id FROM claims WHERE webhook_id = 'e-5')");
    const auto text = joined(check());
    EXPECT_NE(text.find(": issued 50 != remaining 49 + debt_repaid 0 + burnt 0 - returned 0"),
              std::string::npos)
        << text;
}

// A date the ledger cannot read (PostgreSQL's dates run far past 9999; ours stop there) is a
// row to name, not a reason to give up: `check` exited 1 on it, "could not check".
TEST_F(LedgerCheck, NamesALotDatedPastTheYear9999AndChecksTheRest) {
    const auto lot_id = query_int(
        "SELECT l.id FROM lots l JOIN claims c ON c.id = l.claim_id WHERE c.webhook_id = 'e-3'");
    corrupt("lots", "lots_never_move",
            "UPDATE lots SET expires_on = '10000-01-31' WHERE id = " + std::to_string(lot_id));
    LedgerCheckReport report;
    ASSERT_NO_THROW(report = check());
    const auto text = joined(report);
    EXPECT_NE(text.find("lot " + std::to_string(lot_id) +
                        " of member M-2: a row the ledger cannot read: not a YYYY-MM-DD "
                        "calendar date: 10000-01-31"),
              std::string::npos)
        << text;
    EXPECT_EQ(report.members_checked, query_int("SELECT count(*) FROM members"));
    EXPECT_EQ(report.runs_checked, 2);
}

// r-b1's 400 points came back to e-1's reversed lot after e-2 had repaid the 400 of debt that
// reversal made: they are a lot given back to e-2's (migration 0015). Such a lot gives back no
// more than its lot repaid, and only a repayment booked after the reversal of the lot the
// points came back to.
TEST_F(LedgerCheck, CatchesALotGivingBackMoreThanItsRepayment) {
    const auto repaying = query_int(
        "SELECT l.id FROM lots l JOIN claims c ON c.id = l.claim_id WHERE c.webhook_id = 'e-2'");
    ASSERT_EQ(
        query_int("SELECT count(*) FROM lots WHERE restores_lot_id = " + std::to_string(repaying)),
        1);
    corrupt("lots", "lots_origin_fixed",
            "UPDATE lots SET points_issued = points_issued + 1, "
            "points_remaining = points_remaining + 1 WHERE restores_lot_id = " +
                std::to_string(repaying));
    const auto text = joined(check());
    EXPECT_NE(text.find("lot " + std::to_string(repaying) +
                        ": gave back more of its repayments of debt than it repaid"),
              std::string::npos)
        << text;
}

// A repayment booked before the earn reversal whose debt the points came back for paid another
// debt: M-9's x-2 repaid x-1's refund, x-4 repaid x-3's, and x-3's burn reversal gives back
// x-4's. Pointed at x-2 (same member, issuer and expiry, standing, a repayment), it is named.
TEST_F(LedgerCheck, CatchesALotGivingBackARepaymentMadeBeforeTheDebt) {
    using partners::ClaimType;
    const Date march = day(2025, 3, 3);
    int hour = 0;
    for (const char* n : {"1", "3"}) {  // two refunded earns, each spent, each debt repaid
        const std::string spent = std::string("x-") + n;
        const std::string repays = std::string("x-") + static_cast<char>(n[0] + 1);
        book("grocer", spent, ClaimType::earn, "M-9", 100, "", at(march, ++hour));
        book("fuel", "y-" + spent, ClaimType::burn, "M-9", 100, "", at(march, ++hour));
        book("grocer", "r-" + spent, ClaimType::reversal, "", 0, spent, at(march, ++hour));
        book("grocer", repays, ClaimType::earn, "M-9", 100, "", at(march, ++hour));
    }
    book("fuel", "r-y-x-3", ClaimType::reversal, "", 0, "y-x-3", at(march, ++hour));
    ASSERT_TRUE(check().ok()) << joined(check());
    const auto lot_of = [&](const std::string& webhook_id) {
        return query_int(
            "SELECT l.id FROM lots l JOIN claims c ON c.id = l.claim_id "
            "WHERE c.webhook_id = '" +
            webhook_id + "' AND l.reissued_from_lot_id IS NULL");
    };
    const auto restoring = query_int(
        "SELECT l.id FROM lots l JOIN claims c ON c.id = l.claim_id WHERE c.webhook_id = "
        "'r-y-x-3' AND l.restores_lot_id = " +
        std::to_string(lot_of("x-4")));
    corrupt("lots", "lots_restoration_fixed",
            "UPDATE lots SET restores_lot_id = " + std::to_string(lot_of("x-2")) +
                " WHERE id = " + std::to_string(restoring));
    const auto report = check();
    ASSERT_EQ(report.violations.size(), 1u) << joined(report);
    EXPECT_EQ(report.violations[0],
              "lot " + std::to_string(restoring) +
                  ": belongs to no earn, nor is a burn reversal's reissue of a reversed lot of its "
                  "member");
}

// M-8: fuel's earn f-2 repays the debt of grocer's refund, the burn's reversal gives that
// repayment back as a lot of fuel's (restoring f-2's), 30 of which grocer redeems; then fuel
// refunds f-2, which takes the 70 left with it (migration 0016): the ledger is consistent,
// the debt is the 30 redeemed. A lot left standing beside the lot it restores, as refunds
// booked before that migration left them, is named.
TEST_F(LedgerCheck, CatchesARestoringLotLeftStandingAfterItsRepayingEarnsRefund) {
    using partners::ClaimType;
    const Date march = day(2025, 3, 3);
    book("grocer", "g-1", ClaimType::earn, "M-8", 100, "", at(march, 1));
    book("fuel", "u-1", ClaimType::burn, "M-8", 100, "", at(march, 2));
    book("grocer", "r-g1", ClaimType::reversal, "", 0, "g-1", at(march, 3));
    book("fuel", "f-2", ClaimType::earn, "M-8", 100, "", at(march, 4));
    book("fuel", "r-u1", ClaimType::reversal, "", 0, "u-1", at(march, 5));
    book("grocer", "u-2", ClaimType::burn, "M-8", 30, "", at(march, 6));
    book("fuel", "r-f2", ClaimType::reversal, "", 0, "f-2", at(march, 7));
    ASSERT_TRUE(check().ok()) << joined(check());
    EXPECT_EQ(query_int("SELECT debt FROM members WHERE id = 'M-8'"), 30);
    const auto restoring = query_int(
        "SELECT l.id FROM lots l JOIN claims c ON c.id = l.claim_id "
        "WHERE c.webhook_id = 'r-u1' AND l.restores_lot_id IS NOT NULL "
        "  AND l.reversed_by_claim_id = (SELECT id FROM claims WHERE webhook_id = 'r-f2') "
        "  AND l.points_remaining = 0");
    corrupt("lots", "lots_stay_reversed",
            "UPDATE lots SET reversed_by_claim_id = NULL, points_remaining = 70 WHERE id = " +
                std::to_string(restoring));
    change("UPDATE members SET debt = 100 WHERE id = 'M-8'");
    const auto text = joined(check());
    EXPECT_NE(text.find("lot " + std::to_string(restoring) +
                        ": gave back a repayment of debt, and was not reversed with the lot that "
                        "repaid it"),
              std::string::npos)
        << text;
}

TEST_F(LedgerCheck, CatchesAMemberPointsTotalThatDrifted) {
    corrupt("member_points", "member_points_kept_by_lots",
            "UPDATE member_points SET points = points + 1 WHERE member_id = 'M-2'");
    const auto report = check();
    ASSERT_EQ(report.violations.size(), 1u) << joined(report);
    EXPECT_EQ(report.violations[0],
              "member M-2, points expiring 2025-02-28: member_points holds 201, its lots 200");
}

TEST_F(LedgerCheck, CatchesAWrongExpiryRow) {
    corrupt("lot_expiries", "lot_expiries_append_only",
            "UPDATE lot_expiries SET points = points + 5 WHERE claim_id IS NULL");
    const auto report = check();
    EXPECT_FALSE(report.ok());
    EXPECT_NE(joined(report).find("expiry row"), std::string::npos) << joined(report);
}

// The rows each claim wrote, against the claim (each corruption below passed every check
// before: the lot's own equation, member_points and the runs all stay consistent with it).
TEST_F(LedgerCheck, CatchesAnEarnsLotInflated) {
    corrupt("lots", "lots_origin_fixed",
            "UPDATE lots SET points_issued = points_issued + 1000, "
            "points_remaining = points_remaining + 1000 "
            "WHERE claim_id = (SELECT id FROM claims WHERE webhook_id = 'e-2')");
    const auto text = joined(check());
    EXPECT_NE(text.find("earn claim"), std::string::npos) << text;
}

TEST_F(LedgerCheck, CatchesAnEarnReversalItsLotDoesNotName) {
    corrupt("lots", "lots_stay_reversed",
            "UPDATE lots SET reversed_by_claim_id = NULL WHERE reissued_from_lot_id IS NULL "
            "AND claim_id = (SELECT id FROM claims WHERE webhook_id = 'e-1')");
    const auto text = joined(check());
    EXPECT_NE(text.find("do not name each other"), std::string::npos) << text;
}

TEST_F(LedgerCheck, CatchesABurnSlicePricedOtherwiseThanItsProgram) {
    corrupt("slices", "slices_append_only",
            "UPDATE slices SET point_value = point_value * 2, amount_micros = amount_micros * 2 "
            "WHERE kind = 'burn' AND claim_id = (SELECT id FROM claims WHERE webhook_id = 'b-2')");
    const auto text = joined(check());
    EXPECT_NE(text.find("burn slice disagrees with its claim or lot"), std::string::npos) << text;
}

TEST_F(LedgerCheck, CatchesAStoredAnswerThatDisagreesWithItsClaim) {
    corrupt("claims", "claims_append_only",
            "UPDATE claims SET response_body = replace(response_body, '\"points\":100', "
            "'\"points\":50') WHERE webhook_id = 'b-2'");
    const auto report = check();
    ASSERT_EQ(report.violations.size(), 1u) << joined(report);
    EXPECT_NE(report.violations[0].find("its stored answer disagrees"), std::string::npos);
}

// An answer that is not JSON at all is named, not a failure of the whole check at a cast.
TEST_F(LedgerCheck, NamesAStoredAnswerThatIsNotJson) {
    corrupt("claims", "claims_append_only",
            "UPDATE claims SET response_body = 'accepted' WHERE webhook_id = 'b-2'");
    const auto id = std::to_string(query_int("SELECT id FROM claims WHERE webhook_id = 'b-2'"));
    const auto report = check();
    ASSERT_EQ(report.violations.size(), 1u) << joined(report);
    EXPECT_EQ(report.violations[0].rfind("claim " + id + ": its stored answer is not JSON", 0), 0u)
        << report.violations[0];
}

TEST_F(LedgerCheck, NamesARefusedClaimsAnswerThatIsNotJson) {
    insert_refusal("x-1", "{\"error\":");
    const auto report = check();
    ASSERT_EQ(report.violations.size(), 1u) << joined(report);
    EXPECT_NE(report.violations[0].find("x-1: its stored answer is not JSON"), std::string::npos)
        << report.violations[0];
}

// A refused claim's answer is replayed to its retries for ever: it must be a ledger refusal.
TEST_F(LedgerCheck, CatchesARefusedClaimWhoseAnswerIsNotARefusal) {
    insert_refusal("x-1", "{\"error\":{\"code\":\"idempotency_conflict\",\"message\":\"m\"}}");
    const auto report = check();
    ASSERT_EQ(report.violations.size(), 1u) << joined(report);
    EXPECT_NE(report.violations[0].find("refused claim"), std::string::npos);
}

// One answer a key: a refusal kept for the key of an accepted claim is named, also when another
// refused answer is not JSON (which stops the answers' own checks).
TEST_F(LedgerCheck, CatchesARefusedKeyThatIsAlsoAnAcceptedClaims) {
    insert_refusal("b-2", "{\"error\":{\"code\":\"insufficient_points\",\"message\":\"m\"}}");
    insert_refusal("x-9", "{\"error\":");
    const auto text = joined(check());
    EXPECT_NE(text.find("b-2: its key is also an accepted claim's"), std::string::npos) << text;
    EXPECT_NE(text.find("x-9: its stored answer is not JSON"), std::string::npos) << text;
}

// Points a burn reversal returned to an expired lot are that lot's breakage: a row of them on a
// lot still valid, or on a lot the reversal returned nothing to, is made up. (On a valid lot
// the lot's own expiry equation does not look at it yet, and the next close would count it.)
TEST_F(LedgerCheck, CatchesReturnedPointsBookedToALotStillValid) {
    book("grocer", "e-4", partners::ClaimType::earn, "M-3", 50, "", at(day(2025, 3, 2), 9));
    corrupt("lot_expiries", "lot_expiries_not_into_closed_date",
            "INSERT INTO lot_expiries (lot_id, claim_id, issuer_id, points, settlement_date) "
            "SELECT l.id, r.id, l.issuer_id, 20, r.settlement_date FROM lots l, claims r "
            "WHERE l.claim_id = (SELECT id FROM claims WHERE webhook_id = 'e-4') "
            "  AND r.webhook_id = 'r-b1'");
    const auto text = joined(check());
    EXPECT_NE(text.find("dated otherwise than its kind"), std::string::npos) << text;
}

// Foreign keys are the database's, but a data-only restore with --disable-triggers, or a
// superuser's session_replication_role = replica, skips them. An earn's claim row gone: its
// lot still counted in the balance and in issuance, a retry of its id booked it again, and
// check said ok (found by review). A member row gone: its lots could be neither read nor spent.
TEST_F(LedgerCheck, CatchesRowsWhoseForeignKeysPointNowhere) {
    {
        pqxx::work tx(*connection_);
        tx.exec("SET LOCAL session_replication_role = replica");
        tx.exec("DELETE FROM claims WHERE webhook_id = 'e-3'");
        tx.commit();
    }
    auto text = joined(check());
    EXPECT_NE(text.find("foreign key lots_claim_id_fkey: 1 row(s) of lots name a row of claims "
                        "that does not exist"),
              std::string::npos)
        << text;
    {
        pqxx::work tx(*connection_);
        tx.exec("SET LOCAL session_replication_role = replica");
        tx.exec("DELETE FROM members WHERE id = 'M-2'");
        tx.commit();
    }
    text = joined(check());
    EXPECT_NE(text.find("row(s) of lots name a row of members that does not exist"),
              std::string::npos)
        << text;
}

// A run naming a program version that is gone: the run check, which reads the run's program,
// threw, and check exited 1 ("could not check") without the violation it had found (found by
// review). The foreign keys are reported, and the checks that read through them are not run.
TEST_F(LedgerCheck, ReportsBrokenForeignKeysEvenWhenTheyWouldStopTheOtherChecks) {
    {
        pqxx::work tx(*connection_);
        tx.exec("SET LOCAL session_replication_role = replica");
        tx.exec(
            "UPDATE settlement_runs SET settings_version = 999 "
            "WHERE settlement_date = '2025-03-01'");
        tx.commit();
    }
    LedgerCheckReport report;
    ASSERT_NO_THROW(report = check());
    const auto text = joined(report);
    EXPECT_NE(text.find("foreign key settlement_runs_settings_version_fkey: 1 row(s)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("the other checks were not run"), std::string::npos) << text;

    // With no program left at all, today cannot even be computed (found by a second review).
    {
        pqxx::work tx(*connection_);
        tx.exec("SET LOCAL session_replication_role = replica");
        tx.exec("DELETE FROM program_settings");
        tx.commit();
    }
    ASSERT_NO_THROW(report = check());
    const auto emptied = joined(report);
    EXPECT_NE(emptied.find("program_settings holds no program"), std::string::npos) << emptied;
    EXPECT_NE(emptied.find("foreign key claims_settings_version_fkey"), std::string::npos)
        << emptied;
}

// Values the checks cannot read, written past the server's validation with plain INSERTs (found
// by review): a program in a time zone PostgreSQL does not know, a run dated 'infinity'. check
// exited 1, "could not check", as for a database that cannot be reached; the ledger is wrong.
TEST_F(LedgerCheck, NamesAValueItCannotReadRatherThanFailingToCheck) {
    change(
        "INSERT INTO program_settings (currency, point_value, issue_fee, validity_months, "
        "timezone) VALUES ('EUR', 10000, 0, 36, 'Mars/Olympus')");
    LedgerCheckReport report;
    ASSERT_NO_THROW(report = check());
    auto text = joined(report);
    EXPECT_NE(text.find("check stopped: the ledger holds a value it cannot read"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("Mars/Olympus"), std::string::npos) << text;
}

TEST_F(LedgerCheck, NamesARunDatedInfinityRatherThanFailingToCheck) {
    change(
        "INSERT INTO settlement_runs (settlement_date, closed_at, settings_version, currency, "
        "run, run_sha256, outstanding_at_date_end) "
        "SELECT 'infinity', closed_at, settings_version, currency, run, run_sha256, "
        "outstanding_at_date_end FROM settlement_runs WHERE settlement_date = '2025-03-01'");
    LedgerCheckReport report;
    ASSERT_NO_THROW(report = check());
    const auto text = joined(report);
    EXPECT_NE(text.find("not a YYYY-MM-DD calendar date: infinity"), std::string::npos) << text;
}

// A member's debt is derived from its history (earns repaid, earn reversals, burn reversals into
// reversed lots); the balance check alone compared the debt with itself.
TEST_F(LedgerCheck, CatchesADebtItsHistoryDoesNotGive) {
    change("UPDATE members SET debt = debt + 7 WHERE id = 'M-1'");
    const auto report = check();
    ASSERT_EQ(report.violations.size(), 1u) << joined(report);
    EXPECT_NE(report.violations[0].find("member M-1: debt"), std::string::npos)
        << report.violations[0];
}

// r-b1 returned 400 points to e-1's reversed lot, the member owing nothing by then: they were
// reissued as one lot of 400. That lot inflated by a point, with the member's debt raised by
// one so that the debt check balances, reissues more than the reversal returned.
TEST_F(LedgerCheck, CatchesAReissueOfMorePointsThanTheReversalReturned) {
    const auto reissue =
        std::to_string(query_int("SELECT id FROM lots WHERE reissued_from_lot_id IS NOT NULL"));
    corrupt("lots", "lots_origin_fixed",
            "UPDATE lots SET points_issued = points_issued + 1, "
            "points_remaining = points_remaining + 1 WHERE id = " +
                reissue);
    change("UPDATE members SET debt = debt + 1 WHERE id = 'M-1'");
    const auto text = joined(check());
    EXPECT_NE(
        text.find("lot " + reissue + ": a reissue of more points than its burn reversal returned"),
        std::string::npos)
        << text;
    EXPECT_EQ(text.find("member M-1: debt"), std::string::npos) << text;
}

TEST_F(LedgerCheck, CatchesBreakageBookedToAnotherIssuer) {
    corrupt("lot_expiries", "lot_expiries_append_only",
            "UPDATE lot_expiries SET issuer_id = 'grocer' WHERE claim_id IS NULL");
    const auto text = joined(check());
    EXPECT_NE(text.find("not its lot's issuer's"), std::string::npos) << text;
}

}  // namespace
}  // namespace coalition::storage
