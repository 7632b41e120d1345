// Settlement days end to end: the real server under libfaketime, so that "yesterday" and "two
// months later" are real dates to it. Claims are signed with the server's faked time; each day
// is a fresh server process on the same database (downtime in between is part of the story).
//
//  - FinanceExample: the worked example of docs/finance.md, booked on 2026-03-10 and closed on
//    2026-03-11; its run and one statement must equal tests/e2e/fixtures/finance_example_* byte
//    for byte (and the doc must show those fixtures verbatim, DocsShowTheFixturesVerbatim).
//    Then the lots expire (validity 1 month: valid through 2026-04-30) and become breakage of
//    2026-05-01. Also: a closed run cannot be changed in the database.
//  - DailyJobClosesMissedDatesOldestFirst: after downtime, the job closes every missed date.
//    (That server runs on the real clock: see FakeTimeServer for why.)
#include "settlement/run_json.hpp"
#include "settlement/statement.hpp"
#include "settlement/statement_csv.hpp"
#include "storage/sql_time.hpp"
#include "tests/support/claims_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/test_database.hpp"
#include "tests/support/tls_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <unistd.h>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace coalition::testing {
namespace {

using namespace std::chrono;

constexpr int kClientTimeoutMs = 20000;
constexpr int kDailyJobWaitS = 60;
const std::string kFakeTimeLibrary = faketime_library();
const std::string kRunFixture = "tests/e2e/fixtures/finance_example_run.json";
const std::string kStatementFixture = "tests/e2e/fixtures/finance_example_statement_grocer.json";
const std::string kStatementCsvFixture = "tests/e2e/fixtures/finance_example_statement_grocer.csv";

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// A fixture as the server writes it: same key order, compact.
std::string compact_json(const std::string& relative_path) {
    return nlohmann::ordered_json::parse(read_text(source_path(relative_path))).dump();
}

std::string without_carriage_returns(std::string text) {
    std::erase(text, '\r');
    return text;
}

nlohmann::json body_json(const HttpResult& result) {
    return nlohmann::json::parse(result.body, nullptr, /*allow_exceptions=*/false);
}

// An instant the faked server starts at, as faketime's "@YYYY-MM-DD hh:mm:ss" and as Unix time.
struct FakeStart {
    std::string faketime;
    std::int64_t unix_s;
};

FakeStart fake_start(const std::string& date, int hour) {
    const auto day = storage::parse_date(date);
    const auto instant = sys_days(day) + hours(hour);
    char clock[16];
    std::snprintf(clock, sizeof clock, " %02d:00:00", hour);
    return {"@" + date + clock, duration_cast<seconds>(instant.time_since_epoch()).count()};
}

// coalition-server whose system clock starts at `start` and runs on from there (nullopt: the
// real clock). Monotonic clocks are left alone, so that I/O deadlines keep measuring real time.
//
// libfaketime 0.9.10 shifts every TFD_TIMER_ABSTIME timerfd_settime by the fake offset, even on
// CLOCK_MONOTONIC timers (wolfcw/libfaketime#378, #431), which used to stop every Asio timer of a
// faked server; coalition_asio is now built with BOOST_ASIO_DISABLE_TIMERFD, which avoids it. The
// daily-job test still runs its closing server on the real clock: it needs no faked time.
class FakeTimeServer {
  public:
    FakeTimeServer(const TestDatabase& database, const std::optional<FakeStart>& start,
                   int settle_grace_s)
        : start_unix_s_(
              start ? start->unix_s
                    : duration_cast<seconds>(system_clock::now().time_since_epoch()).count()),
          started_(steady_clock::now()),
          faked_(start.has_value()),
          server_(database.conninfo(), environment(start, settle_grace_s)) {}

    int port() const { return server_.port(); }
    std::string log() const { return server_.log(); }
    bool faked() const { return faked_; }
    int terminate(int timeout_ms) { return server_.terminate(timeout_ms); }

    // The server's clock now, for webhook-timestamp (the server refuses more than 300 s off).
    std::int64_t now_s() const {
        return start_unix_s_ + duration_cast<seconds>(steady_clock::now() - started_).count();
    }

