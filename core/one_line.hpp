#pragma once
// A failure's reason as one line: both programs promise exactly one line on stderr for a bad
// argument or setting, and libpq's messages (or a value quoted from a setting) span lines.
#include <string>
#include <string_view>

namespace coalition {

// Runs of whitespace (newlines included) become one space; leading and trailing ones go.
// "unknown error" for a text with nothing else.
std::string one_line(std::string_view text);

}  // namespace coalition
