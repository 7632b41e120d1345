#include "partners/claim_request.hpp"

#include "core/json_input.hpp"
#include "partners/credentials.hpp"
#include "partners/webhook_signature.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <set>
#include <utility>
#include <vector>

namespace coalition::partners {
namespace {

using Json = nlohmann::json;

constexpr std::array<std::string_view, 7> kTopLevelFields{
    "type", "member_id", "points", "purchase", "occurred_at", "reference", "reverses"};
constexpr std::array<std::string_view, 2> kPurchaseFields{"amount_minor", "currency"};

ApiError invalid_field(std::string field, std::string message) {
    return ApiError{ErrorCode::invalid_field, std::move(message), std::move(field)};
}

// A key the contract does not define, named by its path (`prefix` + key). An empty key names
// no field at the top level (the error's `field` is left out when empty): the message says so.
ApiError unknown_field(const std::string& prefix, const std::string& key) {
    return invalid_field(prefix + key,
                         key.empty() ? "unknown field, with an empty name" : "unknown field");
}

ApiError malformed_json(std::string message) {
    return ApiError{ErrorCode::malformed_json, std::move(message), std::string()};
}

// Watches nlohmann's parse events for a key repeated within one object: the DOM keeps only one
// of the values, so the ambiguity has to be caught while parsing. Remembers the first one, as a
// dotted path of the enclosing object keys. Where a parse stops, it also knows the path of the
// key whose value was being read.
class DuplicateKeyFinder {
  public:
    bool on_event(Json::parse_event_t event, const Json& parsed) {
        switch (event) {
            case Json::parse_event_t::object_start:
                frames_.push_back(Frame{true, {}, {}});
                break;
            case Json::parse_event_t::array_start:
                frames_.push_back(Frame{false, {}, {}});
                break;
            case Json::parse_event_t::object_end:
            case Json::parse_event_t::array_end:
                if (!frames_.empty()) frames_.pop_back();
                break;
            case Json::parse_event_t::key:
                on_key(parsed.get_ref<const std::string&>());
                break;
            case Json::parse_event_t::value:
                break;
        }
        return true;  // keep everything: the body is refused as a whole afterwards
    }

    const std::optional<std::string>& duplicate_path() const { return duplicate_path_; }

    // The dotted path of the key read last, in the object being parsed.
    std::string current_path() const {
        std::string path;
        for (const Frame& frame : frames_) {
            if (!frame.is_object || frame.current_key.empty()) continue;
            if (!path.empty()) path += '.';
            path += frame.current_key;
        }
        return path;
    }

  private:
    struct Frame {
        bool is_object;
        std::set<std::string, std::less<>> keys;
        std::string current_key;
    };

    void on_key(const std::string& key) {
        if (frames_.empty()) return;
        Frame& object = frames_.back();
        if (!object.keys.insert(key).second && !duplicate_path_) {
            std::string path;
            for (std::size_t i = 0; i + 1 < frames_.size(); ++i) {
                if (!frames_[i].is_object) continue;
                path.append(frames_[i].current_key).append(1, '.');
            }
            duplicate_path_ = path + key;
        }
        object.current_key = key;
    }

