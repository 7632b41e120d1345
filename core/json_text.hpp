#pragma once
// Compact JSON text written straight into one string, for documents written often or at size:
// a close's run (~1 million obligations, ~60 MB) and a batch's rows for PostgreSQL (every
// booked claim). Building an nlohmann tree of them first cost several allocations a field: most
// of the close's CPU, and a tenth of the server's CPU per claim under load.
//
// The output is byte for byte what nlohmann's dump() gives for the same ordered_json (compact,
// no spaces), so stored hashes and documented examples do not change: strings are escaped by
// nlohmann itself unless they are plain printable ASCII, the alphabet of ids, dates, codes.
// The caller writes keys and values in document order; the writer adds the separators.
#include <cstdint>
#include <string>
#include <string_view>

namespace coalition {

// What a JSON string does with bytes that are not UTF-8: refuse them (nlohmann's type_error) or
// write U+FFFD for each (for log lines, which must never fail).
enum class InvalidUtf8 { refuse, replace };

// Appends `text` as a JSON string, as nlohmann's dump() writes it: plain printable ASCII, nearly
// every id and value, is copied as it is; anything else is escaped by nlohmann itself.
void append_json_string(std::string& out, std::string_view text,
                        InvalidUtf8 invalid = InvalidUtf8::refuse);

class JsonText {
  public:
    JsonText& begin_object() { return open('{'); }
    JsonText& end_object() { return close('}'); }
    JsonText& begin_array() { return open('['); }
    JsonText& end_array() { return close(']'); }
    // The key of the next value in the current object.
    JsonText& key(std::string_view name);
    JsonText& value(std::int64_t number);
    JsonText& value(std::string_view text);
    JsonText& null();

    // Convenience for the common "key": value pair.
    JsonText& field(std::string_view name, std::int64_t number) { return key(name).value(number); }
    JsonText& field(std::string_view name, std::string_view text) { return key(name).value(text); }

    void reserve(std::size_t bytes) { out_.reserve(bytes); }
    // The document so far; call once, when every container is closed.
    std::string take() { return std::move(out_); }

  private:
    JsonText& open(char bracket);
    JsonText& close(char bracket);
    void separate();  // a comma before every element but a container's first
    void quoted(std::string_view text);

    std::string out_;
    bool first_in_container_ = true;
    bool after_key_ = false;
};

}  // namespace coalition
