// The settlement endpoints of the real server over TLS, on a fresh database per test: who may
// read or close what (every token kind against every endpoint), a provisional run of today that
// cannot be closed yet, and a statement's CSV that parses back to its JSON.
// The day-by-day story under faketime (closing, expiry, the daily job) is settlement_day_test.
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

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coalition::testing {
namespace {

constexpr int kClientTimeoutMs = 20000;

// A past date with no activity: closing it is allowed, so the operator's POST can succeed.
const std::string kPastDate = "2026-01-15";

std::string today_utc() {  // the program time zone is UTC (the default)
    return storage::date_literal(std::chrono::year_month_day{
        std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())});
}

nlohmann::json body_json(const HttpResult& result) {
    return nlohmann::json::parse(result.body, nullptr, /*allow_exceptions=*/false);
}

std::string error_field_of(const HttpResult& result) {
    const auto json = body_json(result);
    if (!json.is_object() || !json.contains("error")) return "";
    return json["error"].value("field", "");
}

std::string header_of(const HttpResult& result, const std::string& name) {
    const auto found = result.headers.find(name);
    return found == result.headers.end() ? "" : found->second;
}

// The Authorization header a token kind sends; nullopt sends none.
struct Caller {
    std::string name;
    std::optional<std::string> authorization;
};

struct Endpoint {
    std::string name;
    std::string method;
    std::string target;
};

class SettlementApi : public ::testing::Test {
  protected:
    void SetUp() override {
        database_ = std::make_unique<TestDatabase>("settlement_api");
        setup_ = std::make_unique<ProgramSetup>(*database_);
        grocer_ =
            std::make_unique<PartnerSigner>("grocer", setup_->add_partner("grocer", "Grocer"));
        fuel_ = std::make_unique<PartnerSigner>("fuel", setup_->add_partner("fuel", "Fuel"));
        operator_token_ = setup_->create_operator_token();
        grocer_token_ = setup_->create_partner_token("grocer");
        fuel_token_ = setup_->create_partner_token("fuel");
        ASSERT_THAT(grocer_token_, ::testing::StartsWith("coal_"));
        ASSERT_THAT(fuel_token_, ::testing::StartsWith("coal_"));
        server_ = std::make_unique<ServerProcess>(database_->conninfo(),
                                                  EnvOverrides{{"COALITION_LOG_LEVEL", "warn"}});
        for (const auto& token : {operator_token_, grocer_token_, fuel_token_}) {
            wait_until_token_accepted(server_->port(), token);
        }
        client_ = std::make_unique<TlsClient>(server_->port(),
                                              TlsClientOptions{.timeout_ms = kClientTimeoutMs});
    }

    void TearDown() override {
        client_.reset();
        if (server_) {
            EXPECT_EQ(server_->terminate(), 0) << server_->log();
        }
    }

    HttpResult book(const PartnerSigner& partner, const std::string& id, const std::string& body) {
        auto result = partner.post(*client_, id, body);
        EXPECT_EQ(result.status, 201) << id << ": " << result.body;
        return result;
    }

    // Today: two earns at different partners, a cross redemption, an own redemption.
    //   M-1 earns 1000 at grocer; M-2 earns 500 at fuel;
    //   M-1 burns 400 at fuel   -> grocer owes fuel 400 points = 400 × 0.01 EUR = 400 cents;
    //   M-2 burns 100 at fuel   -> own redemption of fuel, nothing owed.
    void book_today() {
        book(*grocer_, "g-earn-1", earn_body("M-1", 1000));
        book(*fuel_, "f-earn-1", earn_body("M-2", 500));
        book(*fuel_, "f-burn-cross", burn_body("M-1", 400));
        book(*fuel_, "f-burn-own", burn_body("M-2", 100));
    }

    HttpResult call(const std::string& method, const std::string& target,
                    const std::optional<std::string>& authorization,
                    const std::string& accept = "") {
        std::map<std::string, std::string> headers;
        if (authorization) headers["authorization"] = *authorization;
        if (!accept.empty()) headers["accept"] = accept;
        return client_->request(method, target, headers);
    }
    HttpResult as_operator(const std::string& method, const std::string& target,
                           const std::string& accept = "") {
        return call(method, target, "Bearer " + operator_token_, accept);
    }

    std::int64_t runs_stored() const {
        return setup_->query_int("SELECT count(*) FROM settlement_runs");
    }

    std::unique_ptr<TestDatabase> database_;
    std::unique_ptr<ProgramSetup> setup_;
    std::unique_ptr<PartnerSigner> grocer_;
    std::unique_ptr<PartnerSigner> fuel_;
    std::string operator_token_;
    std::string grocer_token_;
    std::string fuel_token_;
    std::unique_ptr<ServerProcess> server_;
    std::unique_ptr<TlsClient> client_;
};

// Contract §3: no or a bad token -> 401; a partner token on an operator action -> 403, on another
// partner's statement -> 404 exactly as for a partner that does not exist; own statement and
// member look-ups -> 200; the operator may do everything.
TEST_F(SettlementApi, EveryTokenAgainstEveryEndpoint) {
    book_today();
    const std::string today = today_utc();
    // The operator closes the empty past date once, so that its POST cell below is the replay.
    ASSERT_EQ(as_operator("POST", "/v1/settlements/" + kPastDate).status, 201);
    ASSERT_EQ(runs_stored(), 1);

    const std::vector<Caller> callers = {
        {"none", std::nullopt},
        {"malformed", "Bearer not-a-token"},
        {"unknown", "Bearer coal_" + std::string(64, 'a')},
        {"operator", "Bearer " + operator_token_},
        {"grocer", "Bearer " + grocer_token_},
        {"fuel", "Bearer " + fuel_token_},
    };
    const std::vector<Endpoint> endpoints = {
        {"get_run", "GET", "/v1/settlements/" + today},
        {"close", "POST", "/v1/settlements/" + kPastDate},
        {"grocer_statement", "GET", "/v1/settlements/" + today + "/statements/grocer"},
        {"fuel_statement", "GET", "/v1/settlements/" + today + "/statements/fuel"},
        {"member", "GET", "/v1/members/M-1"},
    };
    struct Expected {
        int status;
        std::string code;  // "" for a success
    };
    const Expected ok{200, ""};
    const Expected unauthorized{401, "unauthorized"};
    const Expected forbidden{403, "forbidden"};
    const Expected not_found{404, "not_found"};
    // expected[caller][endpoint], in the order of the two lists above.
    const std::map<std::string, std::vector<Expected>> expected = {
        {"none", {unauthorized, unauthorized, unauthorized, unauthorized, unauthorized}},
        {"malformed", {unauthorized, unauthorized, unauthorized, unauthorized, unauthorized}},
        {"unknown", {unauthorized, unauthorized, unauthorized, unauthorized, unauthorized}},
        {"operator", {ok, ok, ok, ok, ok}},
        {"grocer", {forbidden, forbidden, ok, not_found, ok}},
        {"fuel", {forbidden, forbidden, not_found, ok, ok}},
    };

    for (const auto& caller : callers) {
        for (std::size_t e = 0; e < endpoints.size(); ++e) {
            const auto& endpoint = endpoints[e];
            const auto& want = expected.at(caller.name)[e];
            const auto result = call(endpoint.method, endpoint.target, caller.authorization);
            SCOPED_TRACE(caller.name + " × " + endpoint.name + ": " + result.body);
            EXPECT_EQ(result.status, want.status);
            EXPECT_EQ(error_code_of(result), want.code);
            EXPECT_THAT(header_of(result, "content-type"),
                        ::testing::StartsWith("application/json"));
            if (want.status == 200) {
                const auto json = body_json(result);
                ASSERT_TRUE(json.is_object());
                if (endpoint.name == "grocer_statement") {
                    EXPECT_EQ(json["partner_id"], "grocer");
                }
                if (endpoint.name == "fuel_statement") {
                    EXPECT_EQ(json["partner_id"], "fuel");
                }
                if (endpoint.name == "get_run") {
                    EXPECT_EQ(json["status"], "provisional");
                }
                if (endpoint.name == "close") {
                    EXPECT_EQ(json["status"], "closed");
                }
                if (endpoint.name == "member") {
                    EXPECT_EQ(json["balance"], 600);
                }
            }
        }
    }
    // Refused closes stored nothing; the operator's second close was the replay of the first.
    EXPECT_EQ(runs_stored(), 1);

    // Another partner's statement is indistinguishable from one of a partner that does not exist,
    // for the same caller: same status, same body.
    const std::string base = "/v1/settlements/" + today + "/statements/";
    const auto grocer_asks_fuel = call("GET", base + "fuel", "Bearer " + grocer_token_);
    const auto grocer_asks_nobody = call("GET", base + "nobody", "Bearer " + grocer_token_);
    const auto operator_asks_nobody = as_operator("GET", base + "nobody");
    EXPECT_EQ(grocer_asks_fuel.status, 404);
    EXPECT_EQ(grocer_asks_nobody.status, 404);
    EXPECT_EQ(grocer_asks_fuel.body, grocer_asks_nobody.body);
    EXPECT_EQ(grocer_asks_fuel.body, operator_asks_nobody.body);
    EXPECT_EQ(call("GET", base + "grocer", "Bearer " + fuel_token_).body, grocer_asks_nobody.body);
    // No partner has an id outside the id rule, bytes that are not UTF-8 included: not found,
    // on an open date (read from the ledger) as on a closed one.
    for (const char* id : {"%FF", "no%20such", "%C3"}) {
        const auto odd = as_operator("GET", base + id);
        EXPECT_EQ(odd.status, 404) << id << " " << odd.body;
        EXPECT_EQ(odd.body, operator_asks_nobody.body) << id;
    }
    // A partner's own statement of a date it has no line on is one of zeros, not a 404 that
    // would also mean "no such partner": of a closed date and of an open one, JSON and CSV.
    const auto quiet = call("GET", "/v1/settlements/" + kPastDate + "/statements/grocer",
                            "Bearer " + grocer_token_);
    ASSERT_EQ(quiet.status, 200) << quiet.body;
    const auto zeros = body_json(quiet);
    EXPECT_EQ(zeros["status"], "closed");
    EXPECT_EQ(zeros["partner_id"], "grocer");
    EXPECT_EQ(zeros["net"]["net_minor"], 0);
    EXPECT_EQ(zeros["points_outstanding"], 0);
    EXPECT_TRUE(zeros["obligations"].empty());
    EXPECT_TRUE(zeros["instruction"].is_null());
    const auto open_date = "/v1/settlements/2026-01-16/statements/fuel";  // never closed
    const auto quiet_open = call("GET", open_date, "Bearer " + fuel_token_);
    ASSERT_EQ(quiet_open.status, 200) << quiet_open.body;
    EXPECT_EQ(body_json(quiet_open)["status"], "provisional");
    EXPECT_EQ(body_json(quiet_open)["net"]["net_minor"], 0);
    const auto quiet_csv = call("GET", open_date, "Bearer " + fuel_token_, "text/csv");
    EXPECT_EQ(quiet_csv.status, 200);
    EXPECT_THAT(header_of(quiet_csv, "content-type"), ::testing::StartsWith("text/csv"));
}

TEST_F(SettlementApi, MalformedDatesAreInvalidFieldDateOnceAuthorised) {
    // Year 0 and a signed year pass std::chrono but not PostgreSQL: a 500 until they were
    // refused up front.
    const std::vector<std::string> bad_dates = {"2026-02-30", "2026-3-10",  "20260310",
                                                "today",      "2026-13-01", "0000-01-01",
                                                "-001-01-01", "+026-01-01"};
    for (const auto& date : bad_dates) {
        const std::vector<std::pair<std::string, std::string>> run_endpoints = {
            {"GET", "/v1/settlements/" + date}, {"POST", "/v1/settlements/" + date}};
        const std::string statement = "/v1/settlements/" + date + "/statements/grocer";
        // Authentication and role come first: the path's content never changes those answers.
        for (const auto& [method, target] : run_endpoints) {
            EXPECT_EQ(call(method, target, std::nullopt).status, 401) << method << " " << target;
            const auto partner = call(method, target, "Bearer " + grocer_token_);
            EXPECT_EQ(partner.status, 403) << method << " " << target;
            EXPECT_EQ(error_code_of(partner), "forbidden");
        }
        EXPECT_EQ(call("GET", statement, std::nullopt).status, 401);
        // Authorised callers are told which field is wrong.
        std::vector<std::tuple<std::string, std::string, std::string>> authorised = {
            {"GET", statement, grocer_token_}, {"GET", statement, operator_token_}};
        for (const auto& [method, target] : run_endpoints) {
            authorised.emplace_back(method, target, operator_token_);
        }
        for (const auto& [method, target, token] : authorised) {
            const auto result = call(method, target, "Bearer " + token);
            SCOPED_TRACE(method + " " + target + ": " + result.body);
            EXPECT_EQ(result.status, 400);
            EXPECT_EQ(error_code_of(result), "invalid_field");
            EXPECT_EQ(error_field_of(result), "date");
        }
    }
    EXPECT_EQ(runs_stored(), 0);
}

TEST_F(SettlementApi, TodayIsProvisionalAndCannotBeClosed) {
    book_today();
    const std::string today = today_utc();
    const auto result = as_operator("GET", "/v1/settlements/" + today);
    ASSERT_EQ(result.status, 200) << result.body;
    const auto run = settlement::run_from_json_text(result.body);
    EXPECT_EQ(run.status, settlement::RunStatus::provisional);
    EXPECT_EQ(run.date, today);
    EXPECT_EQ(run.currency, "EUR");
    EXPECT_EQ(run.point_value, Micros(10'000));

    // By hand: grocer owes fuel 400 points × 10,000 micro = 4,000,000 micro = 400 cents; no fees.
    using settlement::Instruction;
    using settlement::Obligation;
    using settlement::Participant;
    EXPECT_EQ(run.participants,
              (std::vector<Participant>{
                  {"fuel", MinorUnits(400), MinorUnits(0), MinorUnits(0), MinorUnits(400)},
                  {"grocer", MinorUnits(0), MinorUnits(400), MinorUnits(0), MinorUnits(-400)}}));
    EXPECT_EQ(run.operator_line,
              (settlement::OperatorLine{MinorUnits(0), MinorUnits(0), MinorUnits(0)}));
    EXPECT_EQ(run.obligations,
              (std::vector<Obligation>{{"grocer", "fuel", Points(400), MinorUnits(400)}}));
    EXPECT_EQ(run.instructions, (std::vector<Instruction>{
                                    {"operator", "fuel", MinorUnits(400)},
                                    {"grocer", "operator", MinorUnits(400)}}));  // by partner id
    EXPECT_EQ(run.totals.claims, 4);
    EXPECT_EQ(run.totals.points_issued, Points(1500));
    EXPECT_EQ(run.totals.points_redeemed, Points(500));
    EXPECT_EQ(run.totals.own_redemptions, Points(100));
    EXPECT_EQ(run.totals.points_expired, Points(0));

    const auto close = as_operator("POST", "/v1/settlements/" + today);
    EXPECT_EQ(close.status, 409) << close.body;
    EXPECT_EQ(error_code_of(close), "date_not_ended");
    EXPECT_EQ(runs_stored(), 0);
    EXPECT_EQ(setup_->query_int("SELECT count(*) FROM settlement_statements"), 0);
    EXPECT_EQ(setup_->query_int("SELECT count(*) FROM lot_expiries"), 0);

    // Still provisional, still the same figures; and a claim booked now still lands in today.
    const auto again = as_operator("GET", "/v1/settlements/" + today);
    EXPECT_EQ(again.body, result.body);
    book(*grocer_, "g-earn-2", earn_body("M-3", 7));
    const auto later =
        settlement::run_from_json_text(as_operator("GET", "/v1/settlements/" + today).body);
    EXPECT_EQ(later.status, settlement::RunStatus::provisional);
    EXPECT_EQ(later.totals.claims, 5);
    EXPECT_EQ(later.totals.points_issued, Points(1507));

    const auto statement = settlement::statement_from_json_text(
        call("GET", "/v1/settlements/" + today + "/statements/fuel", "Bearer " + fuel_token_).body);
    EXPECT_EQ(statement.status, settlement::RunStatus::provisional);
    EXPECT_EQ(statement.own_redemptions, Points(100));
    EXPECT_EQ(statement.points_issued, Points(500));
    EXPECT_EQ(statement.points_outstanding, Points(400));  // M-2's 500 - 100
}

TEST_F(SettlementApi, CsvStatementParsesBackToTheJsonOne) {
    book_today();
    const std::string base = "/v1/settlements/" + today_utc() + "/statements/";
    const std::vector<std::pair<std::string, std::string>> readers = {{"grocer", operator_token_},
                                                                      {"fuel", operator_token_},
                                                                      {"grocer", grocer_token_},
                                                                      {"fuel", fuel_token_}};
    for (const auto& [partner, token] : readers) {
        SCOPED_TRACE(partner);
        const auto json = call("GET", base + partner, "Bearer " + token);
        ASSERT_EQ(json.status, 200) << json.body;
        EXPECT_THAT(header_of(json, "content-type"), ::testing::StartsWith("application/json"));
        const auto csv = call("GET", base + partner, "Bearer " + token, "text/csv");
        ASSERT_EQ(csv.status, 200) << csv.body;
        EXPECT_THAT(header_of(csv, "content-type"), ::testing::StartsWith("text/csv"));
        // One URL, two forms: a cache must key them by Accept.
        EXPECT_EQ(header_of(json, "vary"), "Accept");
        EXPECT_EQ(header_of(csv, "vary"), "Accept");

        // One header row, CRLF line ends, then one row per line of the statement.
        const std::string header = std::string(settlement::kStatementCsvHeader) + "\r\n";
        ASSERT_EQ(csv.body.substr(0, header.size()), header);
        ASSERT_GE(csv.body.size(), 2u);
        EXPECT_EQ(csv.body.substr(csv.body.size() - 2), "\r\n");
        std::size_t rows = 0;
        for (std::size_t at = 0; (at = csv.body.find("\r\n", at)) != std::string::npos; at += 2) {
            ++rows;
        }
        const auto from_json = settlement::statement_from_json_text(json.body);
        // header + received, paid, fees, rounding_difference, net, own_redemptions,
        // points_issued, points_expired, points_outstanding + obligations + instruction
        EXPECT_EQ(rows, 1 + 9 + from_json.obligations.size() + (from_json.instruction ? 1 : 0));
        EXPECT_EQ(settlement::statement_from_csv(csv.body), from_json);
        EXPECT_EQ(settlement::statement_to_json_text(settlement::statement_from_csv(csv.body)),
                  json.body);
    }
    // Accept with parameters and several types still picks CSV.
    const auto listed = call("GET", base + "fuel", "Bearer " + fuel_token_,
                             "application/json;q=0.5, text/csv; charset=utf-8");
    EXPECT_THAT(header_of(listed, "content-type"), ::testing::StartsWith("text/csv"));
    // ...and a client that refuses CSV (q=0) or ranks it below JSON gets JSON.
    for (const char* accept :
         {"text/csv;q=0, application/json", "application/json, text/csv;q=0.1"}) {
        const auto refused = call("GET", base + "fuel", "Bearer " + fuel_token_, accept);
        EXPECT_EQ(refused.status, 200) << accept;
        EXPECT_THAT(header_of(refused, "content-type"), ::testing::StartsWith("application/json"))
            << accept;
    }
}

}  // namespace
}  // namespace coalition::testing