    std::vector<Frame> frames_;
    std::optional<std::string> duplicate_path_;
};

const Json* find_field(const Json& object, std::string_view name) {
    const auto it = object.find(std::string(name));
    return it == object.end() ? nullptr : &*it;
}

template <std::size_t N>
bool is_one_of(const std::string& key, const std::array<std::string_view, N>& names) {
    for (const std::string_view name : names) {
        if (key == name) return true;
    }
    return false;
}

// The value of a JSON integer within [min, max], or nullopt for anything else: floats (120.0,
// 1e2), strings, booleans, null, and integers out of range. nlohmann stores non-negative
// integers as unsigned, so both representations are read.
std::optional<std::int64_t> integer_in_range(const Json& value, std::int64_t min,
                                             std::int64_t max) {
    std::int64_t number = 0;
    if (value.is_number_unsigned()) {
        const auto unsigned_number = value.get<std::uint64_t>();
        if (max < 0 || unsigned_number > static_cast<std::uint64_t>(max)) return std::nullopt;
        number = static_cast<std::int64_t>(unsigned_number);
    } else if (value.is_number_integer()) {
        number = value.get<std::int64_t>();
    } else {
        return std::nullopt;
    }
    if (number < min || number > max) return std::nullopt;
    return number;
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// `count` decimal digits at `text[position]`, or nullopt.
std::optional<int> read_digits(std::string_view text, std::size_t position, std::size_t count) {
    if (position + count > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = position; i < position + count; ++i) {
        if (!is_ascii_digit(text[i])) return std::nullopt;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
    static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && is_leap_year(year)) return 29;
    return kDays[static_cast<std::size_t>(month - 1)];
}

// The text has been validated as UTF-8 by the JSON parser, so code points are counted by their
// lead bytes and C1 controls (U+0080..U+009F) are exactly the sequences C2 80..C2 9F.
bool is_valid_reference(std::string_view text) {
    std::size_t code_points = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte < 0x20 || byte == 0x7f) return false;
        if (byte == 0xc2 && i + 1 < text.size()) {
            const auto next = static_cast<unsigned char>(text[i + 1]);
            if (next >= 0x80 && next <= 0x9f) return false;
        }
        if ((byte & 0xc0) != 0x80) ++code_points;
    }
    return code_points <= kReferenceCodePointsMax;
}

bool is_valid_currency_code(std::string_view text) {
    if (text.size() != 3) return false;
    for (const char c : text) {
        if (c < 'A' || c > 'Z') return false;
    }
    return true;
}

// floor(a / b) for b > 0, also for a negative a (C++ division truncates toward zero).
std::int64_t floor_divide(std::int64_t a, std::int64_t b) {
    std::int64_t quotient = a / b;
    if (a % b != 0 && a < 0) --quotient;
    return quotient;
}

std::optional<ApiError> parse_purchase(const Json& value, const ClaimContext& context,
                                       Purchase& out) {
    if (!value.is_object()) return invalid_field("purchase", "purchase must be an object");
    for (const auto& [key, ignored] : value.items()) {
        if (!is_one_of(key, kPurchaseFields)) return unknown_field("purchase.", key);
    }
    const Json* amount = find_field(value, "amount_minor");
    const std::optional<std::int64_t> amount_minor =
        amount ? integer_in_range(*amount, 1, std::numeric_limits<std::int64_t>::max())
               : std::nullopt;
    if (!amount_minor) {
        return invalid_field("purchase.amount_minor",
                             "purchase.amount_minor must be an integer of at least 1");
    }
    const Json* currency = find_field(value, "currency");
    if (currency == nullptr || !currency->is_string() ||
        !is_valid_currency_code(currency->get_ref<const std::string&>()) ||
        currency->get_ref<const std::string&>() != context.program_currency) {
        return purchase_currency_error(context.program_currency);
    }
    out.amount_minor = *amount_minor;
    out.currency = currency->get<std::string>();
    return std::nullopt;
}

// floor(amount_minor × earn_rate / 100), within the per-claim points range: the contract's
// formula, in every currency. For the two-decimal currencies (EUR, USD...) earn_rate is points
// per major unit; for JPY it is points per 100 yen, for KWD per 0.100 dinar (docs/partners.md).
std::optional<std::int64_t> points_for_purchase(const Purchase& purchase,
                                                const ClaimContext& context) {
    std::int64_t product = 0;
    try {
        product = checked_mul(purchase.amount_minor, context.earn_rate);
    } catch (const ArithmeticOverflow&) {
        return std::nullopt;  // far beyond kClaimPointsMax anyway
    }
    const std::int64_t points = floor_divide(product, 100);
    if (points < kClaimPointsMin || points > kClaimPointsMax) return std::nullopt;
    return points;
}

std::optional<ClaimType> claim_type_from(std::string_view name) {
    if (name == "earn") return ClaimType::earn;
    if (name == "burn") return ClaimType::burn;
    if (name == "reversal") return ClaimType::reversal;
    return std::nullopt;
}

std::optional<ApiError> refuse_if_present(const Json& object, std::string_view field,
                                          std::string_view type_name) {
    if (find_field(object, field) == nullptr) return std::nullopt;
    return invalid_field(std::string(field),
                         std::string(field) + " is not allowed on a " + std::string(type_name));
}

ClaimParseResult validate(const Json& body, const ClaimContext& context) {
    for (const auto& [key, ignored] : body.items()) {
        if (!is_one_of(key, kTopLevelFields)) return unknown_field("", key);
    }

    const Json* type_value = find_field(body, "type");
    const std::optional<ClaimType> type =
        type_value != nullptr && type_value->is_string()
            ? claim_type_from(type_value->get_ref<const std::string&>())
            : std::nullopt;
    if (!type) return invalid_field("type", "type must be one of earn, burn, reversal");
    const std::string_view type_name = claim_type_name(*type);

    // Fields that make no sense for this type are refused before anything else about them.
    if (*type == ClaimType::reversal) {
        for (const std::string_view field : {"member_id", "points", "purchase"}) {
            if (auto error = refuse_if_present(body, field, type_name)) return *error;
        }
    } else {
        if (auto error = refuse_if_present(body, "reverses", type_name)) return *error;
    }
    if (*type == ClaimType::burn) {
        if (auto error = refuse_if_present(body, "purchase", type_name)) return *error;
    }

    const Json* member_id = find_field(body, "member_id");
    const Json* reverses = find_field(body, "reverses");
    const Json* points = find_field(body, "points");
    const Json* purchase = find_field(body, "purchase");
    if (*type == ClaimType::reversal) {
        if (reverses == nullptr) return invalid_field("reverses", "reverses is required");
    } else if (member_id == nullptr) {
        return invalid_field("member_id", "member_id is required");
    }
    if (*type == ClaimType::burn && points == nullptr) {
        return invalid_field("points", "points is required on a burn");
    }
    if (*type == ClaimType::earn) {
        if (points != nullptr && purchase != nullptr) {
            return invalid_field("purchase", "an earn has either points or purchase, not both");
        }
        if (points == nullptr && purchase == nullptr) {
            return invalid_field("points", "an earn needs points or purchase");
        }
    }

    ClaimRequest request;
    request.type = *type;
    if (member_id != nullptr) {
        if (!member_id->is_string() ||
            !is_valid_entity_id(member_id->get_ref<const std::string&>())) {
            return invalid_field("member_id",
                                 "member_id must be 1-64 characters of [A-Za-z0-9._-]");
        }
        request.member_id = member_id->get<std::string>();
    }
    if (reverses != nullptr) {
        if (!reverses->is_string() ||
            !is_valid_webhook_id(reverses->get_ref<const std::string&>())) {
            return invalid_field("reverses",
                                 "reverses must be a webhook-id: 1-128 printable ASCII");
        }
        request.reverses = reverses->get<std::string>();
    }
    if (points != nullptr) {
        const auto value = integer_in_range(*points, kClaimPointsMin, kClaimPointsMax);
        if (!value) return invalid_field("points", "points must be an integer 1..10000000");
        request.points = Points(*value);
    }
    if (purchase != nullptr) {
        Purchase parsed;
        if (auto error = parse_purchase(*purchase, context, parsed)) return *error;
        request.purchase = std::move(parsed);
    }
    if (const Json* occurred_at = find_field(body, "occurred_at")) {
        if (!occurred_at->is_string() ||
            !is_valid_rfc3339_date_time(occurred_at->get_ref<const std::string&>())) {
            return invalid_field("occurred_at", "occurred_at must be an RFC 3339 date-time");
        }
        request.occurred_at = rfc3339_in_utc(occurred_at->get_ref<const std::string&>());
        if (!request.occurred_at) {
            return invalid_field("occurred_at",
                                 "occurred_at must lie in the years 0001-9999 in UTC");
        }
    }
    if (const Json* reference = find_field(body, "reference")) {
        if (!reference->is_string() ||
            !is_valid_reference(reference->get_ref<const std::string&>())) {
            return invalid_field(
                "reference", "reference must be a string of at most 128 characters, no controls");
        }
        request.reference = reference->get<std::string>();
    }

    if (request.purchase) {
        const std::optional<std::int64_t> computed =
            points_for_purchase(*request.purchase, context);
        if (!computed) {
            return invalid_field("purchase.amount_minor",
                                 "the purchase earns points outside 1..10000000");
        }
        request.points = Points(*computed);
        request.points_from_purchase = true;
    }
    return request;
}

}  // namespace

