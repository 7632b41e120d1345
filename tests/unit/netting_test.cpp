// Netting of one settlement date: hand-computed cases (the arithmetic is in the comments) and
// a seeded, bounded randomized check of the invariants.
#include "settlement/netting.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "settlement/invariants.hpp"
#include "settlement/rounding.hpp"
#include "settlement/run.hpp"
#include "settlement/run_json.hpp"
#include "settlement/statement.hpp"
#include "settlement/statement_csv.hpp"

namespace coalition::settlement {
namespace {

SliceLine burn(std::string issuer, std::string redeemer, std::int64_t points, std::int64_t micros) {
    return {std::move(issuer), std::move(redeemer), SliceKind::burn, Points(points),
            Micros(micros)};
}

SliceLine reversal(std::string issuer, std::string redeemer, std::int64_t points,
                   std::int64_t micros) {
    return {std::move(issuer), std::move(redeemer), SliceKind::burn_reversal, Points(points),
            Micros(micros)};
}

SettlementInput eur_input() {
    SettlementInput input;
    input.date = "2026-11-21";
    input.status = RunStatus::closed;
    input.currency = "EUR";
    input.point_value = Micros(10'000);  // 1 cent per point
    return input;
}

Participant participant(std::string id, std::int64_t received, std::int64_t paid, std::int64_t fees,
                        std::int64_t net) {
    return {std::move(id), MinorUnits(received), MinorUnits(paid), MinorUnits(fees),
            MinorUnits(net)};
}

Obligation obligation(std::string from, std::string to, std::int64_t points, std::int64_t amount) {
    return {std::move(from), std::move(to), Points(points), MinorUnits(amount)};
}

Instruction instruction(std::string from, std::string to, std::int64_t amount) {
    return {std::move(from), std::move(to), MinorUnits(amount)};
}

// Every settlement date the system takes in (API path, coalitionctl, a run's date) passes this
// one rule; what PostgreSQL's date cannot hold must be refused here, not fail as a 500 there.
TEST(SettlementDate, DigitsOnlyRealDaysFromYearOne) {
    using namespace std::chrono;
    EXPECT_EQ(parse_settlement_date("2026-03-10"), year_month_day(year(2026), month(3), day(10)));
    EXPECT_EQ(parse_settlement_date("0001-01-01"), year_month_day(year(1), month(1), day(1)));
    EXPECT_EQ(parse_settlement_date("2024-02-29"), year_month_day(year(2024), month(2), day(29)));
    for (const char* bad : {"0000-01-01", "-001-01-01", "+026-01-01", "2026-02-29", "2026-13-01",
                            "2026-3-10", "20260310", "2026-03-1x", " 2026-03-1", ""}) {
        EXPECT_FALSE(parse_settlement_date(bad).has_value()) << bad;
        EXPECT_FALSE(is_settlement_date(bad)) << bad;
    }
}

TEST(Netting, ThreePartnersWithCrossRedemptions) {
    auto input = eur_input();
    input.claims = 5;
    // grocer -> fuel arrives as two slices (100 + 50 points) to be aggregated into one cell.
    input.slices = {burn("grocer", "fuel", 100, 1'000'000), burn("fuel", "air", 200, 2'000'000),
                    burn("air", "grocer", 50, 500'000), burn("grocer", "air", 100, 1'000'000),
                    burn("grocer", "fuel", 50, 500'000)};
    const auto run = compute_settlement_run(input);

    // Cells (cents): air->grocer 50, fuel->air 200, grocer->air 100, grocer->fuel 150.
    EXPECT_EQ(run.obligations,
              (std::vector<Obligation>{
                  obligation("air", "grocer", 50, 50), obligation("fuel", "air", 200, 200),
                  obligation("grocer", "air", 100, 100), obligation("grocer", "fuel", 150, 150)}));
    // air:    received 200 + 100 = 300, paid 50        -> net +250
    // fuel:   received 150,             paid 200       -> net  -50
    // grocer: received 50,              paid 100 + 150 -> net -200;  sum 0, no fees.
    EXPECT_EQ(run.participants,
              (std::vector<Participant>{participant("air", 300, 50, 0, 250),
                                        participant("fuel", 150, 200, 0, -50),
                                        participant("grocer", 50, 250, 0, -200)}));
    EXPECT_EQ(run.operator_line, (OperatorLine{MinorUnits(0), MinorUnits(0), MinorUnits(0)}));
    EXPECT_EQ(run.instructions, (std::vector<Instruction>{instruction("operator", "air", 250),
                                                          instruction("fuel", "operator", 50),
                                                          instruction("grocer", "operator", 200)}));
    EXPECT_EQ(run.totals.claims, 5);
    EXPECT_EQ(run.totals.points_redeemed, Points(500));
    EXPECT_EQ(run.totals.own_redemptions, Points(0));
}

TEST(Netting, OwnRedemptionIsReportedButOwesNothing) {
    auto input = eur_input();
    // grocer's member spends 300 grocer points at grocer, and 100 grocer points at fuel.
    input.slices = {burn("grocer", "grocer", 300, 3'000'000),
                    burn("grocer", "fuel", 100, 1'000'000)};
    const auto run = compute_settlement_run(input);

    EXPECT_EQ(run.obligations, (std::vector<Obligation>{obligation("grocer", "fuel", 100, 100)}));
    EXPECT_EQ(run.participants, (std::vector<Participant>{participant("fuel", 100, 0, 0, 100),
                                                          participant("grocer", 0, 100, 0, -100)}));
    EXPECT_EQ(run.totals.points_redeemed, Points(400));  // own redemptions included
    EXPECT_EQ(run.totals.own_redemptions, Points(300));
    ASSERT_EQ(run.information.size(), 2U);
    EXPECT_EQ(run.information[1].partner_id, "grocer");
    EXPECT_EQ(run.information[1].own_redemptions, Points(300));
    EXPECT_EQ(run.information[0].own_redemptions, Points(0));
}

TEST(Netting, ReversalOnALaterDayOwesTheOppositeWay) {
    // Day 1 a member spent 150 grocer points at fuel (grocer owed fuel 1.50). Day 2, the
    // settlement date here, holds only the reversal slices: fuel owes grocer 1.50; an own
    // redemption of 20 points at grocer is reversed too.
    auto input = eur_input();
    input.date = "2026-11-22";
    input.slices = {reversal("grocer", "fuel", 150, 1'500'000),
                    reversal("grocer", "grocer", 20, 200'000)};
    const auto run = compute_settlement_run(input);

    EXPECT_EQ(run.obligations, (std::vector<Obligation>{obligation("fuel", "grocer", 150, 150)}));
    EXPECT_EQ(run.participants, (std::vector<Participant>{participant("fuel", 0, 150, 0, -150),
                                                          participant("grocer", 150, 0, 0, 150)}));
    EXPECT_EQ(run.instructions, (std::vector<Instruction>{instruction("fuel", "operator", 150),
                                                          instruction("operator", "grocer", 150)}));
    // Redeemed points of the date are burns minus reversals: 0 - 150 - 20.
    EXPECT_EQ(run.totals.points_redeemed, Points(-170));
    EXPECT_EQ(run.totals.own_redemptions, Points(-20));
}

TEST(Netting, OppositeCellsStayGross) {
    // A burn grocer -> fuel of 100 points and, the same day, the reversal of an older burn of
    // grocer points at fuel, 40 points: fuel -> grocer. Both cells are shown; nets are
    // fuel +100 - 40 = +60, grocer -60.
    auto input = eur_input();
    input.slices = {burn("grocer", "fuel", 100, 1'000'000),
                    reversal("grocer", "fuel", 40, 400'000)};
    const auto run = compute_settlement_run(input);
    EXPECT_EQ(run.obligations, (std::vector<Obligation>{obligation("fuel", "grocer", 40, 40),
                                                        obligation("grocer", "fuel", 100, 100)}));
    EXPECT_EQ(run.participants, (std::vector<Participant>{participant("fuel", 100, 40, 0, 60),
                                                          participant("grocer", 40, 100, 0, -60)}));
    EXPECT_EQ(run.totals.points_redeemed, Points(60));
}

TEST(Netting, FeesAreOwedToTheOperator) {
    // issue_fee 200 micro-units per point: grocer issued 1000 points -> 200,000 micros = 20
    // cents, fuel 250 points -> 50,000 micros = 5 cents (fees arrive in two lines for grocer).
    // grocer: received 0, paid 100, fees 20 -> net -120
    // fuel:   received 100, paid 0, fees 5  -> net  +95
    // operator: fees 25, rounding 0, net 25;  -120 + 95 + 25 = 0.
    auto input = eur_input();
    input.slices = {burn("grocer", "fuel", 100, 1'000'000)};
    input.fees = {
        {"grocer", Micros(150'000)}, {"fuel", Micros(50'000)}, {"grocer", Micros(50'000)}};
    input.points_issued = {{"grocer", Points(1000)}, {"fuel", Points(250)}};
    const auto run = compute_settlement_run(input);

    EXPECT_EQ(run.participants,
              (std::vector<Participant>{participant("fuel", 100, 0, 5, 95),
                                        participant("grocer", 0, 100, 20, -120)}));
    EXPECT_EQ(run.operator_line, (OperatorLine{MinorUnits(25), MinorUnits(0), MinorUnits(25)}));
    // To the operator 120, from it 95: the operator keeps its 25 of fees.
    EXPECT_EQ(run.instructions, (std::vector<Instruction>{instruction("operator", "fuel", 95),
                                                          instruction("grocer", "operator", 120)}));
    EXPECT_EQ(run.totals.points_issued, Points(1250));
}

TEST(Netting, OperatorAbsorbsTheRoundingResidue) {
    // point_value 3333 micro-units: one point is 0.3333 cent. z's points are spent at a and b,
    // one point each.
    //   a: net +3333 micros = +0.3333 c -> 0      b: the same -> 0
    //   z: net -6666 micros = -0.6666 c -> -1
    // Partner nets sum to -1, operator fees 0, so rounding_minor = +1 and operator net +1:
    // z pays the operator 1 cent, of which nobody is owed anything after rounding.
    auto input = eur_input();
    input.point_value = Micros(3333);
    input.slices = {burn("z", "a", 1, 3333), burn("z", "b", 1, 3333)};
    const auto run = compute_settlement_run(input);

    EXPECT_EQ(run.participants,
              (std::vector<Participant>{participant("a", 0, 0, 0, 0), participant("b", 0, 0, 0, 0),
                                        participant("z", 0, 1, 0, -1)}));
    EXPECT_EQ(run.obligations,
              (std::vector<Obligation>{obligation("z", "a", 1, 0), obligation("z", "b", 1, 0)}));
    EXPECT_EQ(run.operator_line, (OperatorLine{MinorUnits(0), MinorUnits(1), MinorUnits(1)}));
    EXPECT_EQ(run.instructions, (std::vector<Instruction>{instruction("z", "operator", 1)}));
    EXPECT_EQ(run.point_value, Micros(3333));
}

TEST(Netting, RoundingResidueWithATieAtTheIssuer) {
    // point_value 3750 (0.375 cent): z's points spent at a, b, c, d, one point each.
    //   each redeemer: +0.375 c -> 0
    //   z: -1.5 c, a tie -> -2 (the even neighbour)
    // Nets sum to -2: rounding_minor +2, within (5 participants + 1) / 2 = 3.
    auto input = eur_input();
    input.point_value = Micros(3750);
    input.slices = {burn("z", "a", 1, 3750), burn("z", "b", 1, 3750), burn("z", "c", 1, 3750),
                    burn("z", "d", 1, 3750)};
    const auto run = compute_settlement_run(input);
    ASSERT_EQ(run.participants.size(), 5U);
    EXPECT_EQ(run.participants[4], participant("z", 0, 2, 0, -2));  // paid 1.5 c -> 2 as well
    EXPECT_EQ(run.operator_line, (OperatorLine{MinorUnits(0), MinorUnits(2), MinorUnits(2)}));
}

TEST(Netting, FeeTiesRoundToEvenAndNetIsRoundedOnce) {
    // point_value 3333 and issue_fee 1 micro-unit per point.
    //   a: redeems 1 z point (+3333), issued 5000 points: fees 5000 micros = 0.5 c -> 0 (tie)
    //      net exact 3333 - 5000 = -1667 = -0.1667 c -> 0
    //   b: redeems 1 z point (+3333), issued 15000 points: fees 1.5 c -> 2 (tie)
    //      net exact 3333 - 15000 = -11667 = -1.1667 c -> -1
    //      (received 0 - paid 0 - fees 2 = -2: the statement's rounding_difference is +1)
    //   z: net -6666 = -0.6666 c -> -1
    //   operator fees: 20000 micros = 2 c; rounding = -(0 - 1 - 1 + 2) = 0; net 2.
    auto input = eur_input();
    input.point_value = Micros(3333);
    input.slices = {burn("z", "a", 1, 3333), burn("z", "b", 1, 3333)};
    input.fees = {{"a", Micros(5000)}, {"b", Micros(15'000)}};
    const auto run = compute_settlement_run(input);
    EXPECT_EQ(run.participants,
              (std::vector<Participant>{participant("a", 0, 0, 0, 0), participant("b", 0, 0, 2, -1),
                                        participant("z", 0, 1, 0, -1)}));
    EXPECT_EQ(run.operator_line, (OperatorLine{MinorUnits(2), MinorUnits(0), MinorUnits(2)}));
    const auto statement = build_statement(run, "b");
    ASSERT_TRUE(statement);
    EXPECT_EQ(statement->rounding_difference, MinorUnits(1));
}

TEST(Netting, EveryListedPartnerTakesPartAndIdleOnesHaveNoInstruction) {
    auto input = eur_input();
    input.partner_ids = {"idle", "grocer", "fuel"};
    input.slices = {burn("grocer", "fuel", 10, 100'000)};
    input.points_outstanding = {{"idle", Points(42)}};
    input.points_expired = {{"grocer", Points(7)}};
    const auto run = compute_settlement_run(input);
    ASSERT_EQ(run.participants.size(), 3U);
    EXPECT_EQ(run.participants[2], participant("idle", 0, 0, 0, 0));
    EXPECT_EQ(run.instructions.size(), 2U);
    EXPECT_EQ(run.information[2].points_outstanding, Points(42));
    EXPECT_EQ(run.totals.points_expired, Points(7));
}

TEST(Netting, AnEmptyDateIsAZeroRun) {
    const auto run = compute_settlement_run(eur_input());
    EXPECT_TRUE(run.participants.empty());
    EXPECT_TRUE(run.instructions.empty());
    EXPECT_EQ(run.operator_line, OperatorLine{});
    EXPECT_EQ(check_run_invariants(run), std::nullopt);
}

TEST(Netting, DerivesTheExponentFromTheCurrencyUnlessGiven) {
    auto input = eur_input();
    input.currency = "JPY";
    input.point_value = Micros(1'000'000);          // one yen per point
    input.slices = {burn("z", "a", 3, 2'500'000)};  // 2.5 yen -> 2
    EXPECT_EQ(compute_settlement_run(input).obligations.at(0).amount, MinorUnits(2));
    input.minor_unit_exponent = 2;  // the caller knows better: 250 "cents"
    EXPECT_EQ(compute_settlement_run(input).obligations.at(0).amount, MinorUnits(250));
}

TEST(Netting, RefusesInputTheSchemaWouldNeverHold) {
    const auto refused = [](auto change) {
        auto input = eur_input();
        input.slices = {burn("grocer", "fuel", 1, 10'000)};
        change(input);
        EXPECT_THROW(compute_settlement_run(input), SettlementInputError);
    };
    refused([](SettlementInput& in) { in.partner_ids = {"operator"}; });
    refused([](SettlementInput& in) { in.slices[0].redeemer_id = "operator"; });
    refused([](SettlementInput& in) { in.slices[0].issuer_id = "bad id"; });
    refused([](SettlementInput& in) { in.slices[0].points = Points(0); });
    refused([](SettlementInput& in) { in.slices[0].amount = Micros(-1); });
    refused([](SettlementInput& in) { in.fees = {{"grocer", Micros(-1)}}; });
    refused([](SettlementInput& in) { in.points_issued = {{"grocer", Points(-1)}}; });
    refused([](SettlementInput& in) { in.date = "2026-02-30"; });
    refused([](SettlementInput& in) { in.date = "21.11.2026"; });
    refused([](SettlementInput& in) { in.currency = "eur"; });
    refused([](SettlementInput& in) { in.minor_unit_exponent = 7; });
    refused([](SettlementInput& in) { in.point_value = Micros(0); });
    refused([](SettlementInput& in) { in.claims = -1; });
}

TEST(Netting, OverflowThrowsInsteadOfWrapping) {
    auto input = eur_input();
    const std::int64_t huge = std::numeric_limits<std::int64_t>::max() / 2 + 1;
    input.slices = {burn("grocer", "fuel", 1, huge), burn("grocer", "fuel", 1, huge)};
    EXPECT_THROW(compute_settlement_run(input), ArithmeticOverflow);
}

// ---- Randomized: seeded and bounded, so a failure reproduces. --------------------------------

struct RandomCase {
    SettlementInput input;
    // Exact nets per partner, computed here independently of the netting code.
    std::map<std::string, std::int64_t> exact_net;
    int exponent = 2;
};

RandomCase random_case(std::mt19937_64& rng) {
    const auto uniform = [&rng](std::int64_t low, std::int64_t high) {
        return std::uniform_int_distribution<std::int64_t>(low, high)(rng);
    };
    RandomCase c;
    c.input.date = "2026-11-21";
    static const std::pair<const char*, int> kCurrencies[] = {{"EUR", 2}, {"JPY", 0}, {"KWD", 3}};
    const auto& [currency, exponent] = kCurrencies[uniform(0, 2)];
    c.input.currency = currency;
    c.exponent = exponent;
    c.input.point_value = Micros(uniform(1, 100'000));
    c.input.claims = uniform(0, 1000);

    const auto partner_count = static_cast<std::size_t>(uniform(2, 20));
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < partner_count; ++i) ids.push_back("p" + std::to_string(i));
    const auto pick = [&] {
        return ids[static_cast<std::size_t>(
            uniform(0, static_cast<std::int64_t>(partner_count) - 1))];
    };
    for (const auto& id : ids) {
        if (uniform(0, 3) != 0) c.input.partner_ids.push_back(id);
        c.exact_net[id] = 0;
    }

    const auto slices = uniform(0, 60);
    for (std::int64_t i = 0; i < slices; ++i) {
        // Some slices at another point_value: a price change earlier in the day.
        const std::int64_t price =
            uniform(0, 4) == 0 ? uniform(1, 100'000) : c.input.point_value.value();
        const std::int64_t points = uniform(1, 100'000);
        const auto kind = uniform(0, 3) == 0 ? SliceKind::burn_reversal : SliceKind::burn;
        SliceLine slice{pick(), pick(), kind, Points(points), Micros(points * price)};
        if (slice.issuer_id != slice.redeemer_id) {
            const bool reversal = kind == SliceKind::burn_reversal;
            const auto& from = reversal ? slice.redeemer_id : slice.issuer_id;
            const auto& to = reversal ? slice.issuer_id : slice.redeemer_id;
            c.exact_net[from] -= slice.amount.value();
            c.exact_net[to] += slice.amount.value();
        }
        c.input.slices.push_back(std::move(slice));
    }
    const std::int64_t issue_fee = uniform(0, 1) ? uniform(0, 5000) : 0;
    for (std::int64_t i = uniform(0, 10); i > 0; --i) {
        const auto id = pick();
        const std::int64_t issued = uniform(1, 100'000);
        c.input.points_issued.push_back({id, Points(issued)});
        c.input.fees.push_back({id, Micros(issued * issue_fee)});
        c.exact_net[id] -= issued * issue_fee;
    }
    for (std::int64_t i = uniform(0, 5); i > 0; --i) {
        c.input.points_expired.push_back({pick(), Points(uniform(1, 1000))});
    }
    for (std::int64_t i = uniform(0, 5); i > 0; --i) {
        c.input.points_outstanding.push_back({pick(), Points(uniform(0, 1'000'000))});
    }
    return c;
}

template <typename T>
void shuffle(std::vector<T>& items, std::mt19937_64& rng) {
    std::shuffle(items.begin(), items.end(), rng);
}

TEST(NettingRandomized, InvariantsHoldAndOrderDoesNotMatter) {
    std::mt19937_64 rng(20261121);
    constexpr int kRuns = 1000;
    int runs_with_residue = 0;
    for (int iteration = 0; iteration < kRuns; ++iteration) {
        SCOPED_TRACE("iteration " + std::to_string(iteration));
        auto c = random_case(rng);
        const auto run = compute_settlement_run(c.input);
        ASSERT_EQ(check_run_invariants(run), std::nullopt);

        // Zero sum, exactly, operator included.
        MinorUnits sum = run.operator_line.net;
        for (const auto& p : run.participants) sum += p.net;
        ASSERT_EQ(sum, MinorUnits(0));
        const auto n = static_cast<std::int64_t>(run.participants.size());
        ASSERT_LE(std::abs(run.operator_line.rounding.value()), n);
        ASSERT_LE(2 * std::abs(run.operator_line.rounding.value()), n + 1);
        if (run.operator_line.rounding != MinorUnits(0)) ++runs_with_residue;

        // Each net is the one rounding of the exact net.
        for (const auto& p : run.participants) {
            ASSERT_EQ(p.net,
                      round_half_even_to_minor(Micros(c.exact_net.at(p.partner_id)), c.exponent))
                << p.partner_id;
        }

        // Instructions balance to the operator net.
        MinorUnits to_operator;
        MinorUnits from_operator;
        for (const auto& instruction : run.instructions) {
            ASSERT_GT(instruction.amount, MinorUnits(0));
            (instruction.to == kOperatorId ? to_operator : from_operator) += instruction.amount;
        }
        ASSERT_EQ(to_operator - from_operator, run.operator_line.net);

        // The same date, its lines in any order, is the same run, byte for byte.
        auto permuted = c.input;
        shuffle(permuted.partner_ids, rng);
        shuffle(permuted.slices, rng);
        shuffle(permuted.fees, rng);
        shuffle(permuted.points_issued, rng);
        shuffle(permuted.points_expired, rng);
        shuffle(permuted.points_outstanding, rng);
        const auto again = compute_settlement_run(permuted);
        ASSERT_EQ(again, run);
        ASSERT_EQ(run_to_json_text(again), run_to_json_text(run));

        // What storage writes, it reads back unchanged, and the check passes after reading.
        auto read_back = run_from_json_text(run_to_json_text(run));
        ASSERT_EQ(check_run_invariants(read_back), std::nullopt);
        read_back.information = run.information;
        ASSERT_EQ(read_back, run);

        // Statements reconcile, and their CSV and JSON carry the same figures (one partner per
        // run keeps the test quick in Debug builds; over 1000 runs every position is seen).
        if (!run.participants.empty()) {
            const auto& p =
                run.participants[static_cast<std::size_t>(iteration) % run.participants.size()];
            const auto statement = build_statement(run, p.partner_id);
            ASSERT_TRUE(statement);
            ASSERT_EQ(statement->received - statement->paid - statement->fees +
                          statement->rounding_difference,
                      statement->net);
            ASSERT_EQ(statement_from_csv(statement_to_csv(*statement)), *statement);
            ASSERT_EQ(statement_from_json_text(statement_to_json_text(*statement)), *statement);
        }
    }
    // The cases must actually exercise the residue, or the bounds above prove nothing.
    EXPECT_GT(runs_with_residue, kRuns / 10);
}

}  // namespace
}  // namespace coalition::settlement
