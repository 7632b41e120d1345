// The real coalitionctl binary closing dates, printing statements and checking the ledger, on a
// fresh database whose claims are booked through the real booking path at past times.
#include "core/crypto.hpp"
#include "settlement/run_json.hpp"
#include "settlement/statement.hpp"
#include "settlement/statement_csv.hpp"
#include "storage/claim_booking.hpp"
#include "storage/sql_time.hpp"

#include "tests/support/process.hpp"
#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <sstream>
#include <string>
#include <vector>

namespace coalition {
namespace {

using testing::CommandResult;
using testing::TestDatabase;
using namespace std::chrono;

std::int64_t at(storage::Date date, int hour) {
    return duration_cast<microseconds>(sys_days(date).time_since_epoch()).count() +
           std::int64_t{hour} * 3'600'000'000;
}

const storage::Date kDay{year(2025), month(3), day(10)};

class CoalitionctlSettle : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        db_ = new TestDatabase("ctl_settle");
        for (const char* id : {"fuel", "grocer"}) {
            const auto added = ctl({"partner", "add", id, "--name", id});
            ASSERT_EQ(added.exit_code, 0) << added.err;
        }
        pqxx::connection connection(db_->conninfo());
        const auto book = [&](const std::string& partner, const std::string& id,
                              partners::ClaimType type, std::int64_t points, std::int64_t at_us) {
            storage::BookingInput input;
            input.partner_id = partner;
            input.webhook_id = id;
            input.request_sha256 = crypto::sha256(id);
            input.request.type = type;
            input.request.member_id = "M-1";
            input.request.points = Points(points);
            input.accepted_at_us = at_us;
            ASSERT_EQ(storage::book_claim(connection, input).status, 201) << id;
        };
        book("grocer", "e-1", partners::ClaimType::earn, 10'000, at(kDay, 8));
        book("fuel", "b-1", partners::ClaimType::burn, 1'234, at(kDay, 9));
        book("grocer", "b-2", partners::ClaimType::burn, 66, at(kDay, 10));
        // Today, for a provisional statement.
        book("fuel", "e-today", partners::ClaimType::earn, 5, storage::now_unix_micros());
    }
    static void TearDownTestSuite() {
        delete db_;
        db_ = nullptr;
    }

    static CommandResult ctl(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {testing::bin_path("coalitionctl")};
        argv.insert(argv.end(), args.begin(), args.end());
        return testing::run_command(
            argv, {{"COALITION_DB", db_->conninfo()}, {"COALITION_CONFIG", testing::kUnset}});
    }

    static std::int64_t runs_stored() {
        pqxx::connection connection(db_->conninfo());
        pqxx::nontransaction tx(connection);
        return tx.exec1("SELECT count(*) FROM settlement_runs")[0].as<std::int64_t>();
    }

    static inline TestDatabase* db_ = nullptr;
};

// One line on stderr, starting with the program's name.
void expect_one_line_error(const CommandResult& result, const std::string& contains) {
    EXPECT_EQ(result.out, "");
    ASSERT_FALSE(result.err.empty());
    EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;
    EXPECT_EQ(result.err.rfind("coalitionctl: ", 0), 0u) << result.err;
    EXPECT_NE(result.err.find(contains), std::string::npos) << result.err;
}

TEST_F(CoalitionctlSettle, SettleClosesOnceAndPrintsTheSameRunAgain) {
    const auto first = ctl({"settle", "2025-03-10"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    const auto run = settlement::run_from_json_text(first.out);
    EXPECT_EQ(run.status, settlement::RunStatus::closed);
    EXPECT_EQ(run.totals.claims, 3);
    ASSERT_EQ(run.obligations.size(), 1u);
    EXPECT_EQ(run.obligations[0].from, "grocer");
    EXPECT_EQ(run.obligations[0].to, "fuel");
    EXPECT_EQ(run.obligations[0].amount, MinorUnits(1'234));
    EXPECT_EQ(first.out.back(), '\n');

    const auto second = ctl({"settle", "2025-03-10"});
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_EQ(second.out, first.out);
    EXPECT_EQ(runs_stored(), 1);
}

TEST_F(CoalitionctlSettle, SettleRefusesAnOpenDate) {
    const auto before = runs_stored();
    const auto result = ctl({"settle", "2999-01-01"});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_EQ(result.err, "coalitionctl: date 2999-01-01 has not ended\n");
    EXPECT_EQ(runs_stored(), before);
}

TEST_F(CoalitionctlSettle, SettleRefusesMalformedDates) {
    for (const auto& text : {"2025-02-30", "2025-3-10", "yesterday", "", "0000-01-01"}) {
        const auto result = ctl({"settle", text});
        EXPECT_EQ(result.exit_code, 2) << text;
        expect_one_line_error(result, "settle");
    }
    EXPECT_EQ(ctl({"settle"}).exit_code, 2);
    EXPECT_EQ(ctl({"settle", "2025-03-10", "extra"}).exit_code, 2);
}

TEST_F(CoalitionctlSettle, StatementJsonAndCsvCarryTheSameFigures) {
    ASSERT_EQ(ctl({"settle", "2025-03-10"}).exit_code, 0);
    const auto json = ctl({"statement", "2025-03-10", "grocer"});
    ASSERT_EQ(json.exit_code, 0) << json.err;
    const auto from_json = settlement::statement_from_json_text(json.out);
    EXPECT_EQ(from_json.partner_id, "grocer");
    EXPECT_EQ(from_json.status, settlement::RunStatus::closed);
    EXPECT_EQ(from_json.net, MinorUnits(-1'234));
    EXPECT_EQ(from_json.own_redemptions, Points(66));

    const auto csv = ctl({"statement", "2025-03-10", "grocer", "--format", "csv"});
    ASSERT_EQ(csv.exit_code, 0) << csv.err;
    std::istringstream lines(csv.out);
    std::string header;
    std::getline(lines, header);
    if (!header.empty() && header.back() == '\r') header.pop_back();
    EXPECT_EQ(header, settlement::kStatementCsvHeader);
    EXPECT_EQ(settlement::statement_from_csv(csv.out), from_json);
    EXPECT_EQ(ctl({"statement", "2025-03-10", "grocer", "--format=json"}).out, json.out);
}

TEST_F(CoalitionctlSettle, StatementOfAnOpenDateIsProvisional) {
    const std::string today = storage::date_literal(
        year_month_day{floor<days>(system_clock::now())});  // the program time zone is UTC
    const auto result = ctl({"statement", today, "fuel"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto statement = settlement::statement_from_json_text(result.out);
    EXPECT_EQ(statement.status, settlement::RunStatus::provisional);
    EXPECT_EQ(statement.points_issued, Points(5));
}

TEST_F(CoalitionctlSettle, StatementErrors) {
    expect_one_line_error(ctl({"statement", "2025-03-10", "nobody"}), "nobody");
    EXPECT_EQ(ctl({"statement", "2025-03-10", "nobody"}).exit_code, 1);
    // A partner that exists but has no line on a date without activity: a statement of zeros.
    const auto quiet = ctl({"statement", "2020-01-01", "fuel"});
    ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
    const auto zeros = settlement::statement_from_json_text(quiet.out);
    EXPECT_EQ(zeros.partner_id, "fuel");
    EXPECT_EQ(zeros.net, MinorUnits(0));
    EXPECT_FALSE(zeros.instruction);
    const auto bad_format = ctl({"statement", "2025-03-10", "grocer", "--format", "xml"});
    EXPECT_EQ(bad_format.exit_code, 2);
    expect_one_line_error(bad_format, "--format");
    EXPECT_EQ(ctl({"statement", "2025-13-01", "grocer"}).exit_code, 2);
    EXPECT_EQ(ctl({"statement", "2025-03-10"}).exit_code, 2);
    // Not a partner id at all, on an open date too: a bad argument, not a missing statement.
    const auto today = storage::date_literal(std::chrono::year_month_day{
        std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())});
    for (const std::string id : {"gro cer", "\xFF"}) {
        const auto odd = ctl({"statement", today, id});
        EXPECT_EQ(odd.exit_code, 2) << odd.err;
        expect_one_line_error(odd, "partner id");
    }
}

// Last in this file: it corrupts the suite's database.
TEST_F(CoalitionctlSettle, ZCheckPassesThenCatchesACorruptedRow) {
    ASSERT_EQ(ctl({"settle", "2025-03-10"}).exit_code, 0);
    const auto good = ctl({"check"});
    EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
    // The counts say what the ok covered (the suite's members, their lots, the closed date).
    EXPECT_EQ(good.out.rfind("ok: members ", 0), 0u) << good.out;
    EXPECT_EQ(good.out.find("ok: members 0,"), std::string::npos) << good.out;
    EXPECT_NE(good.out.find(", closed runs 1\n"), std::string::npos) << good.out;
    EXPECT_EQ(good.err, "");

    {
        pqxx::connection connection(db_->conninfo());
        pqxx::work tx(connection);
        tx.exec("ALTER TABLE slices DISABLE TRIGGER slices_append_only");
        tx.exec(
            "UPDATE slices SET points = points + 1, amount_micros = (points + 1) * point_value");
        tx.exec("ALTER TABLE slices ENABLE TRIGGER slices_append_only");
        tx.commit();
    }
    const auto bad = ctl({"check"});
    EXPECT_EQ(bad.exit_code, 3);  // violations: distinct from 1, "could not check"
    EXPECT_NE(bad.out.find("burn claim"), std::string::npos) << bad.out;
    EXPECT_NE(bad.out.find("run 2025-03-10"), std::string::npos) << bad.out;
    EXPECT_EQ(bad.out.find("ok: members"), std::string::npos);
    expect_one_line_error(CommandResult{bad.exit_code, "", bad.err}, "violation");
}

}  // namespace
}  // namespace coalition
