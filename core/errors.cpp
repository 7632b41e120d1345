#include "core/errors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <iterator>

namespace coalition {
namespace {

constexpr std::array kErrors{
    ErrorInfo{ErrorCode::malformed_request, "malformed_request", 400, false},
    ErrorInfo{ErrorCode::malformed_json, "malformed_json", 400, false},
    ErrorInfo{ErrorCode::invalid_field, "invalid_field", 400, false},
    ErrorInfo{ErrorCode::invalid_signature, "invalid_signature", 401, false},
    ErrorInfo{ErrorCode::unauthorized, "unauthorized", 401, false},
    ErrorInfo{ErrorCode::partner_suspended, "partner_suspended", 403, false},
    ErrorInfo{ErrorCode::certificate_mismatch, "certificate_mismatch", 403, false},
    ErrorInfo{ErrorCode::forbidden, "forbidden", 403, false},
    ErrorInfo{ErrorCode::not_found, "not_found", 404, false},
    ErrorInfo{ErrorCode::method_not_allowed, "method_not_allowed", 405, false},
    ErrorInfo{ErrorCode::idempotency_conflict, "idempotency_conflict", 409, false},
    ErrorInfo{ErrorCode::date_not_ended, "date_not_ended", 409, true},
    ErrorInfo{ErrorCode::payload_too_large, "payload_too_large", 413, false},
    ErrorInfo{ErrorCode::unsupported_media_type, "unsupported_media_type", 415, false},
    ErrorInfo{ErrorCode::insufficient_points, "insufficient_points", 422, false},
    ErrorInfo{ErrorCode::unknown_member, "unknown_member", 422, false},
    ErrorInfo{ErrorCode::reversal_target_not_found, "reversal_target_not_found", 422, false},
    ErrorInfo{ErrorCode::already_reversed, "already_reversed", 422, false},
    ErrorInfo{ErrorCode::rate_limited, "rate_limited", 429, true},
    ErrorInfo{ErrorCode::header_too_large, "header_too_large", 431, false},
    ErrorInfo{ErrorCode::internal, "internal", 500, false},
    ErrorInfo{ErrorCode::unavailable, "unavailable", 503, true},
};

// The table is indexed by the enum: this catches an entry added out of order at compile time.
constexpr bool table_matches_enum() {
    for (std::size_t i = 0; i < kErrors.size(); ++i) {
        if (static_cast<std::size_t>(kErrors[i].code) != i) return false;
    }
    return kErrors.size() == static_cast<std::size_t>(ErrorCode::unavailable) + 1;
}
static_assert(table_matches_enum(), "kErrors must list every ErrorCode in enum order");

}  // namespace

const ErrorInfo& error_info(ErrorCode code) { return kErrors[static_cast<std::size_t>(code)]; }
std::string_view error_name(ErrorCode code) { return error_info(code).name; }
int http_status(ErrorCode code) { return error_info(code).http_status; }

std::string error_body_json(const ApiError& error) {
    nlohmann::json detail = {{"code", error_name(error.code)}, {"message", error.message}};
    if (!error.field.empty()) detail["field"] = error.field;
    const nlohmann::json body = {{"error", detail}};
    // A message may quote what a client sent: never fail on bytes that are not UTF-8.
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool is_ledger_refusal(ErrorCode code) {
    return std::find(std::begin(kLedgerRefusals), std::end(kLedgerRefusals), code) !=
           std::end(kLedgerRefusals);
}

}  // namespace coalition
