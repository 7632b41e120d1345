// Claim body parsing and validation (contract §2): one table of bodies, each asserting the exact
// outcome (code and field, or the resolved points), plus a few tests of the parsed values.
#include "partners/claim_request.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <variant>

namespace coalition::partners {
namespace {

constexpr std::int64_t kDefaultEarnRate = 1;

struct Row {
    std::string name;  // test name suffix: letters, digits, underscores
    std::string body;
    std::optional<ErrorCode> code;  // nullopt: accepted
    std::string field;              // expected ApiError::field (refused rows)
    std::int64_t points = 0;        // expected resolved points (accepted rows)
    std::int64_t earn_rate = kDefaultEarnRate;
};

Row ok(std::string name, std::string body, std::int64_t points,
       std::int64_t earn_rate = kDefaultEarnRate) {
    return Row{std::move(name), std::move(body), std::nullopt, {}, points, earn_rate};
}
Row malformed(std::string name, std::string body) {
    return Row{std::move(name), std::move(body), ErrorCode::malformed_json, {}, 0,
               kDefaultEarnRate};
}
Row refused(std::string name, std::string body, std::string field,
            std::int64_t earn_rate = kDefaultEarnRate) {
    return Row{std::move(name), std::move(body), ErrorCode::invalid_field, std::move(field), 0,
               earn_rate};
}

void PrintTo(const Row& row, std::ostream* out) { *out << row.name << ": " << row.body; }

// Bodies are assembled from these so each row shows only what it is about.
std::string earn_with(const std::string& fields) {
    return R"({"type": "earn", "member_id": "M-1001", )" + fields + "}";
}
std::string earn_points(const std::string& points) { return earn_with(R"("points": )" + points); }
std::string burn_points(const std::string& points) {
    return R"({"type": "burn", "member_id": "M-1001", "points": )" + points + "}";
}
std::string earn_purchase(const std::string& purchase) {
    return earn_with(R"("purchase": )" + purchase);
}
std::string purchase_amount(const std::string& amount) {
    return earn_purchase(R"({"amount_minor": )" + amount + R"(, "currency": "EUR"})");
}
std::string earn_member(const std::string& member_id) {
    return R"({"type": "earn", "points": 1, "member_id": )" + member_id + "}";
}
std::string reversal_of(const std::string& reverses) {
    return R"({"type": "reversal", "reverses": )" + reverses + "}";
}
std::string earn_occurred_at(const std::string& value) {
    return earn_with(R"("points": 1, "occurred_at": )" + value);
}
std::string earn_reference(const std::string& value) {
    return earn_with(R"("points": 1, "reference": )" + value);
}
std::string quoted(const std::string& text) { return "\"" + text + "\""; }
std::string repeat(const std::string& unit, std::size_t times) {
    std::string out;
    for (std::size_t i = 0; i < times; ++i) out += unit;
    return out;
}

const std::string kEacute = "\xc3\xa9";  // é: one code point, two bytes

std::vector<Row> rows() {
    return {
        // --- the contract's own examples ----------------------------------------------------
        ok("contract_earn_points",
           R"({"type": "earn", "member_id": "M-1001", "points": 120,
               "occurred_at": "2026-11-21T14:03:00Z", "reference": "till-7/receipt-88812"})",
           120),
        ok("contract_earn_purchase",
           R"({"type": "earn", "member_id": "M-1001",
               "purchase": {"amount_minor": 12050, "currency": "EUR"}})",
           120),
        ok("contract_burn", R"({"type": "burn", "member_id": "M-1001", "points": 500})", 500),
        ok("contract_reversal", R"({"type": "reversal", "reverses": "msg_p5jXN8AQM9LWM0D4"})", 0),

        // --- not JSON, not UTF-8, not an object -----------------------------------------------
        malformed("empty_body", ""),
        malformed("whitespace_body", " \r\n\t"),
        malformed("null_body", "null"),
        malformed("array_body", "[]"),
        malformed("array_of_claim", "[" + burn_points("5") + "]"),
        malformed("string_body", R"("earn")"),
        malformed("number_body", "42"),
        malformed("bool_body", "true"),
        malformed("truncated_object", R"({"type": "earn")"),
        malformed("trailing_comma", R"({"type": "burn", "member_id": "M-1", "points": 5,})"),
        malformed("trailing_garbage", burn_points("5") + " x"),
        malformed("two_objects", burn_points("5") + burn_points("5")),
        // nlohmann stops at a NUL byte; what follows it must not be silently ignored.
        malformed("nul_then_object", burn_points("5") + std::string(1, '\0') + R"({"pionts": 5})"),
        malformed("nul_at_end", burn_points("5") + std::string(1, '\0')),
        malformed("nul_in_string", R"({"type": "burn", "member_id": "M-1)" + std::string(1, '\0') +
                                       R"(", "points": 5})"),
        malformed("single_quotes", R"({'type': 'burn', 'member_id': 'M-1', 'points': 5})"),
        malformed("unquoted_key", R"({type: "burn"})"),
        malformed("comment", R"({"type": "burn", /* hi */ "member_id": "M-1", "points": 5})"),
        malformed("nan_points", burn_points("NaN")),
        malformed("infinity_points", burn_points("Infinity")),
        malformed("leading_plus", burn_points("+5")),
        malformed("leading_zero", burn_points("05")),
        malformed("hex_number", burn_points("0x10")),
        malformed("invalid_utf8_in_string", earn_reference("\"bad\xff!\"")),
        malformed("overlong_utf8", earn_reference("\"\xc0\xaf\"")),
        malformed("utf8_surrogate_bytes", earn_reference("\"\xed\xa0\x80\"")),
        malformed("truncated_utf8", earn_reference("\"\xc3\"")),
        malformed("latin1_byte", earn_reference("\"caf\xe9\"")),
        malformed("lone_surrogate_escape", earn_reference(R"("\ud800")")),
        malformed("invalid_byte_outside_string", burn_points("5") + "\xff"),
        malformed("raw_newline_in_string", earn_reference("\"a\nb\"")),
        malformed("bad_escape", earn_reference(R"("\x41")")),
        malformed("nul_byte", std::string("{\"type\": \"burn\"\0}", 17)),
        malformed("deep_nesting_top", repeat("[", 20000) + repeat("]", 20000)),

        // --- duplicate keys: never silently resolved ------------------------------------------
        refused("duplicate_type",
                R"({"type": "earn", "type": "burn", "member_id": "M-1", "points": 5})", "type"),
        refused("duplicate_points_same_value",
                R"({"type": "burn", "member_id": "M-1", "points": 5, "points": 5})", "points"),
        refused("duplicate_nested_currency",
                earn_purchase(R"({"amount_minor": 100, "currency": "EUR", "currency": "USD"})"),
                "purchase.currency"),
        refused("duplicate_unknown_key", earn_points(R"(1, "x": 1, "x": 2)"), "x"),
        refused("duplicate_escaped_spelling",
                R"({"type": "burn", "member_id": "M-1", "points": 5, "p\u006fints": 6})", "points"),

        // --- unknown fields --------------------------------------------------------------------
        refused("unknown_field", earn_points(R"(1, "coupon": "X")"), "coupon"),
        refused("unknown_field_with_an_empty_name", earn_points(R"(1, "": 2)"), ""),
        refused("misspelt_type", R"({"tpye": "earn", "member_id": "M-1", "points": 1})", "tpye"),
        refused("wrong_case_field", R"({"type": "burn", "member_id": "M-1", "Points": 5})",
                "Points"),
        refused("unknown_null_field", earn_points(R"(1, "note": null)"), "note"),
        refused("empty_key", earn_points(R"(1, "": 1)"), ""),
        refused("nested_unknown_key",
                earn_purchase(R"({"amount_minor": 100, "currency": "EUR", "tax": 1})"),
                "purchase.tax"),
        refused("nested_misspelt_key", earn_purchase(R"({"amount": 100, "currency": "EUR"})"),
                "purchase.amount"),
        refused("deep_nesting_in_unknown",
                earn_points("1, \"x\": " + repeat("[", 10000) + repeat("]", 10000)), "x"),

        // --- type --------------------------------------------------------------------------------
        refused("empty_object", "{}", "type"),
        refused("type_missing", R"({"member_id": "M-1", "points": 1})", "type"),
        refused("type_null", R"({"type": null, "member_id": "M-1", "points": 1})", "type"),
        refused("type_number", R"({"type": 1, "member_id": "M-1", "points": 1})", "type"),
        refused("type_upper_case", R"({"type": "EARN", "member_id": "M-1", "points": 1})", "type"),
        refused("type_empty", R"({"type": "", "member_id": "M-1", "points": 1})", "type"),
        refused("type_unknown", R"({"type": "refund", "member_id": "M-1", "points": 1})", "type"),
        refused("type_array", R"({"type": ["earn"], "member_id": "M-1", "points": 1})", "type"),
        refused("type_trailing_space", R"({"type": "earn ", "member_id": "M-1", "points": 1})",
                "type"),
        ok("type_escaped", R"({"type": "\u0065arn", "member_id": "M-1", "points": 1})", 1),

        // --- member_id ---------------------------------------------------------------------------
        ok("member_id_one_char", earn_member(R"("a")"), 1),
        ok("member_id_64_chars", earn_member(quoted(std::string(64, 'm'))), 1),
        ok("member_id_all_classes", earn_member(R"("Az09._-")"), 1),
        refused("member_id_65_chars", earn_member(quoted(std::string(65, 'm'))), "member_id"),
        refused("member_id_empty", earn_member(R"("")"), "member_id"),
        refused("member_id_space", earn_member(R"("M 1001")"), "member_id"),
        refused("member_id_slash", earn_member(R"("M/1001")"), "member_id"),
        refused("member_id_at", earn_member(R"("m@example.com")"), "member_id"),
        refused("member_id_non_ascii", earn_member(quoted("M" + kEacute)), "member_id"),
        refused("member_id_nul_escape", earn_member(R"("M\u0000")"), "member_id"),
        refused("member_id_number", earn_member("1001"), "member_id"),
        refused("member_id_null", earn_member("null"), "member_id"),
        refused("member_id_missing_earn", R"({"type": "earn", "points": 1})", "member_id"),
        refused("member_id_missing_burn", R"({"type": "burn", "points": 1})", "member_id"),

        // --- which fields each type takes ----------------------------------------------------
        refused("earn_with_reverses", earn_points(R"(1, "reverses": "msg_1")"), "reverses"),
        refused("burn_with_reverses",
                R"({"type": "burn", "member_id": "M-1", "points": 1, "reverses": "msg_1"})",
                "reverses"),
        refused("reversal_with_member_id",
                R"({"type": "reversal", "reverses": "msg_1", "member_id": "M-1"})", "member_id"),
        refused("reversal_with_points", R"({"type": "reversal", "reverses": "msg_1", "points": 1})",
                "points"),
        refused("reversal_with_purchase",
                R"({"type": "reversal", "reverses": "msg_1",
                    "purchase": {"amount_minor": 100, "currency": "EUR"}})",
                "purchase"),
        refused("reversal_without_reverses", R"({"type": "reversal"})", "reverses"),
        refused("burn_with_purchase",
                R"({"type": "burn", "member_id": "M-1", "points": 5,
                    "purchase": {"amount_minor": 100, "currency": "EUR"}})",
                "purchase"),
        refused("burn_without_points", R"({"type": "burn", "member_id": "M-1"})", "points"),
        refused("earn_with_points_and_purchase",
                earn_with(R"("points": 5, "purchase": {"amount_minor": 100, "currency": "EUR"})"),
                "purchase"),
        refused("earn_without_points_or_purchase", R"({"type": "earn", "member_id": "M-1"})",
                "points"),
        ok("reversal_with_occurred_at_and_reference",
           R"({"type": "reversal", "reverses": "msg_1", "occurred_at": "2026-11-21T14:03:00Z",
               "reference": "refund 17"})",
           0),

        // --- reverses ----------------------------------------------------------------------------
        ok("reverses_128_chars", reversal_of(quoted(std::string(128, 'r'))), 0),
        ok("reverses_punctuation", reversal_of(R"("!#$%&'()*+,-./:;<=>?@[]^_`{|}~")"), 0),
        refused("reverses_129_chars", reversal_of(quoted(std::string(129, 'r'))), "reverses"),
        refused("reverses_empty", reversal_of(R"("")"), "reverses"),
        ok("reverses_space", reversal_of(R"("msg 1")"), 0),  // the space is printable ASCII
        refused("reverses_tab", reversal_of(R"("msg\t1")"), "reverses"),
        refused("reverses_non_ascii", reversal_of(quoted("msg" + kEacute)), "reverses"),
        refused("reverses_control", reversal_of(R"("msg\u007f")"), "reverses"),
        refused("reverses_number", reversal_of("17"), "reverses"),
        refused("reverses_null", reversal_of("null"), "reverses"),

        // --- points ------------------------------------------------------------------------------
        ok("points_min", burn_points("1"), 1),
        ok("points_max", burn_points("10000000"), 10'000'000),
        ok("earn_points_max", earn_points("10000000"), 10'000'000),
        refused("points_zero", burn_points("0"), "points"),
        refused("points_negative_zero", burn_points("-0"), "points"),
        refused("points_negative", burn_points("-1"), "points"),
        refused("points_above_max", burn_points("10000001"), "points"),
        refused("earn_points_above_max", earn_points("10000001"), "points"),
        refused("earn_points_zero", earn_points("0"), "points"),
        refused("points_float_integral", burn_points("120.0"), "points"),
        refused("points_float", burn_points("1.5"), "points"),
        refused("points_exponent", burn_points("1e2"), "points"),
        refused("points_string", burn_points(R"("120")"), "points"),
        refused("points_true", burn_points("true"), "points"),
        refused("points_null", burn_points("null"), "points"),
        refused("points_array", burn_points("[120]"), "points"),
        refused("points_object", burn_points("{}"), "points"),
        refused("points_int64_max", burn_points("9223372036854775807"), "points"),
        refused("points_above_int64", burn_points("9223372036854775808"), "points"),
        refused("points_uint64_max", burn_points("18446744073709551615"), "points"),
        refused("points_above_uint64", burn_points("18446744073709551616"), "points"),
        refused("points_huge", burn_points("99999999999999999999999999999"), "points"),
        // Valid JSON beyond a double: out of range, where it is (not malformed JSON).
        refused("points_beyond_a_double", burn_points("1e400"), "points"),
        refused("points_beyond_a_double_negative", burn_points("-1e400"), "points"),
        refused("purchase_amount_beyond_a_double", purchase_amount("1e400"),
                "purchase.amount_minor"),
        refused("unknown_field_beyond_a_double", earn_with(R"("points": 1, "x": 1e400)"), "x"),
        malformed("body_beyond_a_double", "1e400"),
        refused("points_below_int64", burn_points("-9223372036854775809"), "points"),
        refused("points_int64_min", burn_points("-9223372036854775808"), "points"),

        // --- purchase ----------------------------------------------------------------------------
        ok("purchase_one_point", purchase_amount("100"), 1),
        ok("purchase_floor", purchase_amount("199"), 1),
        ok("purchase_max_points", purchase_amount("1000000000"), 10'000'000),
        ok("purchase_max_points_floor", purchase_amount("1000000099"), 10'000'000),
        ok("purchase_earn_rate_250", purchase_amount("12050"), 30125, 250),
        ok("purchase_earn_rate_1000000", purchase_amount("1"), 10000, 1'000'000),
        ok("purchase_keys_any_order", earn_purchase(R"({"currency": "EUR", "amount_minor": 500})"),
           5),
        refused("purchase_zero_points", purchase_amount("99"), "purchase.amount_minor"),
        refused("purchase_above_max_points", purchase_amount("1000000100"),
                "purchase.amount_minor"),
        refused("purchase_int64_max", purchase_amount("9223372036854775807"),
                "purchase.amount_minor"),
        refused("purchase_overflowing_product", purchase_amount("9223372036854775807"),
                "purchase.amount_minor", 250),
        refused("purchase_amount_zero", purchase_amount("0"), "purchase.amount_minor"),
        refused("purchase_amount_negative", purchase_amount("-12050"), "purchase.amount_minor"),
        refused("purchase_amount_float", purchase_amount("12050.0"), "purchase.amount_minor"),
        refused("purchase_amount_string", purchase_amount(R"("12050")"), "purchase.amount_minor"),
        refused("purchase_amount_null", purchase_amount("null"), "purchase.amount_minor"),
        refused("purchase_amount_above_int64", purchase_amount("9223372036854775808"),
                "purchase.amount_minor"),
        refused("purchase_amount_missing", earn_purchase(R"({"currency": "EUR"})"),
                "purchase.amount_minor"),
        refused("purchase_empty_object", earn_purchase("{}"), "purchase.amount_minor"),
        refused("purchase_currency_missing", earn_purchase(R"({"amount_minor": 100})"),
                "purchase.currency"),
        refused("purchase_currency_other",
                earn_purchase(R"({"amount_minor": 100, "currency": "USD"})"), "purchase.currency"),
        refused("purchase_currency_lower_case",
                earn_purchase(R"({"amount_minor": 100, "currency": "eur"})"), "purchase.currency"),
        refused("purchase_currency_four_letters",
                earn_purchase(R"({"amount_minor": 100, "currency": "EURO"})"), "purchase.currency"),
        refused("purchase_currency_number",
                earn_purchase(R"({"amount_minor": 100, "currency": 978})"), "purchase.currency"),
        refused("purchase_currency_null",
                earn_purchase(R"({"amount_minor": 100, "currency": null})"), "purchase.currency"),
        refused("purchase_array", earn_purchase("[100, \"EUR\"]"), "purchase"),
        refused("purchase_string", earn_purchase(R"("12050 EUR")"), "purchase"),
        refused("purchase_null", earn_purchase("null"), "purchase"),
        refused("purchase_number", earn_purchase("12050"), "purchase"),

        // --- occurred_at -------------------------------------------------------------------------
        ok("occurred_at_fraction_9", earn_occurred_at(R"("2026-11-21T14:03:00.123456789Z")"), 1),
        ok("occurred_at_fraction_1", earn_occurred_at(R"("2026-11-21T14:03:00.5Z")"), 1),
        ok("occurred_at_positive_offset", earn_occurred_at(R"("2026-11-21T14:03:00+05:30")"), 1),
        ok("occurred_at_unknown_offset", earn_occurred_at(R"("2026-11-21T14:03:00-00:00")"), 1),
        ok("occurred_at_max_offset", earn_occurred_at(R"("9999-12-31T23:59:59+23:59")"), 1),
        ok("occurred_at_leap_day", earn_occurred_at(R"("2024-02-29T00:00:00Z")"), 1),
        ok("occurred_at_leap_day_400", earn_occurred_at(R"("2000-02-29T12:00:00Z")"), 1),
        ok("occurred_at_year_1", earn_occurred_at(R"("0001-01-01T00:00:00Z")"), 1),
        ok("occurred_at_month_ends", earn_occurred_at(R"("2026-04-30T00:00:00Z")"), 1),
        refused("occurred_at_not_leap", earn_occurred_at(R"("2026-02-29T00:00:00Z")"),
                "occurred_at"),
        refused("occurred_at_century_not_leap", earn_occurred_at(R"("1900-02-29T00:00:00Z")"),
                "occurred_at"),
        refused("occurred_at_day_31_of_april", earn_occurred_at(R"("2026-04-31T00:00:00Z")"),
                "occurred_at"),
        refused("occurred_at_day_zero", earn_occurred_at(R"("2026-04-00T00:00:00Z")"),
                "occurred_at"),
        refused("occurred_at_month_13", earn_occurred_at(R"("2026-13-01T00:00:00Z")"),
                "occurred_at"),
        refused("occurred_at_month_zero", earn_occurred_at(R"("2026-00-01T00:00:00Z")"),
                "occurred_at"),
        refused("occurred_at_year_zero", earn_occurred_at(R"("0000-01-01T00:00:00Z")"),
                "occurred_at"),
        refused("occurred_at_hour_24", earn_occurred_at(R"("2026-11-21T24:00:00Z")"),
                "occurred_at"),
        refused("occurred_at_minute_60", earn_occurred_at(R"("2026-11-21T23:60:00Z")"),
                "occurred_at"),
        refused("occurred_at_leap_second", earn_occurred_at(R"("2016-12-31T23:59:60Z")"),
                "occurred_at"),
        // Valid RFC 3339, but before year 1 or after 9999 once in UTC.
        refused("occurred_at_before_year_1_in_utc",
                earn_occurred_at(R"("0001-01-01T00:30:00+01:00")"), "occurred_at"),
        refused("occurred_at_after_9999_in_utc", earn_occurred_at(R"("9999-12-31T23:00:00-01:00")"),
                "occurred_at"),
        refused("occurred_at_date_only", earn_occurred_at(R"("2026-11-21")"), "occurred_at"),
        refused("occurred_at_no_offset", earn_occurred_at(R"("2026-11-21T14:03:00")"),
                "occurred_at"),
        refused("occurred_at_no_seconds", earn_occurred_at(R"("2026-11-21T14:03Z")"),
                "occurred_at"),
        refused("occurred_at_space_separator", earn_occurred_at(R"("2026-11-21 14:03:00Z")"),
                "occurred_at"),
        refused("occurred_at_lower_case", earn_occurred_at(R"("2026-11-21t14:03:00z")"),
                "occurred_at"),
        refused("occurred_at_one_digit_month", earn_occurred_at(R"("2026-1-21T14:03:00Z")"),
                "occurred_at"),
        refused("occurred_at_empty_fraction", earn_occurred_at(R"("2026-11-21T14:03:00.Z")"),
                "occurred_at"),
        refused("occurred_at_fraction_10", earn_occurred_at(R"("2026-11-21T14:03:00.1234567890Z")"),
                "occurred_at"),
        refused("occurred_at_offset_hour_24", earn_occurred_at(R"("2026-11-21T14:03:00+24:00")"),
                "occurred_at"),
        refused("occurred_at_offset_minute_60", earn_occurred_at(R"("2026-11-21T14:03:00+05:60")"),
                "occurred_at"),
        refused("occurred_at_offset_no_colon", earn_occurred_at(R"("2026-11-21T14:03:00+0530")"),
                "occurred_at"),
        refused("occurred_at_offset_seconds", earn_occurred_at(R"("2026-11-21T14:03:00+05:30:00")"),
                "occurred_at"),
        refused("occurred_at_trailing", earn_occurred_at(R"("2026-11-21T14:03:00Zx")"),
                "occurred_at"),
        refused("occurred_at_leading_space", earn_occurred_at(R"(" 2026-11-21T14:03:00Z")"),
                "occurred_at"),
        refused("occurred_at_five_digit_year", earn_occurred_at(R"("12026-11-21T14:03:00Z")"),
                "occurred_at"),
        refused("occurred_at_negative_year", earn_occurred_at(R"("-2026-11-21T14:03:00Z")"),
                "occurred_at"),
        refused("occurred_at_unix_number", earn_occurred_at("1614265330"), "occurred_at"),
        refused("occurred_at_null", earn_occurred_at("null"), "occurred_at"),
        refused("occurred_at_empty", earn_occurred_at(R"("")"), "occurred_at"),

        // --- reference ---------------------------------------------------------------------------
        ok("reference_empty", earn_reference(R"("")"), 1),
        ok("reference_128_ascii", earn_reference(quoted(std::string(128, 'r'))), 1),
        ok("reference_128_code_points", earn_reference(quoted(repeat(kEacute, 128))), 1),
        ok("reference_astral_128", earn_reference(quoted(repeat("\xf0\x9f\x92\xb3", 128))), 1),
        ok("reference_escaped_unicode", earn_reference(R"("caf\u00e9 \ud83d\udcb3")"), 1),
        ok("reference_quote_and_backslash", earn_reference(R"("a\"b\\c")"), 1),
        refused("reference_129_ascii", earn_reference(quoted(std::string(129, 'r'))), "reference"),
        refused("reference_129_code_points", earn_reference(quoted(repeat(kEacute, 129))),
                "reference"),
        refused("reference_newline", earn_reference(R"("line\nbreak")"), "reference"),
        refused("reference_tab", earn_reference(R"("a\tb")"), "reference"),
        refused("reference_nul", earn_reference(R"("a\u0000b")"), "reference"),
        refused("reference_del", earn_reference(R"("a\u007fb")"), "reference"),
        refused("reference_c1_control", earn_reference(R"("a\u0085b")"), "reference"),
        refused("reference_number", earn_reference("88812"), "reference"),
        refused("reference_null", earn_reference("null"), "reference"),
        refused("reference_object", earn_reference("{}"), "reference"),

        // --- whitespace and encoding that are fine ---------------------------------------------
        ok("surrounding_whitespace", "\r\n\t " + burn_points("7") + " \n", 7),
        ok("utf8_bom_ignored", "\xef\xbb\xbf" + burn_points("7"), 7),
        ok("fields_any_order", R"({"points": 7, "member_id": "M-1", "type": "burn"})", 7),

        // --- which error wins when several apply ----------------------------------------------
        refused("unknown_field_before_type", R"({"type": "nope", "zzz": 1})", "zzz"),
        refused("type_before_values", R"({"type": "nope", "member_id": "bad id"})", "type"),
        refused("not_allowed_before_invalid",
                R"({"type": "burn", "member_id": "M-1", "points": -1, "purchase": "x"})",
                "purchase"),
        refused("not_allowed_before_required", R"({"type": "reversal", "member_id": "bad id"})",
                "member_id"),
        refused("member_id_before_points",
                R"({"type": "burn", "member_id": "bad id", "points": -1})", "member_id"),
        refused("required_before_values", R"({"type": "burn", "points": -1})", "member_id"),
    };
}

class ClaimTable : public ::testing::TestWithParam<Row> {};

TEST_P(ClaimTable, ParsesToTheExpectedOutcome) {
    const Row& row = GetParam();
    const ClaimParseResult result =
        parse_claim_request(row.body, ClaimContext{"EUR", row.earn_rate});
    if (!row.code) {
        const auto* error = std::get_if<ApiError>(&result);
        ASSERT_EQ(error, nullptr) << error_name(error->code) << " field=" << error->field;
        EXPECT_EQ(std::get<ClaimRequest>(result).points.value(), row.points);
        return;
    }
    const auto* error = std::get_if<ApiError>(&result);
    ASSERT_NE(error, nullptr) << "accepted";
    EXPECT_EQ(error_name(error->code), error_name(*row.code));
    EXPECT_EQ(error->field, row.field);
    EXPECT_FALSE(error->message.empty());
}

INSTANTIATE_TEST_SUITE_P(Bodies, ClaimTable, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& param_info) {
                             return param_info.param.name;
                         });

