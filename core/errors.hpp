#pragma once
// The one error registry: every error code the product can answer with, once, with its HTTP
// status and whether the caller should retry (PostgreSQL errcodes.txt / TigerBeetle habit).
// Tests assert codes, never message text.
#include <string>
#include <string_view>

namespace coalition {

enum class ErrorCode {
    malformed_request,
    malformed_json,
    invalid_field,
    invalid_signature,
    unauthorized,
    partner_suspended,
    certificate_mismatch,
    forbidden,
    not_found,
    method_not_allowed,
    idempotency_conflict,
    date_not_ended,
    payload_too_large,
    unsupported_media_type,
    insufficient_points,
    unknown_member,
    reversal_target_not_found,
    already_reversed,
    rate_limited,
    header_too_large,
    internal,
    unavailable,
};

struct ErrorInfo {
    ErrorCode code;
    std::string_view name;  // the wire code, e.g. "invalid_field"
    int http_status;
    bool transient;  // true: the same request may succeed later, unchanged (retry with backoff)
};

const ErrorInfo& error_info(ErrorCode code);
std::string_view error_name(ErrorCode code);
int http_status(ErrorCode code);

// An error to be answered to a client: code, human message and optionally the field to blame.
struct ApiError {
    ErrorCode code;
    std::string message;
    std::string field;  // empty when no single field is to blame
};

// The body of an error answer, {"error": {"code", "field" (when set), "message"}}: answered, and
// stored for a refused claim's replay, so both must be these bytes.
std::string error_body_json(const ApiError& error);

// The refusals the ledger decides (422): stored with their claim id, so that a retry is answered
// the same way.
inline constexpr ErrorCode kLedgerRefusals[] = {
    ErrorCode::insufficient_points, ErrorCode::unknown_member, ErrorCode::reversal_target_not_found,
    ErrorCode::already_reversed};
bool is_ledger_refusal(ErrorCode code);

}  // namespace coalition