  private:
    static EnvOverrides environment(const std::optional<FakeStart>& start, int settle_grace_s) {
        EnvOverrides env{{"COALITION_SETTLE_GRACE_S", std::to_string(settle_grace_s)},
                         {"COALITION_LOG_LEVEL", "info"}};
        if (start) {
            env["LD_PRELOAD"] = kFakeTimeLibrary;
            env["FAKETIME"] = start->faketime;
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1";
            env["TZ"] = "UTC";  // faketime reads its start time in local time
            // Under the sanitizer build, libfaketime is preloaded ahead of the ASan runtime;
            // ASan's link-order check would refuse to start, though its interception works.
            if (const char* asan = std::getenv("ASAN_OPTIONS")) {
                env["ASAN_OPTIONS"] = std::string(asan) + ":verify_asan_link_order=0";
            }
        }
        return env;
    }

    std::int64_t start_unix_s_;
    steady_clock::time_point started_;
    bool faked_;
    ServerProcess server_;
};

class SettlementDay : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(!kFakeTimeLibrary.empty() && access(kFakeTimeLibrary.c_str(), R_OK) == 0)
            << "libfaketime is missing: apt-get install libfaketime";
        database_ = std::make_unique<TestDatabase>("settlement_day");
        setup_ = std::make_unique<ProgramSetup>(*database_);
        for (const char* id : {"airline", "fuel", "grocer"}) {
            signers_.emplace(id, PartnerSigner(id, setup_->add_partner(id, id)));
        }
        operator_token_ = setup_->create_operator_token();
        grocer_token_ = setup_->create_partner_token("grocer");
    }

    std::unique_ptr<FakeTimeServer> start_at(const std::string& date, int hour,
                                             int settle_grace_s) {
        return start(fake_start(date, hour), settle_grace_s);
    }
    std::unique_ptr<FakeTimeServer> start(const std::optional<FakeStart>& at, int settle_grace_s) {
        auto server = std::make_unique<FakeTimeServer>(*database_, at, settle_grace_s);
        wait_until_token_accepted(server->port(), operator_token_);
        client_ = std::make_unique<TlsClient>(server->port(),
                                              TlsClientOptions{.timeout_ms = kClientTimeoutMs});
        return server;
    }

    // SIGTERM. A faked server drains only while no connection is left: its drain polls on an
    // asio timer that libfaketime may have stalled, so give it a moment to see our connection
    // close, and if it still hangs, the destructor kills it (every 2xx is committed anyway).
    void stop(std::unique_ptr<FakeTimeServer>& server) {
        client_.reset();
        if (server->faked()) {
            std::this_thread::sleep_for(milliseconds(300));
            server->terminate(5000);
        } else {
            EXPECT_EQ(server->terminate(20000), 0) << server->log();
        }
        server.reset();
    }

    // Signs with the server's faked clock; must be accepted on `date`.
    nlohmann::json book(const FakeTimeServer& server, const std::string& partner,
                        const std::string& id, const std::string& body, const std::string& date) {
        const auto result =
            send_claim(*client_, signers_.at(partner).sign_at(id, body, server.now_s()));
        EXPECT_EQ(result.status, 201) << id << ": " << result.body;
        const auto json = body_json(result);
        EXPECT_EQ(json.value("settlement_date", ""), date) << id;
        return json;
    }

    HttpResult as_operator(const std::string& method, const std::string& target,
                           const std::string& accept = "") {
        std::map<std::string, std::string> headers{{"authorization", "Bearer " + operator_token_}};
        if (!accept.empty()) headers["accept"] = accept;
        return client_->request(method, target, headers);
    }
    HttpResult as_grocer(const std::string& target, const std::string& accept = "") {
        std::map<std::string, std::string> headers{{"authorization", "Bearer " + grocer_token_}};
        if (!accept.empty()) headers["accept"] = accept;
        return client_->request("GET", target, headers);
    }
    settlement::PartnerStatement statement(const std::string& date, const std::string& partner) {
        const auto result =
            as_operator("GET", "/v1/settlements/" + date + "/statements/" + partner);
        EXPECT_EQ(result.status, 200) << result.body;
        return settlement::statement_from_json_text(result.body);
    }

    std::int64_t runs_stored() const {
        return setup_->query_int("SELECT count(*) FROM settlement_runs");
    }

    std::unique_ptr<TestDatabase> database_;
    std::unique_ptr<ProgramSetup> setup_;
    std::map<std::string, PartnerSigner> signers_;
    std::string operator_token_;
    std::string grocer_token_;
    std::unique_ptr<TlsClient> client_;
};