ClaimRequest parse_ok(const std::string& body, const ClaimContext& context = {"EUR", 1}) {
    ClaimParseResult result = parse_claim_request(body, context);
    if (const auto* error = std::get_if<ApiError>(&result)) {
        ADD_FAILURE() << error_name(error->code) << " field=" << error->field;
        return {};
    }
    return std::get<ClaimRequest>(std::move(result));
}

TEST(ClaimRequest, EarnWithPointsKeepsEveryValue) {
    const ClaimRequest request = parse_ok(
        R"({"type": "earn", "member_id": "M-1001", "points": 120,
            "occurred_at": "2026-11-21T14:03:00.250+01:00", "reference": "till-7/receipt-88812"})");
    EXPECT_EQ(request.type, ClaimType::earn);
    EXPECT_EQ(request.member_id, "M-1001");
    EXPECT_EQ(request.points, Points(120));
    EXPECT_FALSE(request.points_from_purchase);
    EXPECT_FALSE(request.purchase.has_value());
    EXPECT_EQ(request.occurred_at, "2026-11-21T13:03:00.250Z");  // the same instant, in UTC
    EXPECT_EQ(request.reference, "till-7/receipt-88812");
    EXPECT_TRUE(request.reverses.empty());
}

// The contract's formula holds in every currency: / 100, not / the currency's minor units.
TEST(ClaimRequest, EarnWithPurchaseDividesBy100WhateverTheCurrencysDecimals) {
    EXPECT_EQ(parse_ok(R"({"type": "earn", "member_id": "M-1",
                           "purchase": {"amount_minor": 12050, "currency": "JPY"}})",
                       ClaimContext{"JPY", 1})
                  .points,
              Points(120));  // 12,050 yen at 1 point per 100 yen
    EXPECT_EQ(parse_ok(R"({"type": "earn", "member_id": "M-1",
                           "purchase": {"amount_minor": 12050, "currency": "KWD"}})",
                       ClaimContext{"KWD", 2})
                  .points,
              Points(241));  // 12.050 dinar at 2 points per 0.100 dinar
}

