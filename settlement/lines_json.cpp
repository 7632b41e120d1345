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

}  // namespace coalition::settlement
