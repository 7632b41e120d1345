#include "server/claims_handler.hpp"

#include "partners/claim_request.hpp"
#include "partners/webhook_signature.hpp"
#include "server/booking_service.hpp"
#include "server/db_pool.hpp"
#include "server/logger.hpp"
#include "server/partner_directory.hpp"
#include "server/rate_limiter.hpp"
#include "server/responses.hpp"
#include "storage/sql_time.hpp"

#include <nlohmann/json.hpp>
#include <strings.h>

#include <chrono>
#include <memory>
#include <optional>

namespace coalition::server {
namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Without the spaces and tabs around it (a header value's optional whitespace).
std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    return text;
}

// "application/json", optionally with parameters ("; charset=utf-8"), any letter case.
bool is_json_media_type(std::optional<std::string_view> content_type) {
    return content_type &&
           equals_ignoring_case(trimmed(content_type->substr(0, content_type->find(';'))),
                                "application/json");
}

// A body sent in a content coding (gzip, ...) is not the JSON text it claims to be: refused as
// an unsupported media type (RFC 9110 §8.4.1) rather than read, or booked when its bytes happen
// to be plain JSON (found by review). "identity", or an empty value, is no coding.
bool has_content_coding(const Request& request) {
    for (const auto& [key, value] : request.headers) {
        if (!equals_ignoring_case(key, "Content-Encoding")) continue;
        const auto coding = trimmed(value);
        if (!coding.empty() && !equals_ignoring_case(coding, "identity")) return true;
    }
    return false;
}

// A header sent more than once is ambiguous, so it counts as absent (and the claim as unsigned).
std::optional<std::string> single_header(const Request& request, std::string_view name) {
    std::optional<std::string> found;
    for (const auto& [key, value] : request.headers) {
        if (!equals_ignoring_case(key, name)) continue;
        if (found) return std::nullopt;
        found = value;
    }
    return found;
}

Response with_retry_after(Response response, int seconds) {
    response.headers.emplace_back("Retry-After", std::to_string(seconds));
    return response;
}

Response booking_response(const BookingOutcome& outcome, int retry_after_s) {
    if (const auto* result = std::get_if<storage::BookingResult>(&outcome)) {
        if (result->error) return error_response(*result->error);
        Response response;
        response.status = result->status;
        response.headers.emplace_back("Content-Type", "application/json");
        if (result->replayed) response.headers.emplace_back("Idempotent-Replayed", "true");
        response.body = result->body;
        return response;
    }
    if (std::holds_alternative<BookingUnavailable>(outcome)) {
        return unavailable_response(retry_after_s,
                                    "the claim was not stored: the database cannot be reached or "
                                    "is busy; retry with the same webhook-id");
    }
    if (std::holds_alternative<BookingInDoubt>(outcome)) {
        // Not 503, which promises that nothing was stored.
        return with_retry_after(
            error_response(ErrorCode::internal,
                           "outcome unknown: the database connection was lost while the claim "
                           "was committed; retry with the same webhook-id and body (a stored "
                           "claim is answered with its replay, one not stored is booked)"),
            retry_after_s);
    }
    return error_response(ErrorCode::internal, "the claim was not stored: internal error");
}

// The stored answer of the partner's claim `webhook_id`, if there is one: its replay for the
// same body, 409 for another. Else `unstored`; while the database cannot say, `unreadable`.
// Read once no attempt with that id waits in this server or is being booked by it: an attempt
// still queued would commit after an `unstored` answer.
void answer_stored_or(const ClaimsDependencies& deps, const std::string& partner_id,
                      const std::string& webhook_id, const std::string& body, Response unstored,
                      Response unreadable, Respond respond) {
    auto claim = std::make_shared<storage::BookingInput>();
    claim->partner_id = partner_id;
    claim->webhook_id = webhook_id;
    claim->request_sha256 = crypto::sha256(body);
    const int retry_after_s = deps.settings.db_retry_after_s;
    DatabasePool& database = deps.database;
    deps.booking.after_attempts_of(
        partner_id, webhook_id,
        [&database, claim, retry_after_s, respond = std::move(respond),
         unstored = std::move(unstored), unreadable = std::move(unreadable)]() mutable {
            auto stored = std::make_shared<std::optional<storage::BookingResult>>();
            database.submit(
                [claim, stored](pqxx::connection& connection) {
                    *stored = storage::stored_outcome(connection, *claim);
                },
                [respond = std::move(respond), stored, retry_after_s,
                 unstored = std::move(unstored),
                 unreadable = std::move(unreadable)](std::exception_ptr failure) {
                    if (failure) return respond(unreadable);
                    if (*stored) return respond(booking_response(**stored, retry_after_s));
                    respond(unstored);
                });
        });
}

// A suspended partner books nothing more, but a retry of a claim it booked before the
// suspension (its till timed out, say) gets that claim's stored answer, as every retry does: a
// 403 would tell the till the claim was refused while its points moved. A new claim gets 403.
// While the database cannot say which it is, 503: retried later, it is answered properly.
void answer_suspended(const ClaimsDependencies& deps, const std::string& partner_id,
                      const std::string& webhook_id, const std::string& body, Respond respond) {
    answer_stored_or(
        deps, partner_id, webhook_id, body,
        error_response(ErrorCode::partner_suspended, "this partner is suspended"),
        unavailable_response(deps.settings.db_retry_after_s,
                             "the database cannot be reached; retry with the same webhook-id"),
        std::move(respond));
}

// An invalid body under an id the partner used already is that id with another body: 409
// (CONTRACT.md), as a valid one would get, or the stored claim's replay if a rule tightened
// since refuses its very body. Under an unused id the answer is the 400, and so it is when the
// database cannot be asked: the body is invalid whatever is stored.
void answer_invalid(const ClaimsDependencies& deps, const std::string& partner_id,
                    const std::string& webhook_id, const std::string& body, const ApiError& error,
                    Respond respond) {
    answer_stored_or(deps, partner_id, webhook_id, body, error_response(error),
                     error_response(error), std::move(respond));
}

}  // namespace