// `closed` equals `provisional` but for its status.
template <typename T>
void expect_same_but_status(T provisional, const T& closed) {
    EXPECT_EQ(provisional.status, settlement::RunStatus::provisional);
    EXPECT_EQ(closed.status, settlement::RunStatus::closed);
    provisional.status = settlement::RunStatus::closed;
    EXPECT_EQ(provisional, closed);
}

// docs/finance.md, "A worked example". Program: point_value 10000 micro (0.01 EUR), issue_fee 100
// micro per point, validity 1 month. On 2026-03-10, in this order:
//   grocer  earn M-1001 1251   lot G1, fee 1251 × 100 = 125,100 micro
//   fuel    earn M-1001 1250   lot F1, fee 1250 × 100 = 125,000 micro
//   grocer  earn M-2002  199   lot G2, fee  199 × 100 =  19,900 micro
//   airline burn M-1001 2002   oldest first (same expiry, G1 accepted first): G1 1251, F1 751
//   grocer  burn M-2002   50   from G2: an own redemption
TEST_F(SettlementDay, FinanceExample) {
    setup_->set_program("issue_fee", "100");
    setup_->set_program("validity_months", "1");
    // The server books on 2026-03-10 under faketime, while the database stamped these changes
    // with its real clock, today: a claim is priced by the program in force when it was
    // accepted, compared on the database's clock (migration 0010), so they apply.
    const std::string day = "2026-03-10";

    // ---- 2026-03-10: the day's claims; the date is open. ----
    auto server = start_at(day, 10, 86400);
    EXPECT_EQ(book(*server, "grocer", "g-e-1001", earn_body("M-1001", 1251), day)["balance"], 1251);
    EXPECT_EQ(book(*server, "fuel", "f-e-1001", earn_body("M-1001", 1250), day)["balance"], 2501);
    EXPECT_EQ(book(*server, "grocer", "g-e-2002", earn_body("M-2002", 199), day)["balance"], 199);
    EXPECT_EQ(book(*server, "airline", "a-b-1001", burn_body("M-1001", 2002), day)["balance"], 499);
    EXPECT_EQ(book(*server, "grocer", "g-b-2002", burn_body("M-2002", 50), day)["balance"], 149);
    EXPECT_EQ(setup_->query_int("SELECT count(*) FROM lots WHERE expires_on = DATE '2026-04-30'"),
              3);

    const auto open_run = as_operator("GET", "/v1/settlements/" + day);
    ASSERT_EQ(open_run.status, 200) << open_run.body;
    const auto provisional_run = settlement::run_from_json_text(open_run.body);
    const auto provisional_grocer = statement(day, "grocer");
    const auto early_close = as_operator("POST", "/v1/settlements/" + day);
    EXPECT_EQ(early_close.status, 409);
    EXPECT_EQ(error_code_of(early_close), "date_not_ended");
    EXPECT_EQ(runs_stored(), 0);
    stop(server);

    // ---- 2026-03-11 09:00: close 2026-03-10. ----
    server = start_at("2026-03-11", 9, 86400);
    EXPECT_EQ(get_member(*client_, operator_token_, "M-1001").balance, 499);  // F1's rest
    EXPECT_EQ(get_member(*client_, operator_token_, "M-2002").balance, 149);  // G2's rest
    EXPECT_EQ(runs_stored(), 0);

    const auto closed = as_operator("POST", "/v1/settlements/" + day);
    ASSERT_EQ(closed.status, 201) << closed.body;
    // By hand (1 point = 10,000 micro = 1 cent; fees rounded once, half to even):
    //   obligations  grocer -> airline 1251 points = 1251 cents; fuel -> airline 751 = 751 cents
    //   fees         grocer 125,100 + 19,900 = 145,000 micro = 14.5 cents -> 14
    //                fuel   125,000 micro = 12.5 cents -> 12;   operator 270,000 = 27 cents -> 27
    //   nets         airline  +2002
    //                fuel     -751 - 12.5   = -763.5  -> -764   (parts give -763: difference -1)
    //                grocer   -1251 - 14.5  = -1265.5 -> -1266  (parts give -1265: difference -1)
    //   operator     rounding = -(2002 - 764 - 1266 + 27) = +1, net = 27 + 1 = 28
    //   zero sum     2002 - 764 - 1266 + 28 = 0
    //   totals       5 claims; issued 1251 + 1250 + 199 = 2700; redeemed 2002 + 50 = 2052;
    //                own redemptions 50
    EXPECT_EQ(closed.body, compact_json(kRunFixture));
    const auto run = settlement::run_from_json_text(closed.body);
    EXPECT_EQ(run.operator_line.fees, MinorUnits(27));
    EXPECT_EQ(run.operator_line.rounding, MinorUnits(1));
    EXPECT_EQ(run.operator_line.net, MinorUnits(28));
    MinorUnits sum = run.operator_line.net;
    for (const auto& participant : run.participants) sum += participant.net;
    EXPECT_EQ(sum, MinorUnits(0));
    expect_same_but_status(provisional_run, run);

    const auto again = as_operator("POST", "/v1/settlements/" + day);
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(again.body, closed.body);
    const auto read = as_operator("GET", "/v1/settlements/" + day);
    EXPECT_EQ(read.status, 200);
    EXPECT_EQ(read.body, closed.body);
    EXPECT_EQ(runs_stored(), 1);

    // The grocer's statement, read with its own token: JSON and CSV as in the doc.
    const std::string grocer_target = "/v1/settlements/" + day + "/statements/grocer";
    const auto grocer_json = as_grocer(grocer_target);
    ASSERT_EQ(grocer_json.status, 200) << grocer_json.body;
    EXPECT_EQ(grocer_json.body, compact_json(kStatementFixture));
    expect_same_but_status(provisional_grocer,
                           settlement::statement_from_json_text(grocer_json.body));
    const auto grocer_csv = as_grocer(grocer_target, "text/csv");
    ASSERT_EQ(grocer_csv.status, 200);
    EXPECT_EQ(without_carriage_returns(grocer_csv.body),
              read_text(source_path(kStatementCsvFixture)));
    EXPECT_EQ(settlement::statement_from_csv(grocer_csv.body),
              settlement::statement_from_json_text(grocer_json.body));

    // The other two statements, by hand.
    const auto fuel = statement(day, "fuel");
    EXPECT_EQ(fuel.paid, MinorUnits(751));
    EXPECT_EQ(fuel.fees, MinorUnits(12));
    EXPECT_EQ(fuel.rounding_difference, MinorUnits(-1));
    EXPECT_EQ(fuel.net, MinorUnits(-764));
    EXPECT_EQ(fuel.points_issued, Points(1250));
    EXPECT_EQ(fuel.points_outstanding, Points(499));
    EXPECT_EQ(fuel.instruction, (settlement::Instruction{"fuel", "operator", MinorUnits(764)}));
    const auto airline = statement(day, "airline");
    EXPECT_EQ(airline.received, MinorUnits(2002));
    EXPECT_EQ(airline.net, MinorUnits(2002));
    EXPECT_EQ(airline.rounding_difference, MinorUnits(0));
    EXPECT_EQ(airline.obligations.size(), 2u);
    EXPECT_EQ(airline.points_issued, Points(0));
    EXPECT_EQ(airline.instruction,
              (settlement::Instruction{"operator", "airline", MinorUnits(2002)}));

    // A closed run cannot be changed, not even by SQL that goes around the server.
    for (const std::string sql :
         {"UPDATE settlement_runs SET currency = 'USD'", "DELETE FROM settlement_runs",
          "UPDATE settlement_statements SET net_minor = 0", "DELETE FROM settlement_statements",
          "TRUNCATE settlement_statements", "TRUNCATE settlement_runs, settlement_statements"}) {
        pqxx::connection connection(database_->conninfo());
        pqxx::work tx(connection);
        try {
            tx.exec(sql);
            ADD_FAILURE() << "allowed: " << sql;
        } catch (const pqxx::sql_error& e) {
            EXPECT_EQ(e.sqlstate(), "23001") << sql << ": " << e.what();
        }
    }
    EXPECT_EQ(as_operator("GET", "/v1/settlements/" + day).body, closed.body);
    EXPECT_EQ(as_grocer(grocer_target).body, grocer_json.body);
    // Nor can anything be booked into it (the guard trigger; the server never tries, as its
    // clock is past the date).
    {
        pqxx::connection connection(database_->conninfo());
        pqxx::work tx(connection);
        EXPECT_THROW(tx.exec("INSERT INTO lot_expiries (lot_id, claim_id, issuer_id, points, "
                             "settlement_date) SELECT id, NULL, issuer_id, 1, DATE '2026-03-10' "
                             "FROM lots LIMIT 1"),
                     pqxx::sql_error);
    }
    stop(server);

    // ---- 2026-05-01 09:00: G1..F1 are past expires_on 2026-04-30; nothing closed 05-01 yet. ----
    server = start_at("2026-05-01", 9, 86400);
    for (const char* member : {"M-1001", "M-2002"}) {
        const auto view = get_member(*client_, operator_token_, member);
        ASSERT_EQ(view.status, 200);
        EXPECT_EQ(view.balance, 0) << view.json.dump();
        EXPECT_EQ(view.json["lots"], nlohmann::json::array()) << view.json.dump();
    }
    const auto breakage_open = as_operator("GET", "/v1/settlements/2026-05-01");
    ASSERT_EQ(breakage_open.status, 200);
    const auto provisional_breakage = settlement::run_from_json_text(breakage_open.body);
    EXPECT_EQ(provisional_breakage.totals.points_expired, Points(149 + 499));
    stop(server);

    // ---- 2026-05-02 09:00: close 2026-05-01, the breakage date. ----
    server = start_at("2026-05-02", 9, 86400);
    const auto breakage = as_operator("POST", "/v1/settlements/2026-05-01");
    ASSERT_EQ(breakage.status, 201) << breakage.body;
    const auto breakage_run = settlement::run_from_json_text(breakage.body);
    expect_same_but_status(provisional_breakage, breakage_run);
    // Unspent: G2's 149 (grocer) and F1's 499 (fuel). Breakage moves no money.
    EXPECT_EQ(breakage_run.totals.points_expired, Points(648));
    EXPECT_EQ(breakage_run.totals.claims, 0);
    EXPECT_TRUE(breakage_run.obligations.empty());
    EXPECT_TRUE(breakage_run.instructions.empty());
    ASSERT_EQ(breakage_run.participants.size(), 2u);
    for (const auto& participant : breakage_run.participants) {
        EXPECT_EQ(participant.net, MinorUnits(0)) << participant.partner_id;
    }
    const auto grocer_breakage = statement("2026-05-01", "grocer");
    EXPECT_EQ(grocer_breakage.points_expired, Points(149));
    EXPECT_EQ(grocer_breakage.points_outstanding, Points(0));
    EXPECT_FALSE(grocer_breakage.instruction.has_value());
    const auto fuel_breakage = statement("2026-05-01", "fuel");
    EXPECT_EQ(fuel_breakage.points_expired, Points(499));
    EXPECT_EQ(fuel_breakage.points_outstanding, Points(0));
    EXPECT_EQ(setup_->query_int("SELECT sum(points)::bigint FROM lot_expiries "
                                "WHERE settlement_date = DATE '2026-05-01'"),
              648);
    EXPECT_EQ(get_member(*client_, operator_token_, "M-1001").balance, 0);
    // 2026-03-10 is still exactly what it was.
    EXPECT_EQ(as_operator("GET", "/v1/settlements/" + day).body, closed.body);
    stop(server);
}

