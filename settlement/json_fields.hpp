#pragma once
// Strict field access shared by the run and statement parsers: a stored document that lacks a
// field, has one too many or a mistyped one is refused rather than read as zero.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace coalition::settlement::json_fields {

// Throws Error(what) naming `where` when `json` is not an object with exactly `names`.
template <typename Error>
void require_object(const nlohmann::json& json, std::string_view where,
                    std::initializer_list<std::string_view> names) {
    if (!json.is_object()) throw Error(std::string(where) + " is not an object");
    for (auto name : names) {
        if (!json.contains(name))
            throw Error(std::string(where) + "." + std::string(name) + " is missing");
    }
    if (json.size() != names.size()) {
        for (const auto& item : json.items()) {
            bool known = false;
            for (auto name : names) known = known || item.key() == name;
            if (!known) throw Error(std::string(where) + "." + item.key() + " is not a field");
        }
    }
}

template <typename Error>
std::int64_t integer(const nlohmann::json& json, std::string_view where, std::string_view name) {
    const auto& value = json.at(name);
    if (!value.is_number_integer()) {
        throw Error(std::string(where) + "." + std::string(name) + " is not an integer");
    }
    // nlohmann reads 2^63 and above as unsigned; get<int64_t> would wrap it silently.
    if (value.is_number_unsigned() &&
        value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
        throw Error(std::string(where) + "." + std::string(name) + " is out of range");
    }
    return value.get<std::int64_t>();
}

template <typename Error>
std::string text(const nlohmann::json& json, std::string_view where, std::string_view name) {
    const auto& value = json.at(name);
    if (!value.is_string()) {
        throw Error(std::string(where) + "." + std::string(name) + " is not a string");
    }
    return value.get<std::string>();
}

template <typename Error>
const nlohmann::json& array(const nlohmann::json& json, std::string_view where,
                            std::string_view name) {
    const auto& value = json.at(name);
    if (!value.is_array()) {
        throw Error(std::string(where) + "." + std::string(name) + " is not an array");
    }
    return value;
}

}  // namespace coalition::settlement::json_fields