TEST(ClaimRequest, EarnWithPurchaseComputesPoints) {
    const ClaimRequest request = parse_ok(
        R"({"type": "earn", "member_id": "M-1001",
            "purchase": {"amount_minor": 12050, "currency": "GBP"}})",
        ClaimContext{"GBP", 3});
    EXPECT_EQ(request.points, Points(361));  // floor(12050 × 3 / 100) = floor(361.5)
    EXPECT_TRUE(request.points_from_purchase);
    ASSERT_TRUE(request.purchase.has_value());
    EXPECT_EQ(request.purchase->amount_minor, 12050);
    EXPECT_EQ(request.purchase->currency, "GBP");
    EXPECT_FALSE(request.occurred_at.has_value());
    EXPECT_FALSE(request.reference.has_value());
}

TEST(ClaimRequest, BurnAndReversal) {
    const ClaimRequest burn =
        parse_ok(R"({"type": "burn", "member_id": "M.1_0-1", "points": 500})");
    EXPECT_EQ(burn.type, ClaimType::burn);
    EXPECT_EQ(burn.member_id, "M.1_0-1");
    EXPECT_EQ(burn.points, Points(500));

    const ClaimRequest reversal =
        parse_ok(R"({"type": "reversal", "reverses": "msg_p5jXN8AQM9LWM0D4loKWxJek"})");
    EXPECT_EQ(reversal.type, ClaimType::reversal);
    EXPECT_EQ(reversal.reverses, "msg_p5jXN8AQM9LWM0D4loKWxJek");
    EXPECT_TRUE(reversal.member_id.empty());
    EXPECT_EQ(reversal.points, Points(0));
}

