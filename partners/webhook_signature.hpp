#pragma once
// Standard Webhooks v1 (https://www.standardwebhooks.com/), symmetric signatures only: the pure
// verification a partner's claim passes before its body is even parsed. No I/O and no clock: the
// caller passes the headers it read and the time it read, so tests can pin both.
#include "core/crypto.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coalition::partners {

// A timestamp further than this from the server's clock, either way, is refused (replay window).
inline constexpr std::int64_t kWebhookToleranceSeconds = 300;
inline constexpr std::size_t kWebhookIdLengthMax = 128;

// The three headers as received. nullopt: the header is absent. Owned copies (a few hundred
// bytes) rather than views, so a caller cannot leave them dangling. A header sent more than once
// is ambiguous: the HTTP layer should pass nullopt for it rather than pick one.
struct WebhookHeaders {
    std::optional<std::string> id;         // webhook-id
    std::optional<std::string> timestamp;  // webhook-timestamp
    std::optional<std::string> signature;  // webhook-signature
};

// Why a request was refused. Every value becomes the same 401 invalid_signature on the wire
// (an unknown partner must look like a bad signature); the distinction is for logs only.
enum class WebhookRejection {
    missing_header,      // a header absent or empty (empty is treated as absent, as the
                         // reference libraries do)
    bad_id,              // not 1-128 printable ASCII characters
    bad_timestamp,       // not canonical decimal Unix seconds
    stale_timestamp,     // more than kWebhookToleranceSeconds from now, past or future
    no_valid_signature,  // no v1 entry matches any key (also: no key at all)
};

std::string_view rejection_name(WebhookRejection rejection);

// 1-128 printable ASCII characters, 0x20-0x7E (the space included, as CONTRACT.md §2 says): the
// webhook-id rule, also used for a reversal's `reverses`.
bool is_valid_webhook_id(std::string_view id);

// Canonical decimal Unix seconds: digits only, no sign, no leading zero (except "0" itself), no
// spaces, fits int64. Canonical so that the signed text has exactly one spelling per instant.
std::optional<std::int64_t> parse_webhook_timestamp(std::string_view text);

// nullopt when the request is authentic: headers well-formed, timestamp within the tolerance of
// `now_unix`, and at least one `v1,<base64>` entry of the signature header equal to
// HMAC-SHA256(key, "{id}.{timestamp}.{body}") for at least one of `keys` (several while a
// secret is being rotated). Entries of other versions are ignored. An empty `keys` (unknown
// partner) is refused like a wrong signature, after the same header checks.
std::optional<WebhookRejection> verify_webhook(const WebhookHeaders& headers, std::string_view body,
                                               const std::vector<crypto::Bytes>& keys,
                                               std::int64_t now_unix);

// "v1,<base64 HMAC-SHA256>" over "{id}.{timestamp}.{body}": one entry of a webhook-signature
// header. For partners' tooling, tests and the load generator; the server only verifies.
std::string sign_webhook(std::string_view id, std::int64_t timestamp, std::string_view body,
                         const crypto::Bytes& key);

}  // namespace coalition::partners
