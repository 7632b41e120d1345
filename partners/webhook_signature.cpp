#include "partners/webhook_signature.hpp"

#include <charconv>
#include <system_error>

namespace coalition::partners {
namespace {

constexpr std::string_view kSignatureVersion = "v1";

std::string signed_content(std::string_view id, std::string_view timestamp, std::string_view body) {
    std::string content;
    content.reserve(id.size() + timestamp.size() + body.size() + 2);
    content.append(id).append(1, '.').append(timestamp).append(1, '.').append(body);
    return content;
}

crypto::Bytes as_bytes(std::string_view text) { return crypto::Bytes(text.begin(), text.end()); }

bool is_within_tolerance(std::int64_t timestamp, std::int64_t now_unix) {
    // Both values come from outside (header, clock): the difference itself may overflow, and an
    // overflowing difference is certainly outside the window.
    std::int64_t difference = 0;
    if (__builtin_sub_overflow(now_unix, timestamp, &difference)) return false;
    return difference >= -kWebhookToleranceSeconds && difference <= kWebhookToleranceSeconds;
}

}  // namespace

std::string_view rejection_name(WebhookRejection rejection) {
    switch (rejection) {
        case WebhookRejection::missing_header:
            return "missing_header";
        case WebhookRejection::bad_id:
            return "bad_id";
        case WebhookRejection::bad_timestamp:
            return "bad_timestamp";
        case WebhookRejection::stale_timestamp:
            return "stale_timestamp";
        case WebhookRejection::no_valid_signature:
            return "no_valid_signature";
    }
    return "unknown";
}

bool is_valid_webhook_id(std::string_view id) {
    if (id.empty() || id.size() > kWebhookIdLengthMax) return false;
    for (const char c : id) {
        if (c < '\x20' || c > '\x7e') return false;  // char may be signed: bytes >= 0x80 are < 0
    }
    return true;
}

std::optional<std::int64_t> parse_webhook_timestamp(std::string_view text) {
    if (text.empty()) return std::nullopt;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;  // from_chars alone would accept a '-'
    }
    if (text.size() > 1 && text.front() == '0') return std::nullopt;
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::optional<WebhookRejection> verify_webhook(const WebhookHeaders& headers, std::string_view body,
                                               const std::vector<crypto::Bytes>& keys,
                                               std::int64_t now_unix) {
    const auto present = [](const std::optional<std::string>& header) {
        return header.has_value() && !header->empty();
    };
    if (!present(headers.id) || !present(headers.timestamp) || !present(headers.signature)) {
        return WebhookRejection::missing_header;
    }
    if (!is_valid_webhook_id(*headers.id)) return WebhookRejection::bad_id;
    const std::optional<std::int64_t> timestamp = parse_webhook_timestamp(*headers.timestamp);
    if (!timestamp) return WebhookRejection::bad_timestamp;
    if (!is_within_tolerance(*timestamp, now_unix)) return WebhookRejection::stale_timestamp;

    // The timestamp is canonical, so the header text is exactly what the sender signed.
    const std::string content = signed_content(*headers.id, *headers.timestamp, body);
    std::vector<crypto::Bytes> expected;
    expected.reserve(keys.size());
    for (const crypto::Bytes& key : keys) {
        if (key.empty()) continue;  // never a valid secret; OpenSSL may refuse an empty key
        // Compare the base64 text, not decoded bytes: every sender emits canonical base64, and
        // a text comparison refuses the non-canonical spellings (stray padding bits) that
        // would decode to the same digest.
        expected.push_back(as_bytes(crypto::base64_encode(crypto::hmac_sha256(key, content))));
    }
    // An unknown partner (no keys) costs what a known one with one secret costs: an HMAC with a
    // decoy key, compared like a real one and never accepted. Otherwise its 401, deliberately
    // the same as a wrong signature's, would come measurably sooner and tell which partner ids
    // exist.
    const bool decoy = expected.empty();
    if (decoy) {
        static const crypto::Bytes kDecoyKey(32, 0x5a);
        expected.push_back(
            as_bytes(crypto::base64_encode(crypto::hmac_sha256(kDecoyKey, content))));
    }

    std::string_view rest = *headers.signature;  // entries are views into the caller's header
    while (!rest.empty()) {
        const std::size_t space = rest.find(' ');
        const std::string_view entry = rest.substr(0, space);
        rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);

        const std::size_t comma = entry.find(',');
        if (comma == std::string_view::npos) continue;
        if (entry.substr(0, comma) != kSignatureVersion) continue;  // other versions: ignored
        const crypto::Bytes given = as_bytes(entry.substr(comma + 1));
        for (const crypto::Bytes& candidate : expected) {
            if (crypto::constant_time_equal(given, candidate) && !decoy) return std::nullopt;
        }
    }
    return WebhookRejection::no_valid_signature;
}

std::string sign_webhook(std::string_view id, std::int64_t timestamp, std::string_view body,
                         const crypto::Bytes& key) {
    const std::string content = signed_content(id, std::to_string(timestamp), body);
    return std::string(kSignatureVersion) + "," +
           crypto::base64_encode(crypto::hmac_sha256(key, content));
}

}  // namespace coalition::partners
