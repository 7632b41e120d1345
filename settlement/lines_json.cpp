#include "settlement/lines_json.hpp"

namespace coalition::settlement {

void write_obligation(JsonText& json, const Obligation& obligation) {
    json.begin_object()
        .field("from", obligation.from)
        .field("to", obligation.to)
        .field("points", obligation.points.value())
        .field("amount_minor", obligation.amount.value())
        .end_object();
}

void write_instruction(JsonText& json, const Instruction& instruction) {
    json.begin_object()
        .field("from", instruction.from)
        .field("to", instruction.to)
        .field("amount_minor", instruction.amount.value())
        .end_object();
}

void write_information(JsonText& json, const PartnerInformation& information) {
    json.begin_object()
        .field("partner_id", information.partner_id)
        .field("own_redemptions", information.own_redemptions.value())
        .field("points_issued", information.points_issued.value())
        .field("points_expired", information.points_expired.value())
        .field("points_outstanding", information.points_outstanding.value())
        .end_object();
}

}  // namespace coalition::settlement