// The doc cannot drift from what the server produces: its code blocks are the fixtures.
TEST(FinanceDoc, DocsShowTheFixturesVerbatim) {
    const std::string doc = read_text(source_path("docs/finance.md"));
    for (const auto& [file, language] : std::vector<std::pair<std::string, std::string>>{
             {kRunFixture, "json"}, {kStatementFixture, "json"}, {kStatementCsvFixture, "csv"}}) {
        SCOPED_TRACE(file);
        const std::string marker = "<!-- example: " + file + " -->\n```" + language + "\n";
        const auto start = doc.find(marker);
        ASSERT_NE(start, std::string::npos) << "docs/finance.md lacks: " << marker;
        EXPECT_EQ(doc.find(marker, start + 1), std::string::npos) << "twice: " << marker;
        const auto content = start + marker.size();
        const auto end = doc.find("\n```\n", content);
        ASSERT_NE(end, std::string::npos);
        EXPECT_EQ(doc.substr(content, end + 1 - content), read_text(source_path(file)));
    }
}

// Claims three and two days ago (each day's server under faketime, stopped at the end of that
// day), then the server comes back today with no grace: by itself it closes the two dates and
// the empty one after them, oldest first. Today's server runs on the real clock, because the
// daily job cannot tick under libfaketime (see FakeTimeServer).
TEST_F(SettlementDay, DailyJobClosesMissedDatesOldestFirst) {
    const auto today = sys_days(floor<days>(system_clock::now()));
    const auto date_of = [&](int days_ago) {
        return storage::date_literal(year_month_day{today - days(days_ago)});
    };
    const std::vector<std::string> due = {date_of(3), date_of(2), date_of(1)};

    auto server = start_at(due[0], 10, 86400);
    book(*server, "grocer", "g-e-7", earn_body("M-7", 1000), due[0]);
    book(*server, "airline", "a-b-7", burn_body("M-7", 300), due[0]);
    const auto first_open = as_operator("GET", "/v1/settlements/" + due[0]);
    ASSERT_EQ(first_open.status, 200);
    stop(server);

    server = start_at(due[1], 10, 86400);
    book(*server, "fuel", "f-e-8", earn_body("M-8", 500), due[1]);
    book(*server, "grocer", "g-b-8", burn_body("M-8", 200), due[1]);
    const auto second_open = as_operator("GET", "/v1/settlements/" + due[1]);
    ASSERT_EQ(second_open.status, 200);
    stop(server);
    EXPECT_EQ(runs_stored(), 0);

    server = start(std::nullopt, 0);
    const auto deadline = steady_clock::now() + seconds(kDailyJobWaitS);
    bool all_closed = false;
    while (!all_closed && steady_clock::now() < deadline) {
        all_closed = true;
        for (const auto& date : due) {
            const auto result = as_operator("GET", "/v1/settlements/" + date);
            ASSERT_EQ(result.status, 200) << result.body;
            all_closed = all_closed && body_json(result)["status"] == "closed";
        }
        if (!all_closed) std::this_thread::sleep_for(milliseconds(200));
    }
    ASSERT_TRUE(all_closed) << "not closed within " << kDailyJobWaitS << " s:\n" << server->log();

    // Oldest first: ordering by closed_at, ties broken newest date first, must give date order.
    {
        pqxx::connection connection(database_->conninfo());
        pqxx::nontransaction tx(connection);
        std::vector<std::string> by_closed_at;
        for (const auto& row : tx.exec("SELECT settlement_date::text FROM settlement_runs "
                                       "ORDER BY closed_at, settlement_date DESC")) {
            by_closed_at.push_back(row[0].as<std::string>());
        }
        EXPECT_EQ(by_closed_at, due);
    }
    // Today is open.
    EXPECT_EQ(body_json(as_operator("GET", "/v1/settlements/" + date_of(0)))["status"],
              "provisional");

    // What closed is what was provisional the day it happened.
    expect_same_but_status(
        settlement::run_from_json_text(first_open.body),
        settlement::run_from_json_text(as_operator("GET", "/v1/settlements/" + due[0]).body));
    expect_same_but_status(
        settlement::run_from_json_text(second_open.body),
        settlement::run_from_json_text(as_operator("GET", "/v1/settlements/" + due[1]).body));

    // The log names every date it closed, in order.
    std::vector<std::string> logged;
    std::istringstream lines(server->log());
    for (std::string line; std::getline(lines, line);) {
        const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (json.is_object() && json.value("msg", "") == "settlement date closed") {
            logged.push_back(json.value("date", ""));
        }
    }
    EXPECT_EQ(logged, due) << server->log();
    stop(server);
}

