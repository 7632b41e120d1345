#include "settlement/run.hpp"

#include <chrono>

namespace coalition::settlement {

std::string_view to_string(RunStatus status) {
    switch (status) {
        case RunStatus::provisional:
            return "provisional";
        case RunStatus::closed:
            return "closed";
    }
    return "provisional";  // unreachable: every enumerator is handled above
}

std::optional<RunStatus> parse_run_status(std::string_view text) {
    if (text == "provisional") return RunStatus::provisional;
    if (text == "closed") return RunStatus::closed;
    return std::nullopt;
}

std::string_view to_string(SliceKind kind) {
    switch (kind) {
        case SliceKind::burn:
            return "burn";
        case SliceKind::burn_reversal:
            return "burn_reversal";
    }
    return "burn";  // unreachable: every enumerator is handled above
}

std::optional<SliceKind> parse_slice_kind(std::string_view text) {
    if (text == "burn") return SliceKind::burn;
    if (text == "burn_reversal") return SliceKind::burn_reversal;
    return std::nullopt;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int digits_value(std::string_view text) {
    int value = 0;
    for (char c : text) value = value * 10 + (c - '0');
    return value;
}

}  // namespace

std::optional<std::chrono::year_month_day> parse_settlement_date(std::string_view text) {
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
    for (std::size_t i : {0U, 1U, 2U, 3U, 5U, 6U, 8U, 9U}) {
        if (!is_digit(text[i])) return std::nullopt;
    }
    const std::chrono::year_month_day day{
        std::chrono::year{digits_value(text.substr(0, 4))},
        std::chrono::month{static_cast<unsigned>(digits_value(text.substr(5, 2)))},
        std::chrono::day{static_cast<unsigned>(digits_value(text.substr(8, 2)))}};
    if (!day.ok() || day.year() < std::chrono::year{1}) return std::nullopt;
    return day;
}

bool is_settlement_date(std::string_view text) { return parse_settlement_date(text).has_value(); }

bool is_partner_id(std::string_view text) {
    if (text.empty() || text.size() > 64 || text == kOperatorId) return false;
    for (char c : text) {
        const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
                             c == '.' || c == '_' || c == '-';
        if (!allowed) return false;
    }
    return true;
}

bool is_currency_code(std::string_view text) {
    if (text.size() != 3) return false;
    for (char c : text) {
        if (c < 'A' || c > 'Z') return false;
    }
    return true;
}

}  // namespace coalition::settlement