std::string_view claim_type_name(ClaimType type) {
    switch (type) {
        case ClaimType::earn:
            return "earn";
        case ClaimType::burn:
            return "burn";
        case ClaimType::reversal:
            return "reversal";
    }
    return "unknown";
}

ApiError purchase_currency_error(std::string_view program_currency) {
    return invalid_field("purchase.currency", "purchase.currency must be the program currency " +
                                                  std::string(program_currency));
}

bool is_valid_rfc3339_date_time(std::string_view text) {
    // full-date "T" partial-time time-offset (RFC 3339 §5.6), positions fixed up to the seconds.
    if (text.size() < 20) return false;
    if (text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':') {
        return false;
    }
    const auto year = read_digits(text, 0, 4);
    const auto month = read_digits(text, 5, 2);
    const auto day = read_digits(text, 8, 2);
    const auto hour = read_digits(text, 11, 2);
    const auto minute = read_digits(text, 14, 2);
    const auto second = read_digits(text, 17, 2);
    if (!year || !month || !day || !hour || !minute || !second) return false;
    if (*year < 1 || *month < 1 || *month > 12) return false;
    if (*day < 1 || *day > days_in_month(*year, *month)) return false;
    if (*hour > 23 || *minute > 59 || *second > 59) return false;

    std::size_t position = 19;
    if (text[position] == '.') {
        const std::size_t first_digit = ++position;
        while (position < text.size() && is_ascii_digit(text[position])) ++position;
        const std::size_t digits = position - first_digit;
        if (digits == 0 || digits > kOccurredAtFractionDigitsMax) return false;
    }
    if (position >= text.size()) return false;
    if (text[position] == 'Z') return position + 1 == text.size();
    if (text[position] != '+' && text[position] != '-') return false;
    if (text.size() != position + 6 || text[position + 3] != ':') return false;
    const auto offset_hour = read_digits(text, position + 1, 2);
    const auto offset_minute = read_digits(text, position + 4, 2);
    return offset_hour && offset_minute && *offset_hour <= 23 && *offset_minute <= 59;
}