TEST(ClaimRequest, EscapedStringsAreDecoded) {
    const ClaimRequest request = parse_ok(
        R"({"type": "earn", "member_id": "M\u002d1", "points": 1, "reference": "caf\u00e9"})");
    EXPECT_EQ(request.member_id, "M-1");
    EXPECT_EQ(request.reference, "caf\xc3\xa9");
}

// The program currency is whatever the context says, not a built-in EUR.
TEST(ClaimRequest, CurrencyComesFromTheContext) {
    const std::string body = R"({"type": "earn", "member_id": "M-1",
                                 "purchase": {"amount_minor": 100, "currency": "EUR"}})";
    const ClaimParseResult result = parse_claim_request(body, ClaimContext{"USD", 1});
    const auto* error = std::get_if<ApiError>(&result);
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->code, ErrorCode::invalid_field);
    EXPECT_EQ(error->field, "purchase.currency");
}

// Stored in UTC: PostgreSQL refuses offsets beyond ±15:59, which RFC 3339 allows; a claim with
// such an offset answered 500 for ever before.
TEST(ClaimRequest, OccurredAtIsTheSameInstantInUtc) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"2026-11-21T14:03:00Z", "2026-11-21T14:03:00Z"},
        {"2026-11-21T14:03:00-00:00", "2026-11-21T14:03:00Z"},
        {"2026-11-21T14:03:00.123456789+05:30", "2026-11-21T08:33:00.123456Z"},  // to the µs
        {"2026-11-21T14:03:00.1234567Z", "2026-11-21T14:03:00.123456Z"},
        {"2026-11-21T14:03:00.5Z", "2026-11-21T14:03:00.5Z"},
        // PostgreSQL rounded the seventh digit up, into year 10000 (found by review).
        {"9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999999Z"},
        {"2026-11-21T02:03:00+16:00", "2026-11-20T10:03:00Z"},  // back across a day
        {"2026-12-31T20:00:59-23:59", "2027-01-01T19:59:59Z"},  // forward across a year
        {"2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00Z"},  // into a leap day
        {"9999-12-31T23:59:59+23:59", "9999-12-31T00:00:59Z"},
        {"0001-01-01T00:00:00-01:00", "0001-01-01T01:00:00Z"},
    };
    for (const auto& [sent, utc] : cases) {
        ASSERT_TRUE(is_valid_rfc3339_date_time(sent)) << sent;
        EXPECT_EQ(rfc3339_in_utc(sent), utc) << sent;
    }
    EXPECT_EQ(rfc3339_in_utc("0001-01-01T00:59:59+01:00"), std::nullopt);
    EXPECT_EQ(rfc3339_in_utc("9999-12-31T23:00:00-01:00"), std::nullopt);
}

// An empty key names no field (an error's `field` is left out when empty): the message says
// why the claim was refused (found by review: "unknown field", and no field named).
TEST(ClaimRequest, AnUnknownKeyWithAnEmptyNameIsSaidToBeOne) {
    for (const auto* body : {R"({"type": "earn", "member_id": "M-1", "points": 1, "": 2})",
                             R"({"type": "earn", "member_id": "M-1",
                                 "purchase": {"amount_minor": 1, "currency": "EUR", "": 2}})"}) {
        const auto parsed = parse_claim_request(body, ClaimContext{"EUR", kDefaultEarnRate});
        const auto* error = std::get_if<ApiError>(&parsed);
        ASSERT_NE(error, nullptr) << body;
        EXPECT_EQ(error->code, ErrorCode::invalid_field);
        EXPECT_EQ(error->message, "unknown field, with an empty name") << body;
    }
}

TEST(ClaimType, Names) {
    EXPECT_EQ(claim_type_name(ClaimType::earn), "earn");
    EXPECT_EQ(claim_type_name(ClaimType::burn), "burn");
    EXPECT_EQ(claim_type_name(ClaimType::reversal), "reversal");
}

}  // namespace
}  // namespace coalition::partners
