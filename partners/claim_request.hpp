#pragma once
// A partner's claim body (contract §2), parsed and validated in one pure step: either a typed,
// fully checked ClaimRequest or the one ApiError to answer with. Nothing here knows about
// members, balances or earlier claims; those checks (422s) belong to the ledger.
//
// Decisions the contract leaves open, made here:
//  - Strictness: an explicit `null` is a wrong type, never "absent"; duplicate keys in any object
//    are refused (invalid_field naming the dotted path), so an ambiguous body is never resolved
//    by picking one value. A UTF-8 byte order mark before the JSON text is ignored (RFC 8259 §8.1
//    lets parsers do so); any other non-UTF-8 byte makes the body malformed_json.
//  - `occurred_at`: RFC 3339 §5.6 date-time with upper-case 'T' and 'Z' only (the note in §5.6
//    lets applications restrict to upper case; one spelling per instant). Years 0001-9999
//    (PostgreSQL has no year 0), real calendar days, hours 00-23, seconds 00-59 (a leap second
//    "60" is refused: PostgreSQL would silently fold it into the next minute), at most 9
//    fraction digits, offset Z or ±HH:MM with HH 00-23 and MM 00-59. Stored as the same instant
//    in UTC (PostgreSQL refuses offsets beyond ±15:59, which RFC 3339 allows), so that instant
//    must fall within the years 0001-9999 in UTC.
//  - `reference`: at most 128 Unicode code points (what PostgreSQL length() counts for the
//    column's CHECK), possibly empty; no control characters (C0, DEL, C1): a reference ends up
//    in statements and CSV files.
//  - Which error wins when a body has several: the first failing check in this order:
//    JSON syntax and UTF-8, top level is an object, duplicate keys (the first one met), unknown
//    top-level fields (in key order), `type`, fields not allowed for the type, required fields,
//    then each field's value (member_id, reverses, points, purchase, occurred_at, reference),
//    then the points computed from the purchase.
#include "core/errors.hpp"
#include "core/money.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace coalition::partners {

inline constexpr std::int64_t kClaimPointsMin = 1;
inline constexpr std::int64_t kClaimPointsMax = 10'000'000;
inline constexpr std::size_t kReferenceCodePointsMax = 128;
inline constexpr std::size_t kOccurredAtFractionDigitsMax = 9;

enum class ClaimType { earn, burn, reversal };

std::string_view claim_type_name(ClaimType type);

struct Purchase {
    std::int64_t amount_minor = 0;  // >= 1, minor units of `currency`
    std::string currency;           // always the program currency once validated
};

struct ClaimRequest {
    ClaimType type = ClaimType::earn;
    std::string member_id;  // earn and burn; empty on a reversal (the ledger takes it from the
                            // reversed claim)
    // earn: as given or computed from `purchase`; burn: as given; reversal: 0 (the ledger knows
    // what is reversed). Always within kClaimPointsMin..kClaimPointsMax for earn and burn.
    Points points{0};
    bool points_from_purchase = false;       // true when an earn's points were computed
    std::optional<Purchase> purchase;        // earn only
    std::optional<std::string> occurred_at;  // RFC 3339 text, in UTC (rfc3339_in_utc)
    std::optional<std::string> reference;
    std::string reverses;  // reversal only: the webhook-id of the claim it reverses
};

// What validation needs from the program and the partner.
struct ClaimContext {
    std::string program_currency;  // ISO 4217, e.g. "EUR"
    std::int64_t earn_rate = 1;    // points per 100 minor units (per major unit in EUR)
};

using ClaimParseResult = std::variant<ClaimRequest, ApiError>;

// Parses `body` (the raw request bytes) into a ClaimRequest, or the error to answer with:
// malformed_json (no field) or invalid_field with `field` naming the culprit, dotted for nested
// fields ("purchase.amount_minor").
ClaimParseResult parse_claim_request(std::string_view body, const ClaimContext& context);

// The error for a purchase that is not in the program's currency: validation answers it against
// the server's snapshot of the program, and booking again against the program in force when the
// claim was accepted (a currency change reaches the snapshot up to a refresh interval later).
ApiError purchase_currency_error(std::string_view program_currency);

// Strict RFC 3339 date-time as described above; exposed for tests and other inputs.
bool is_valid_rfc3339_date_time(std::string_view text);

// A valid date-time (above) written as the same instant in UTC, with 'Z': the digits of its
// seconds and fraction as sent, its date, hour and minute moved by its offset. nullopt when that
// instant falls outside the years 0001-9999 in UTC.
std::optional<std::string> rfc3339_in_utc(std::string_view valid_text);

}  // namespace coalition::partners
