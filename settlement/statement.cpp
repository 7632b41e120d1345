#include "settlement/statement.hpp"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "settlement/json_fields.hpp"
#include "settlement/lines_json.hpp"

namespace coalition::settlement {
namespace {

using nlohmann::json;

std::int64_t integer(const json& object, std::string_view where, std::string_view name) {
    return json_fields::integer<StatementFormatError>(object, where, name);
}
std::string text(const json& object, std::string_view where, std::string_view name) {
    return json_fields::text<StatementFormatError>(object, where, name);
}
void require_object(const json& object, std::string_view where,
                    std::initializer_list<std::string_view> names) {
    json_fields::require_object<StatementFormatError>(object, where, names);
}

// The statement of `participant`, whose informational lines are `info` and whose obligation
// cells (in the run's order) are `obligations`.
PartnerStatement statement_of(const SettlementRun& run, const Participant& participant,
                              const PartnerInformation& info, std::vector<Obligation> obligations) {
    PartnerStatement statement;
    statement.date = run.date;
    statement.status = run.status;
    statement.currency = run.currency;
    statement.point_value = run.point_value;
    statement.partner_id = participant.partner_id;
    statement.received = participant.received;
    statement.paid = participant.paid;
    statement.fees = participant.fees;
    statement.net = participant.net;
    statement.rounding_difference =
        participant.net - (participant.received - participant.paid - participant.fees);
    statement.obligations = std::move(obligations);
    statement.own_redemptions = info.own_redemptions;
    statement.points_issued = info.points_issued;
    statement.points_expired = info.points_expired;
    statement.points_outstanding = info.points_outstanding;
    for (const auto& instruction : run.instructions) {
        if (instruction.from == participant.partner_id ||
            instruction.to == participant.partner_id) {
            statement.instruction = instruction;
        }
    }
    return statement;
}

[[noreturn]] void no_information(const SettlementRun& run, std::string_view partner_id) {
    throw std::logic_error("run " + run.date + " has no informational lines for '" +
                           std::string(partner_id) + "': build statements from a computed run");
}

}  // namespace

std::optional<PartnerStatement> build_statement(const SettlementRun& run,
                                                std::string_view partner_id) {
    const auto participant =
        std::find_if(run.participants.begin(), run.participants.end(),
                     [&](const Participant& p) { return p.partner_id == partner_id; });
    if (participant == run.participants.end()) return std::nullopt;
    const auto info =
        std::find_if(run.information.begin(), run.information.end(),
                     [&](const PartnerInformation& i) { return i.partner_id == partner_id; });
    if (info == run.information.end()) no_information(run, partner_id);
    std::vector<Obligation> obligations;
    for (const auto& obligation : run.obligations) {
        if (obligation.from == partner_id || obligation.to == partner_id) {
            obligations.push_back(obligation);
        }
    }
    return statement_of(run, *participant, *info, std::move(obligations));
}

PartnerStatement statement_of_no_part(const SettlementRun& run, std::string_view partner_id) {
    return statement_of(run, Participant{std::string(partner_id), {}, {}, {}, {}},
                        PartnerInformation{std::string(partner_id), {}, {}, {}, {}}, {});
}

// Over all participants, build_statement would compare participants × obligations strings
// (1,000 × 920,000 in bench/clearing.sh: 5 s). So the obligations are sorted out to their two
// partners in one pass, in the run's order: the same lines build_statement picks.
std::map<std::string, PartnerStatement> build_statements(const SettlementRun& run) {
    std::map<std::string_view, std::vector<Obligation>> obligations_of;
    for (const auto& obligation : run.obligations) {
        obligations_of[obligation.from].push_back(obligation);
        if (obligation.to != obligation.from) obligations_of[obligation.to].push_back(obligation);
    }
    std::map<std::string, PartnerStatement> out;
    for (std::size_t i = 0; i < run.participants.size(); ++i) {
        const auto& participant = run.participants[i];
        // A computed or read-back run holds one informational line per participant, in order.
        if (i >= run.information.size() ||
            run.information[i].partner_id != participant.partner_id) {
            no_information(run, participant.partner_id);
        }
        auto found = obligations_of.find(participant.partner_id);
        out.emplace(participant.partner_id,
                    statement_of(run, participant, run.information[i],
                                 found == obligations_of.end() ? std::vector<Obligation>{}
                                                               : std::move(found->second)));
    }
    return out;
}

std::string statement_to_json_text(const PartnerStatement& statement) {
    JsonText json;
    json.reserve(512 + 96 * statement.obligations.size());
    json.begin_object()
        .field("date", statement.date)
        .field("status", to_string(statement.status))
        .field("currency", statement.currency)
        .field("point_value", statement.point_value.value())
        .field("partner_id", statement.partner_id);
    json.key("net")
        .begin_object()
        .field("received_minor", statement.received.value())
        .field("paid_minor", statement.paid.value())
        .field("fees_minor", statement.fees.value())
        .field("rounding_difference_minor", statement.rounding_difference.value())
        .field("net_minor", statement.net.value())
        .end_object();
    json.key("obligations").begin_array();
    for (const auto& obligation : statement.obligations) write_obligation(json, obligation);
    json.end_array();
    json.field("own_redemptions", statement.own_redemptions.value())
        .field("points_issued", statement.points_issued.value())
        .field("points_expired", statement.points_expired.value())
        .field("points_outstanding", statement.points_outstanding.value());
    json.key("instruction");
    if (statement.instruction) {
        write_instruction(json, *statement.instruction);
    } else {
        json.null();
    }
    json.end_object();
    return json.take();
}

PartnerStatement statement_from_json(const json& document) {
    constexpr std::string_view where = "statement";
    require_object(document, where,
                   {"date", "status", "currency", "point_value", "partner_id", "net", "obligations",
                    "own_redemptions", "points_issued", "points_expired", "points_outstanding",
                    "instruction"});
    PartnerStatement statement;
    statement.date = text(document, where, "date");
    const auto status = parse_run_status(text(document, where, "status"));
    if (!status) throw StatementFormatError("statement.status is neither provisional nor closed");
    statement.status = *status;
    statement.currency = text(document, where, "currency");
    statement.point_value = Micros(integer(document, where, "point_value"));
    statement.partner_id = text(document, where, "partner_id");

    const auto& net = document.at("net");
    constexpr std::string_view net_where = "statement.net";
    require_object(
        net, net_where,
        {"received_minor", "paid_minor", "fees_minor", "rounding_difference_minor", "net_minor"});
    statement.received = MinorUnits(integer(net, net_where, "received_minor"));
    statement.paid = MinorUnits(integer(net, net_where, "paid_minor"));
    statement.fees = MinorUnits(integer(net, net_where, "fees_minor"));
    statement.rounding_difference =
        MinorUnits(integer(net, net_where, "rounding_difference_minor"));
    statement.net = MinorUnits(integer(net, net_where, "net_minor"));

    for (const auto& item :
         json_fields::array<StatementFormatError>(document, where, "obligations")) {
        constexpr std::string_view item_where = "statement.obligations[]";
        require_object(item, item_where, {"from", "to", "points", "amount_minor"});
        statement.obligations.push_back(
            Obligation{text(item, item_where, "from"), text(item, item_where, "to"),
                       Points(integer(item, item_where, "points")),
                       MinorUnits(integer(item, item_where, "amount_minor"))});
    }
    statement.own_redemptions = Points(integer(document, where, "own_redemptions"));
    statement.points_issued = Points(integer(document, where, "points_issued"));
    statement.points_expired = Points(integer(document, where, "points_expired"));
    statement.points_outstanding = Points(integer(document, where, "points_outstanding"));

    const auto& instruction = document.at("instruction");
    if (!instruction.is_null()) {
        constexpr std::string_view item_where = "statement.instruction";
        require_object(instruction, item_where, {"from", "to", "amount_minor"});
        statement.instruction =
            Instruction{text(instruction, item_where, "from"), text(instruction, item_where, "to"),
                        MinorUnits(integer(instruction, item_where, "amount_minor"))};
    }
    return statement;
}

PartnerStatement statement_from_json_text(std::string_view text) {
    json document;
    try {
        document = json::parse(text);
    } catch (const json::parse_error& error) {
        throw StatementFormatError(std::string("statement is not JSON: ") + error.what());
    }
    return statement_from_json(document);
}

}  // namespace coalition::settlement
