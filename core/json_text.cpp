#include "core/json_text.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

namespace coalition {

JsonText& JsonText::open(char bracket) {
    separate();
    out_ += bracket;
    first_in_container_ = true;
    return *this;
}

JsonText& JsonText::close(char bracket) {
    out_ += bracket;
    first_in_container_ = false;
    return *this;
}

void JsonText::separate() {
    if (after_key_) {
        after_key_ = false;  // the value of a key: its comma came before the key
    } else if (!first_in_container_) {
        out_ += ',';
    }
    first_in_container_ = false;
}

JsonText& JsonText::key(std::string_view name) {
    separate();
    quoted(name);
    out_ += ':';
    after_key_ = true;
    return *this;
}

JsonText& JsonText::value(std::int64_t number) {
    separate();
    char digits[24];
    const auto written = std::to_chars(std::begin(digits), std::end(digits), number);
    out_.append(digits, written.ptr);
    return *this;
}

JsonText& JsonText::value(std::string_view text) {
    separate();
    quoted(text);
    return *this;
}

JsonText& JsonText::null() {
    separate();
    out_ += "null";
    return *this;
}

void JsonText::quoted(std::string_view text) { append_json_string(out_, text); }

void append_json_string(std::string& out, std::string_view text, InvalidUtf8 invalid) {
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte > 0x7e || c == '"' || c == '\\') {
            // Escapes, control characters and UTF-8 (nlohmann validates it): nlohmann writes it.
            out += nlohmann::json(std::string(text))
                       .dump(-1, ' ', false,
                             invalid == InvalidUtf8::replace
                                 ? nlohmann::json::error_handler_t::replace
                                 : nlohmann::json::error_handler_t::strict);
            return;
        }
    }
    out += '"';
    out += text;
    out += '"';
}

}  // namespace coalition