std::optional<std::string> rfc3339_in_utc(std::string_view valid_text) {
    using namespace std::chrono;
    const std::size_t offset_at = valid_text.size() - (valid_text.back() == 'Z' ? 1 : 6);
    // "SS[.ffffff]": PostgreSQL keeps microseconds and would round further digits, possibly
    // into the next second, day and year (9999-12-31T23:59:59.9999999Z into year 10000): they
    // are dropped, which keeps the instant within its microsecond and never crosses a second.
    constexpr std::size_t kSecondsWithMicros = 2 + 1 + 6;
    const std::string_view seconds =
        valid_text.substr(17, std::min(offset_at - 17, kSecondsWithMicros));
    int offset_minutes = 0;
    if (valid_text.back() != 'Z') {
        offset_minutes = *read_digits(valid_text, offset_at + 1, 2) * 60 +
                         *read_digits(valid_text, offset_at + 4, 2);
        if (valid_text[offset_at] == '-') offset_minutes = -offset_minutes;
    }
    const year_month_day date{year(*read_digits(valid_text, 0, 4)),
                              month(static_cast<unsigned>(*read_digits(valid_text, 5, 2))),
                              day(static_cast<unsigned>(*read_digits(valid_text, 8, 2)))};
    const auto local = sys_days(date) + hours(*read_digits(valid_text, 11, 2)) +
                       minutes(*read_digits(valid_text, 14, 2));
    const auto utc = local - minutes(offset_minutes);
    const auto utc_day = floor<days>(utc);
    const year_month_day utc_date{utc_day};
    const hh_mm_ss time{utc - utc_day};
    const int utc_year = static_cast<int>(utc_date.year());
    if (utc_year < 1 || utc_year > 9999) return std::nullopt;
    char text[48];  // "YYYY-MM-DDTHH:MM:" and room the compiler cannot rule out
    std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:", utc_year,
                  static_cast<unsigned>(utc_date.month()), static_cast<unsigned>(utc_date.day()),
                  static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()));
    return std::string(text) + std::string(seconds) + "Z";
}

ClaimParseResult parse_claim_request(std::string_view body, const ClaimContext& context) {
    if (holds_nul_byte(body)) return malformed_json("the body is not valid JSON");
    DuplicateKeyFinder duplicates;
    const Json::parser_callback_t callback = [&duplicates](int /*depth*/, Json::parse_event_t event,
                                                           Json& parsed) {
        return duplicates.on_event(event, parsed);
    };
    // allow_exceptions=false: a syntax error or invalid UTF-8 yields a "discarded" value.
    const Json document = Json::parse(body.begin(), body.end(), callback, false);
    if (document.is_discarded()) {
        // Valid JSON whose number is beyond a double (1e400) is a field out of range, not
        // malformed JSON (CONTRACT.md: "out of range" is invalid_field): nlohmann refuses it
        // with out_of_range.406, which only a parse with exceptions tells apart.
        try {
            [[maybe_unused]] const Json reparsed = Json::parse(body.begin(), body.end());
        } catch (const Json::out_of_range& e) {
            const auto field = duplicates.current_path();
            if (e.id == 406 && !field.empty()) return invalid_field(field, "number out of range");
        } catch (const Json::exception&) {
        }
        return malformed_json("the body is not valid JSON");
    }
    if (!document.is_object()) return malformed_json("the body must be a JSON object");
    if (const auto& path = duplicates.duplicate_path()) {
        return invalid_field(*path, "duplicate key");
    }
    return validate(document, context);
}

}  // namespace coalition::partners
