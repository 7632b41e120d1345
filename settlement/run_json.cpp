#include "settlement/run_json.hpp"

#include <string>

#include "settlement/json_fields.hpp"

namespace coalition::settlement {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

ordered_json to_json(const Participant& participant) {
    return ordered_json{{"partner_id", participant.partner_id},
                        {"received_minor", participant.received.value()},
                        {"paid_minor", participant.paid.value()},
                        {"fees_minor", participant.fees.value()},
                        {"net_minor", participant.net.value()}};
}

std::int64_t integer(const json& object, std::string_view where, std::string_view name) {
    return json_fields::integer<RunFormatError>(object, where, name);
}
std::string text(const json& object, std::string_view where, std::string_view name) {
    return json_fields::text<RunFormatError>(object, where, name);
}
const json& array(const json& object, std::string_view where, std::string_view name) {
    return json_fields::array<RunFormatError>(object, where, name);
}
void require_object(const json& object, std::string_view where,
                    std::initializer_list<std::string_view> names) {
    json_fields::require_object<RunFormatError>(object, where, names);
}

}  // namespace

nlohmann::ordered_json run_to_json(const SettlementRun& run) {
    ordered_json participants = ordered_json::array();
    for (const auto& participant : run.participants) participants.push_back(to_json(participant));
    ordered_json obligations = ordered_json::array();
    for (const auto& obligation : run.obligations) {
        obligations.push_back(ordered_json{{"from", obligation.from},
                                           {"to", obligation.to},
                                           {"points", obligation.points.value()},
                                           {"amount_minor", obligation.amount.value()}});
    }
    ordered_json instructions = ordered_json::array();
    for (const auto& instruction : run.instructions) {
        instructions.push_back(ordered_json{{"from", instruction.from},
                                            {"to", instruction.to},
                                            {"amount_minor", instruction.amount.value()}});
    }
    const auto& op = run.operator_line;
    const auto& totals = run.totals;
    return ordered_json{
        {"date", run.date},
        {"status", std::string(to_string(run.status))},
        {"currency", run.currency},
        {"point_value", run.point_value.value()},
        {"participants", std::move(participants)},
        {"operator", ordered_json{{"fees_minor", op.fees.value()},
                                  {"rounding_minor", op.rounding.value()},
                                  {"net_minor", op.net.value()}}},
        {"obligations", std::move(obligations)},
        {"instructions", std::move(instructions)},
        {"totals", ordered_json{{"claims", totals.claims},
                                {"points_issued", totals.points_issued.value()},
                                {"points_redeemed", totals.points_redeemed.value()},
                                {"own_redemptions", totals.own_redemptions.value()},
                                {"points_expired", totals.points_expired.value()}}},
    };
}

std::string run_to_json_text(const SettlementRun& run) { return run_to_json(run).dump(); }

SettlementRun run_from_json(const json& document) {
    require_object(document, "run",
                   {"date", "status", "currency", "point_value", "participants", "operator",
                    "obligations", "instructions", "totals"});
    SettlementRun run;
    run.date = text(document, "run", "date");
    const auto status = parse_run_status(text(document, "run", "status"));
    if (!status) throw RunFormatError("run.status is neither provisional nor closed");
    run.status = *status;
    run.currency = text(document, "run", "currency");
    run.point_value = Micros(integer(document, "run", "point_value"));

    for (const auto& item : array(document, "run", "participants")) {
        constexpr std::string_view where = "run.participants[]";
        require_object(item, where,
                       {"partner_id", "received_minor", "paid_minor", "fees_minor", "net_minor"});
        run.participants.push_back(Participant{text(item, where, "partner_id"),
                                               MinorUnits(integer(item, where, "received_minor")),
                                               MinorUnits(integer(item, where, "paid_minor")),
                                               MinorUnits(integer(item, where, "fees_minor")),
                                               MinorUnits(integer(item, where, "net_minor"))});
    }

    const auto& op = document.at("operator");
    require_object(op, "run.operator", {"fees_minor", "rounding_minor", "net_minor"});
    run.operator_line = OperatorLine{MinorUnits(integer(op, "run.operator", "fees_minor")),
                                     MinorUnits(integer(op, "run.operator", "rounding_minor")),
                                     MinorUnits(integer(op, "run.operator", "net_minor"))};

    for (const auto& item : array(document, "run", "obligations")) {
        constexpr std::string_view where = "run.obligations[]";
        require_object(item, where, {"from", "to", "points", "amount_minor"});
        run.obligations.push_back(Obligation{text(item, where, "from"), text(item, where, "to"),
                                             Points(integer(item, where, "points")),
                                             MinorUnits(integer(item, where, "amount_minor"))});
    }
    for (const auto& item : array(document, "run", "instructions")) {
        constexpr std::string_view where = "run.instructions[]";
        require_object(item, where, {"from", "to", "amount_minor"});
        run.instructions.push_back(Instruction{text(item, where, "from"), text(item, where, "to"),
                                               MinorUnits(integer(item, where, "amount_minor"))});
    }

    const auto& totals = document.at("totals");
    constexpr std::string_view where = "run.totals";
    require_object(
        totals, where,
        {"claims", "points_issued", "points_redeemed", "own_redemptions", "points_expired"});
    run.totals =
        Totals{integer(totals, where, "claims"), Points(integer(totals, where, "points_issued")),
               Points(integer(totals, where, "points_redeemed")),
               Points(integer(totals, where, "own_redemptions")),
               Points(integer(totals, where, "points_expired"))};
    return run;
}

SettlementRun run_from_json_text(std::string_view text) {
    json document;
    try {
        document = json::parse(text);
    } catch (const json::parse_error& error) {
        throw RunFormatError(std::string("run is not JSON: ") + error.what());
    }
    return run_from_json(document);
}

}  // namespace coalition::settlement