// A server whose database lacks a migration it was built with closes no date (found by review:
// its daily job closed yesterday, for ever, on the older schema). Here the schema is made to
// look one migration behind by taking away the newest migration's record, which is all the
// server reads of it.
TEST_F(SettlementDay, DailyJobClosesNothingWhileTheSchemaLacksAMigration) {
    const auto yesterday =
        storage::date_literal(year_month_day{sys_days(floor<days>(system_clock::now())) - days(1)});
    auto server = start_at(yesterday, 10, 86400);
    book(*server, "grocer", "g-e-behind", earn_body("M-behind", 100), yesterday);
    stop(server);
    std::string newest;
    {
        pqxx::connection connection(database_->conninfo());
        pqxx::work tx(connection);
        newest = tx.exec1(
                       "DELETE FROM schema_migrations WHERE name = "
                       "(SELECT max(name) FROM schema_migrations) RETURNING name")[0]
                     .as<std::string>();
        tx.commit();
    }
    server = start(std::nullopt, 0);
    // The job's first check runs at the start; the schema's state is logged by then.
    std::this_thread::sleep_for(milliseconds(2000));
    EXPECT_EQ(runs_stored(), 0) << server->log();
    EXPECT_THAT(server->log(), ::testing::HasSubstr(newest));
    stop(server);
}

