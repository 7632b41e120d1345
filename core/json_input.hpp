#pragma once
// Text read as JSON from outside (a claim's body, a config file) before nlohmann parses it.
#include <string_view>

namespace coalition {

// nlohmann's lexer takes a NUL byte for the end of its input (it also reads C strings), so
// `{...}\0{"pionts": 5}` would parse as its first object and the rest be silently ignored.
// JSON text never holds a raw NUL (RFC 8259: it is not whitespace, and inside a string it must
// be escaped), so text that does is refused as not JSON before it is parsed.
inline bool holds_nul_byte(std::string_view text) {
    return text.find('\0') != std::string_view::npos;
}

}  // namespace coalition
