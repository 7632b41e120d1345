#pragma once
// The JSON of the lines a run and a statement share, so both documents spell them alike.
#include "settlement/json_text.hpp"
#include "settlement/run.hpp"

namespace coalition::settlement {

// {"from","to","points","amount_minor"}
void write_obligation(JsonText& json, const Obligation& obligation);
// {"from","to","amount_minor"}
void write_instruction(JsonText& json, const Instruction& instruction);

}  // namespace coalition::settlement