// A date that cannot close (here a trigger refuses its run, as broken figures would fail its
// close) is logged and tried again on every check, and the dates after it are closed meanwhile:
// no close depends on an earlier date's. The job used to stop at the first failure, so one bad
// date kept every later date open, and every partner unpaid, until someone intervened.
TEST_F(SettlementDay, DailyJobClosesTheDatesAfterOneThatCannotClose) {
    const auto today = sys_days(floor<days>(system_clock::now()));
    const auto date_of = [&](int days_ago) {
        return storage::date_literal(year_month_day{today - days(days_ago)});
    };
    const std::vector<std::string> due = {date_of(3), date_of(2), date_of(1)};
    auto server = start_at(due[0], 10, 86400);
    book(*server, "grocer", "g-e-9", earn_body("M-9", 1000), due[0]);
    stop(server);
    {
        pqxx::connection connection(database_->conninfo());
        pqxx::work tx(connection);
        tx.exec(
            "CREATE FUNCTION test_refuse_run() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'test: this date cannot close'; END $$");
        tx.exec(
            "CREATE TRIGGER test_refuse_run BEFORE INSERT ON settlement_runs FOR EACH ROW "
            "WHEN (NEW.settlement_date = '" +
            due[0] + "') EXECUTE FUNCTION test_refuse_run()");
        tx.commit();
    }

    server = start(std::nullopt, 0);
    const auto deadline = steady_clock::now() + seconds(kDailyJobWaitS);
    const auto status_of = [&](const std::string& date) {
        const auto result = as_operator("GET", "/v1/settlements/" + date);
        EXPECT_EQ(result.status, 200) << result.body;
        return body_json(result).value("status", "");
    };
    while ((status_of(due[1]) != "closed" || status_of(due[2]) != "closed") &&
           steady_clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(200));
    }
    EXPECT_EQ(status_of(due[1]), "closed") << server->log();
    EXPECT_EQ(status_of(due[2]), "closed") << server->log();
    EXPECT_EQ(status_of(due[0]), "provisional");
    EXPECT_THAT(server->log(),
                ::testing::HasSubstr("settlement date not closed; later dates go on"));
    EXPECT_THAT(server->log(), ::testing::HasSubstr("\"date\":\"" + due[0] + "\""));
    stop(server);
}

}  // namespace
}  // namespace coalition::testing