void add_claims_routes(Router& router, ClaimsDependencies deps) {
    router.add("POST", "/v1/partners/{partner_id}/claims",
               [deps](const Request& request, const PathParams& params, Respond respond) {
        const std::string& partner_id = params.find("partner_id")->second;
        const int retry_after_s = deps.settings.db_retry_after_s;

        // Two Content-Type fields name no one media type: refused like a wrong one.
        if (!is_json_media_type(single_header(request, "Content-Type"))) {
            return respond(error_response(ErrorCode::unsupported_media_type,
                                          "Content-Type must be application/json"));
        }
        if (has_content_coding(request)) {
            return respond(error_response(ErrorCode::unsupported_media_type,
                                          "Content-Encoding is not supported: send the JSON body "
                                          "as it is"));
        }
        const auto directory = deps.directory.current();
        if (!directory) {
            return respond(unavailable_response(retry_after_s, "partner directory not loaded yet"));
        }

        const partners::WebhookHeaders headers{single_header(request, "webhook-id"),
                                               single_header(request, "webhook-timestamp"),
                                               single_header(request, "webhook-signature")};
        const auto partner = directory->partners.find(partner_id);
        static const std::vector<crypto::Bytes> kNoKeys;
        const auto now_us = storage::now_unix_micros();
        std::vector<crypto::Bytes> unexpired;
        const auto& keys = partner == directory->partners.end()
                               ? kNoKeys
                               : partner->second.keys_valid_at(now_us, unexpired);
        if (const auto rejection =
                partners::verify_webhook(headers, request.body, keys, now_us / 1000000)) {
            deps.logger.log(LogLevel::info, "claim refused: signature",
                            {{"request_id", request.request_id}, {"partner_id", partner_id},
                             {"reason", partners::rejection_name(*rejection)}});
            return respond(error_response(ErrorCode::invalid_signature,
                                          "missing or invalid webhook signature headers"));
        }
        // From here on the partner exists: the signature proved it.
        if (request.client_certificate_cn && *request.client_certificate_cn != partner_id) {
            return respond(error_response(ErrorCode::certificate_mismatch,
                                          "the client certificate was not issued to this partner"));
        }
        if (const int wait_s = deps.rate_limiter.try_acquire(partner_id); wait_s > 0) {
            return respond(with_retry_after(
                error_response(ErrorCode::rate_limited, "too many claims; slow down"), wait_s));
        }
        // After the certificate and the rate limit: a suspended partner's look-up costs a
        // database job, which a partner that keeps posting must not get for free.
        if (partner->second.suspended) {
            return answer_suspended(deps, partner_id, *headers.id, request.body, respond);
        }

        auto parsed = partners::parse_claim_request(
            request.body, {directory->program_currency, partner->second.earn_rate});
        if (const auto* error = std::get_if<ApiError>(&parsed)) {
            return answer_invalid(deps, partner_id, *headers.id, request.body, *error, respond);
        }

        storage::BookingInput input;
        input.partner_id = partner_id;
        input.webhook_id = *headers.id;
        input.request_sha256 = crypto::sha256(request.body);
        input.request = std::move(std::get<partners::ClaimRequest>(parsed));
        input.accepted_at_us = now_us;
        deps.booking.submit(std::move(input), [respond, retry_after_s](BookingOutcome outcome) {
            respond(booking_response(outcome, retry_after_s));
        });
    });
}

}  // namespace coalition::server
