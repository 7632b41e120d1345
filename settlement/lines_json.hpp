#pragma once
// The JSON of the lines several documents share (run, statement, stored informational lines),
// so all of them spell the lines alike.
#include "core/json_text.hpp"
#include "settlement/run.hpp"

namespace coalition::settlement {

// {"from","to","points","amount_minor"}
void write_obligation(JsonText& json, const Obligation& obligation);
// {"from","to","amount_minor"}
void write_instruction(JsonText& json, const Instruction& instruction);
// {"partner_id","own_redemptions","points_issued","points_expired","points_outstanding"}
void write_information(JsonText& json, const PartnerInformation& information);

}  // namespace coalition::settlement
