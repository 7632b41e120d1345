// The run's JSON (contract §3), the statement's JSON and CSV, and the invariant check that
// guards a run before it is stored and after it is read.
#include <gtest/gtest.h>

#include <string>

#include "settlement/invariants.hpp"
#include "settlement/netting.hpp"
#include "settlement/run_json.hpp"
#include "settlement/statement.hpp"
#include "settlement/statement_csv.hpp"

namespace coalition::settlement {
namespace {

// grocer's points spent at fuel (150,000 points at 1 cent = 1500 cents) and 20 at grocer
// itself; grocer issued 1000 points at 100 micro-units of fee each (10 cents).
SettlementRun sample_run() {
    SettlementInput input;
    input.date = "2026-11-21";
    input.status = RunStatus::closed;
    input.currency = "EUR";
    input.point_value = Micros(10'000);
    input.claims = 3;
    input.slices = {{"grocer", "fuel", SliceKind::burn, Points(150'000), Micros(1'500'000'000)},
                    {"grocer", "grocer", SliceKind::burn, Points(20), Micros(200'000)}};
    input.fees = {{"grocer", Micros(100'000)}};
    input.points_issued = {{"grocer", Points(1000)}};
    input.points_expired = {{"fuel", Points(5)}};
    input.points_outstanding = {{"grocer", Points(9000)}, {"fuel", Points(12)}};
    return compute_settlement_run(input);
}

TEST(RunJson, HasExactlyTheContractShape) {
    const std::string expected =
        R"({"date":"2026-11-21","status":"closed","currency":"EUR","point_value":10000,)"
        R"("participants":[)"
        R"({"partner_id":"fuel","received_minor":150000,"paid_minor":0,"fees_minor":0,)"
        R"("net_minor":150000},)"
        R"({"partner_id":"grocer","received_minor":0,"paid_minor":150000,"fees_minor":10,)"
        R"("net_minor":-150010}],)"
        R"("operator":{"fees_minor":10,"rounding_minor":0,"net_minor":10},)"
        R"("obligations":[{"from":"grocer","to":"fuel","points":150000,"amount_minor":150000}],)"
        R"("instructions":[{"from":"operator","to":"fuel","amount_minor":150000},)"
        R"({"from":"grocer","to":"operator","amount_minor":150010}],)"
        R"("totals":{"claims":3,"points_issued":1000,"points_redeemed":150020,)"
        R"("own_redemptions":20,"points_expired":5}})";
    EXPECT_EQ(run_to_json_text(sample_run()), expected);
}

TEST(RunJson, ParsesBackWhatItWrites) {
    const auto run = sample_run();
    auto parsed = run_from_json_text(run_to_json_text(run));
    EXPECT_TRUE(parsed.information.empty());
    EXPECT_EQ(check_run_invariants(parsed), std::nullopt);
    parsed.information = run.information;
    EXPECT_EQ(parsed, run);
}

TEST(RunJson, ParsesJsonbKeyOrder) {
    // PostgreSQL jsonb hands keys back in its own order; only the values matter.
    auto document = nlohmann::json::parse(run_to_json_text(sample_run()));
    const auto reordered = nlohmann::json::parse(document.dump());  // std::map: sorted keys
    EXPECT_EQ(run_to_json_text(run_from_json(reordered)), run_to_json_text(sample_run()));
}

TEST(RunJson, RefusesWhatIsNotARun) {
    const auto text = run_to_json_text(sample_run());
    const auto refused = [&](auto change) {
        auto document = nlohmann::json::parse(text);
        change(document);
        EXPECT_THROW(run_from_json(document), RunFormatError) << document.dump();
    };
    refused([](nlohmann::json& d) { d.erase("totals"); });
    refused([](nlohmann::json& d) { d["extra"] = 1; });
    refused([](nlohmann::json& d) { d["status"] = "open"; });
    refused([](nlohmann::json& d) { d["point_value"] = 100.5; });
    refused([](nlohmann::json& d) { d["point_value"] = "10000"; });
    refused([](nlohmann::json& d) { d["participants"][0]["net_minor"] = 18446744073709551615ULL; });
    refused([](nlohmann::json& d) { d["participants"][0].erase("fees_minor"); });
    refused([](nlohmann::json& d) { d["operator"]["surplus"] = 0; });
    refused([](nlohmann::json& d) { d["obligations"] = nlohmann::json::object(); });
    refused([](nlohmann::json& d) { d["instructions"][0] = 5; });
    EXPECT_THROW(run_from_json_text("{not json"), RunFormatError);
}

TEST(RunInvariants, CatchATamperedRun) {
    const auto run = sample_run();
    ASSERT_EQ(check_run_invariants(run), std::nullopt);
    const auto broken = [&](auto change) {
        auto copy = run;
        change(copy);
        return check_run_invariants(copy).has_value();
    };
    EXPECT_TRUE(broken([](SettlementRun& r) { r.participants[0].net += MinorUnits(1); }));
    EXPECT_TRUE(broken([](SettlementRun& r) { r.operator_line.rounding += MinorUnits(1); }));
    EXPECT_TRUE(broken([](SettlementRun& r) {
        r.operator_line.rounding += MinorUnits(5);
        r.operator_line.net += MinorUnits(5);
    }));
    EXPECT_TRUE(broken([](SettlementRun& r) { r.instructions[0].amount += MinorUnits(1); }));
    EXPECT_TRUE(broken([](SettlementRun& r) { r.instructions.pop_back(); }));
    EXPECT_TRUE(broken([](SettlementRun& r) { std::swap(r.instructions[0], r.instructions[1]); }));
    EXPECT_TRUE(broken([](SettlementRun& r) { std::swap(r.participants[0], r.participants[1]); }));
    EXPECT_TRUE(broken([](SettlementRun& r) { r.participants[0].partner_id = "operator"; }));
    EXPECT_TRUE(broken([](SettlementRun& r) { r.obligations[0].to = "nobody"; }));
    EXPECT_TRUE(broken([](SettlementRun& r) { r.obligations[0].amount += MinorUnits(3); }));
    EXPECT_TRUE(broken([](SettlementRun& r) { r.participants[1].received += MinorUnits(3); }));
    EXPECT_TRUE(broken([](SettlementRun& r) { r.totals.points_issued += Points(1); }));
    EXPECT_TRUE(broken([](SettlementRun& r) { r.date = "2026-13-01"; }));
    EXPECT_TRUE(broken([](SettlementRun& r) {
        r.participants[0].net = MinorUnits(std::numeric_limits<std::int64_t>::max());
    }));
    EXPECT_THROW(require_run_invariants([&] {
                     auto copy = run;
                     copy.participants[0].net += MinorUnits(1);
                     return copy;
                 }()),
                 RunInvariantViolation);
}

TEST(Statement, CarriesTheNetLineObligationsInformationAndInstruction) {
    const auto run = sample_run();
    const auto statement = build_statement(run, "grocer");
    ASSERT_TRUE(statement);
    EXPECT_EQ(statement->net, MinorUnits(-150'010));
    EXPECT_EQ(statement->fees, MinorUnits(10));
    EXPECT_EQ(statement->rounding_difference, MinorUnits(0));
    EXPECT_EQ(statement->obligations, run.obligations);
    EXPECT_EQ(statement->own_redemptions, Points(20));
    EXPECT_EQ(statement->points_issued, Points(1000));
    EXPECT_EQ(statement->points_outstanding, Points(9000));
    ASSERT_TRUE(statement->instruction);
    EXPECT_EQ(statement->instruction->to, "operator");
    EXPECT_EQ(statement->instruction->amount, MinorUnits(150'010));

    EXPECT_FALSE(build_statement(run, "airline"));
    // A run read back from JSON has no informational lines to build from.
    EXPECT_THROW(build_statement(run_from_json_text(run_to_json_text(run)), "grocer"),
                 std::logic_error);
}

// A partner with nothing on the date: the run's header, zeros, no line, no instruction; its
// JSON and CSV parse back to it like any statement's.
TEST(Statement, OfAPartnerThatTakesNoPartIsZerosUnderTheRunsHeader) {
    const auto run = sample_run();
    const auto statement = statement_of_no_part(run, "airline");
    EXPECT_EQ(statement.date, run.date);
    EXPECT_EQ(statement.status, run.status);
    EXPECT_EQ(statement.currency, run.currency);
    EXPECT_EQ(statement.point_value, run.point_value);
    EXPECT_EQ(statement.partner_id, "airline");
    for (const auto figure : {statement.received, statement.paid, statement.fees,
                              statement.rounding_difference, statement.net}) {
        EXPECT_EQ(figure, MinorUnits(0));
    }
    for (const auto points : {statement.own_redemptions, statement.points_issued,
                              statement.points_expired, statement.points_outstanding}) {
        EXPECT_EQ(points, Points(0));
    }
    EXPECT_TRUE(statement.obligations.empty());
    EXPECT_FALSE(statement.instruction);
    const auto json = nlohmann::json::parse(statement_to_json_text(statement));
    EXPECT_EQ(json["net"]["net_minor"], 0);
    EXPECT_TRUE(json["instruction"].is_null());
    EXPECT_EQ(statement_from_json_text(statement_to_json_text(statement)), statement);
    EXPECT_EQ(statement_from_csv(statement_to_csv(statement)), statement);
}

// build_statements sorts the obligations out in one pass; each statement must be the one
// build_statement picks for that partner alone, including a partner with no obligation.
TEST(Statement, AllStatementsAreEachPartnersOwn) {
    SettlementInput input;
    input.date = "2026-11-21";
    input.partner_ids = {"idle"};
    input.slices = {{"air", "fuel", SliceKind::burn, Points(700), Micros(7'000'000)},
                    {"fuel", "air", SliceKind::burn, Points(300), Micros(3'000'000)},
                    {"grocer", "fuel", SliceKind::burn, Points(50), Micros(500'000)},
                    {"grocer", "fuel", SliceKind::burn_reversal, Points(10), Micros(100'000)},
                    {"air", "grocer", SliceKind::burn, Points(5), Micros(50'000)},
                    {"grocer", "grocer", SliceKind::burn, Points(9), Micros(90'000)}};
    input.fees = {{"air", Micros(12'345)}};
    const auto run = compute_settlement_run(input);
    const auto all = build_statements(run);
    ASSERT_EQ(all.size(), run.participants.size());
    for (const auto& participant : run.participants) {
        const auto alone = build_statement(run, participant.partner_id);
        ASSERT_TRUE(alone) << participant.partner_id;
        EXPECT_EQ(all.at(participant.partner_id), *alone) << participant.partner_id;
    }
    EXPECT_TRUE(all.at("idle").obligations.empty());
    // air->fuel, fuel->air, grocer->fuel, and fuel->grocer from the reversal: never netted.
    EXPECT_EQ(all.at("fuel").obligations.size(), 4u);
}

TEST(Statement, JsonShape) {
    const auto statement = build_statement(sample_run(), "fuel");
    ASSERT_TRUE(statement);
    const std::string expected =
        R"({"date":"2026-11-21","status":"closed","currency":"EUR","point_value":10000,)"
        R"("partner_id":"fuel","net":{"received_minor":150000,"paid_minor":0,"fees_minor":0,)"
        R"("rounding_difference_minor":0,"net_minor":150000},)"
        R"("obligations":[{"from":"grocer","to":"fuel","points":150000,"amount_minor":150000}],)"
        R"("own_redemptions":0,"points_issued":0,"points_expired":5,"points_outstanding":12,)"
        R"("instruction":{"from":"operator","to":"fuel","amount_minor":150000}})";
    EXPECT_EQ(statement_to_json_text(*statement), expected);
    EXPECT_EQ(statement_from_json_text(expected), *statement);
}

TEST(Statement, CsvHasOneHeaderAndOneRowPerLine) {
    const auto statement = build_statement(sample_run(), "grocer");
    ASSERT_TRUE(statement);
    const std::string prefix = "2026-11-21,closed,EUR,10000,grocer,";
    // clang-format off
    const std::string expected =
        "date,status,currency,point_value,partner_id,line_type,from,to,points,amount_minor\r\n" +
        prefix + "received,,,,0\r\n" +
        prefix + "paid,,,,150000\r\n" +
        prefix + "fees,,,,10\r\n" +
        prefix + "rounding_difference,,,,0\r\n" +
        prefix + "net,,,,-150010\r\n" +
        prefix + "obligation,grocer,fuel,150000,150000\r\n" +
        prefix + "own_redemptions,,,20,\r\n" +
        prefix + "points_issued,,,1000,\r\n" +
        prefix + "points_expired,,,0,\r\n" +
        prefix + "points_outstanding,,,9000,\r\n" +
        prefix + "instruction,grocer,operator,,150010\r\n";
    // clang-format on
    EXPECT_EQ(statement_to_csv(*statement), expected);
    EXPECT_EQ(statement_from_csv(expected), *statement);
}

TEST(Statement, ZeroNetHasNoInstruction) {
    SettlementInput input;
    input.date = "2026-11-21";
    input.partner_ids = {"idle"};
    const auto statement = build_statement(compute_settlement_run(input), "idle");
    ASSERT_TRUE(statement);
    EXPECT_FALSE(statement->instruction);
    EXPECT_EQ(nlohmann::json::parse(statement_to_json_text(*statement))["instruction"], nullptr);
    EXPECT_EQ(statement_from_csv(statement_to_csv(*statement)), *statement);
    EXPECT_EQ(statement_from_json_text(statement_to_json_text(*statement)), *statement);
}

TEST(Statement, CsvParserRefusesDamagedFiles) {
    const auto statement = build_statement(sample_run(), "grocer");
    ASSERT_TRUE(statement);
    const auto csv = statement_to_csv(*statement);
    const auto without = [&](std::string_view line) {
        std::string copy = csv;
        const auto at = copy.find(line);
        copy.erase(at, copy.find("\r\n", at) + 2 - at);
        return copy;
    };
    EXPECT_THROW(statement_from_csv(without("date,status")), StatementFormatError);
    EXPECT_THROW(statement_from_csv(without("grocer,net,")), StatementFormatError);
    EXPECT_THROW(statement_from_csv(csv + csv.substr(csv.find("\r\n") + 2)), StatementFormatError);
    std::string other_partner = csv;
    other_partner.replace(other_partner.rfind("grocer,instruction"), 6, "fuelxx");
    EXPECT_THROW(statement_from_csv(other_partner), StatementFormatError);
    std::string not_a_number = csv;
    not_a_number.replace(not_a_number.find("150010"), 6, "15.001");
    EXPECT_THROW(statement_from_csv(not_a_number), StatementFormatError);
    // LF line ends, as a spreadsheet may save them, still read.
    std::string lf;
    for (char c : csv) {
        if (c != '\r') lf += c;
    }
    EXPECT_EQ(statement_from_csv(lf), *statement);
}

}  // namespace
}  // namespace coalition::settlement
