#include "settlement/run_json.hpp"

#include <string>

#include "settlement/json_fields.hpp"
#include "settlement/lines_json.hpp"

namespace coalition::settlement {
namespace {

using nlohmann::json;

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

std::string run_to_json_text(const SettlementRun& run) {
    JsonText json;
    // ~90 bytes an obligation, the bulk of a large run: one allocation instead of ~20.
    json.reserve(512 + 96 * run.participants.size() + 96 * run.obligations.size() +
                 64 * run.instructions.size());
    json.begin_object()
        .field("date", run.date)
        .field("status", to_string(run.status))
        .field("currency", run.currency)
        .field("point_value", run.point_value.value());
    json.key("participants").begin_array();
    for (const auto& participant : run.participants) {
        json.begin_object()
            .field("partner_id", participant.partner_id)
            .field("received_minor", participant.received.value())
            .field("paid_minor", participant.paid.value())
            .field("fees_minor", participant.fees.value())
            .field("net_minor", participant.net.value())
            .end_object();
    }
    json.end_array();
    json.key("operator")
        .begin_object()
        .field("fees_minor", run.operator_line.fees.value())
        .field("rounding_minor", run.operator_line.rounding.value())
        .field("net_minor", run.operator_line.net.value())
        .end_object();
    json.key("obligations").begin_array();
    for (const auto& obligation : run.obligations) write_obligation(json, obligation);
    json.end_array();
    json.key("instructions").begin_array();
    for (const auto& instruction : run.instructions) write_instruction(json, instruction);
    json.end_array();
    json.key("totals")
        .begin_object()
        .field("claims", run.totals.claims)
        .field("points_issued", run.totals.points_issued.value())
        .field("points_redeemed", run.totals.points_redeemed.value())
        .field("own_redemptions", run.totals.own_redemptions.value())
        .field("points_expired", run.totals.points_expired.value())
        .end_object();
    json.end_object();
    return json.take();
}

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

std::string information_to_json_text(const PartnerInformation& information) {
    JsonText json;
    write_information(json, information);
    return json.take();
}

PartnerInformation information_from_json(const json& document) {
    constexpr std::string_view where = "information";
    require_object(
        document, where,
        {"partner_id", "own_redemptions", "points_issued", "points_expired", "points_outstanding"});
    return PartnerInformation{text(document, where, "partner_id"),
                              Points(integer(document, where, "own_redemptions")),
                              Points(integer(document, where, "points_issued")),
                              Points(integer(document, where, "points_expired")),
                              Points(integer(document, where, "points_outstanding"))};
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
