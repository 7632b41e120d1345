// Standard Webhooks v1 verification. The vectors and must-fail cases are ported from the
// reference libraries' own tests (github.com/standard-webhooks/standard-webhooks):
//  - libraries/javascript/src/webhook.test.ts
//  - libraries/python/tests/test_webhooks.py
//  - libraries/go/webhook_test.go
//  - libraries/rust/src/lib.rs (mod tests)
// They read the wall clock; here `now` is fixed, and each case is built the way the reference
// TestPayload builds it (sign the default message at the chosen timestamp, then tamper).
#include "partners/webhook_signature.hpp"
#include "partners/credentials.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace coalition::partners {
namespace {

// The reference suites' defaults (DEFAULT_MSG_ID / DEFAULT_PAYLOAD / DEFAULT_SECRET).
constexpr std::string_view kMessageId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::string_view kPayload = R"({"test": 2432232314})";
constexpr std::string_view kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::int64_t kNow = 1614265330;
constexpr std::string_view kNowText = "1614265330";
constexpr std::int64_t kTolerance = 300;  // "tolerance = 5 minutes" in every reference suite

// A valid signature in the reference "invalid signature" cases, but for some other message.
constexpr std::string_view kForeignSignature = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

crypto::Bytes key_of(std::string_view secret) {
    const std::optional<crypto::Bytes> key = secret_key(secret);
    EXPECT_TRUE(key.has_value()) << secret;
    return key.value_or(crypto::Bytes{});
}

// The reference TestPayload: the default message signed at `timestamp`; tests tamper with the
// fields, then take the headers.
struct TestPayload {
    explicit TestPayload(std::int64_t at = kNow)
        : id(kMessageId),
          timestamp(std::to_string(at)),
          payload(kPayload),
          signature(sign_webhook(kMessageId, at, kPayload, key_of(kSecret))) {}

    WebhookHeaders headers() const { return WebhookHeaders{id, timestamp, signature}; }

    std::string id;
    std::string timestamp;
    std::string payload;
    std::string signature;
};

std::optional<WebhookRejection> verify(const WebhookHeaders& headers, std::string_view body,
                                       std::int64_t now = kNow) {
    return verify_webhook(headers, body, {key_of(kSecret)}, now);
}

// --- Signing: the published vectors ---------------------------------------------------------

// "sign function works" (javascript), TestWebhookSign (go), test_sign_function (python).
TEST(WebhookSign, ReferenceVector) {
    EXPECT_EQ(sign_webhook("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})",
                           key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

// test_sign (rust, libraries/rust/src/lib.rs).
TEST(WebhookSign, RustReferenceVector) {
    EXPECT_EQ(sign_webhook("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553,
                           R"({"email":"test@example.com","username":"test_user"})",
                           key_of("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")),
              "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
}

TEST(WebhookVerify, ReferenceVectorVerifiesAtItsOwnTime) {
    const WebhookHeaders headers{"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                                 "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="};
    EXPECT_EQ(verify(headers, R"({"test": 2432232314})", 1614265330), std::nullopt);
}

// --- The reference must-pass / must-fail cases ------------------------------------------------

// "valid signature is valid" (all suites); "valid unbranded signature" (javascript, python).
TEST(WebhookVerify, ValidSignatureIsValid) {
    const TestPayload payload;
    EXPECT_EQ(verify(payload.headers(), payload.payload), std::nullopt);
}

// "missing id / timestamp / signature raises error" (all suites; rust test_missing_headers).
TEST(WebhookVerify, MissingHeadersAreRefused) {
    const TestPayload payload;
    WebhookHeaders headers = payload.headers();
    headers.id.reset();
    EXPECT_EQ(verify(headers, payload.payload), WebhookRejection::missing_header);

    headers = payload.headers();
    headers.timestamp.reset();
    EXPECT_EQ(verify(headers, payload.payload), WebhookRejection::missing_header);

    headers = payload.headers();
    headers.signature.reset();
    EXPECT_EQ(verify(headers, payload.payload), WebhookRejection::missing_header);

    EXPECT_EQ(verify(WebhookHeaders{}, payload.payload), WebhookRejection::missing_header);
}

// The reference libraries test truthiness (go: == "", python: not msg_id): empty is missing.
TEST(WebhookVerify, EmptyHeadersCountAsMissing) {
    const TestPayload payload;
    for (int which = 0; which < 3; ++which) {
        WebhookHeaders headers = payload.headers();
        (which == 0 ? headers.id : which == 1 ? headers.timestamp : headers.signature) = "";
        EXPECT_EQ(verify(headers, payload.payload), WebhookRejection::missing_header) << which;
    }
}

// "invalid timestamp throws error": webhook-timestamp "hello" (javascript, python).
TEST(WebhookVerify, NonNumericTimestampIsRefused) {
    TestPayload payload;
    payload.timestamp = "hello";
    EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::bad_timestamp);
}

// "invalid signature" with a signature of another message (go, javascript multi-sig filler).
TEST(WebhookVerify, ForeignSignatureIsRefused) {
    TestPayload payload;
    payload.signature = kForeignSignature;
    EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::no_valid_signature);
}

// test_invalid_signature_raises_error (python): the valid vector with its last digit changed.
TEST(WebhookVerify, OneCharacterOffSignatureIsRefused) {
    const WebhookHeaders headers{"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                                 "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="};
    EXPECT_EQ(verify(headers, R"({"test": 2432232314})"), WebhookRejection::no_valid_signature);
}

// "invalid signature throws error": "v1,dawfeoifkpqwoekfpqoekf" (javascript).
TEST(WebhookVerify, GarbageSignatureIsRefused) {
    TestPayload payload;
    payload.signature = "v1,dawfeoifkpqwoekfpqoekf";
    EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::no_valid_signature);
}

// "partial signature throws error": the first 8 characters, then just "v1," (javascript).
TEST(WebhookVerify, PartialSignatureIsRefused) {
    TestPayload payload;
    payload.signature = payload.signature.substr(0, 8);
    EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::no_valid_signature);
    payload.signature = "v1,";
    EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::no_valid_signature);
}

// "old timestamp fails" / "new timestamp fails": signed tolerance + 1 s away (javascript,
// python, rust test_verify_incorrect_timestamp; go uses exactly -tolerance with a clock that
// has moved on by the time it verifies).
TEST(WebhookVerify, OldAndNewTimestampsAreRefused) {
    const TestPayload old_payload(kNow - kTolerance - 1);
    EXPECT_EQ(verify(old_payload.headers(), old_payload.payload),
              WebhookRejection::stale_timestamp);
    const TestPayload new_payload(kNow + kTolerance + 1);
    EXPECT_EQ(verify(new_payload.headers(), new_payload.payload),
              WebhookRejection::stale_timestamp);
}

// The window is inclusive, as in the go and rust references (`now - ts > tolerance` fails).
TEST(WebhookVerify, TimestampsExactlyAtTheToleranceAreAccepted) {
    const TestPayload old_payload(kNow - kTolerance);
    EXPECT_EQ(verify(old_payload.headers(), old_payload.payload), std::nullopt);
    const TestPayload new_payload(kNow + kTolerance);
    EXPECT_EQ(verify(new_payload.headers(), new_payload.payload), std::nullopt);
}

// "invalid timestamp fails when ignoring tolerance" (go) and test_verify_incorrect_timestamp
// (rust): the timestamp header changed after signing. The clock is moved along so only the
// signature can refuse it: the timestamp is part of the signed content.
TEST(WebhookVerify, TimestampChangedAfterSigningIsRefused) {
    TestPayload payload;
    payload.timestamp = "946684800";  // 2000-01-01T00:00:00Z
    EXPECT_EQ(verify(payload.headers(), payload.payload, 946684800),
              WebhookRejection::no_valid_signature);
    payload.timestamp = std::to_string(kNow + 1);
    EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::no_valid_signature);
}

// "multi sig payload is valid" (javascript, python, go): v1 and v2 fillers around the valid one.
TEST(WebhookVerify, MultipleSignaturesWithOneValidAreAccepted) {
    TestPayload payload;
    payload.signature = std::string(kForeignSignature) +
                        " v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " + payload.signature +
                        " " + std::string(kForeignSignature);
    EXPECT_EQ(verify(payload.headers(), payload.payload), std::nullopt);
}

// test_verify_with_multiple_signatures / test_no_verify_with_multiple_signatures (rust).
TEST(WebhookVerify, MultipleSignaturesNoneValidAreRefused) {
    const std::string fillers =
        "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= "
        "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= "
        "v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=";
    TestPayload payload;
    const std::string valid = payload.signature;
    payload.signature = fillers;
    EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::no_valid_signature);
    payload.signature = fillers + " " + valid;
    EXPECT_EQ(verify(payload.headers(), payload.payload), std::nullopt);
}

// --- Beyond the reference suites: what the contract adds --------------------------------------

TEST(WebhookVerify, OtherVersionsAreIgnoredEvenWithTheRightDigest) {
    TestPayload payload;
    const std::string digest = payload.signature.substr(3);
    for (const std::string prefix : {"v2,", "v1a,", "V1,", "v1 ,", "v0,", ",", "v1,,"}) {
        payload.signature = prefix + digest;
        EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::no_valid_signature)
            << payload.signature;
    }
    payload.signature = "v1" + digest;  // no comma at all
    EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::no_valid_signature);
    payload.signature = "v1," + digest + "=";
    EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::no_valid_signature);
}

TEST(WebhookVerify, WrongIdOrBodyIsRefused) {
    TestPayload payload;
    payload.id = "msg_p5jXN8AQM9LWM0D4loKWxJeK";
    EXPECT_EQ(verify(payload.headers(), payload.payload), WebhookRejection::no_valid_signature);

    const TestPayload original;
    EXPECT_EQ(verify(original.headers(), R"({"test": 2432232315})"),
              WebhookRejection::no_valid_signature);
    EXPECT_EQ(verify(original.headers(), R"({"test":2432232314})"),
              WebhookRejection::no_valid_signature);  // re-serialised JSON is a different body
    EXPECT_EQ(verify(original.headers(), std::string(kPayload) + "\n"),
              WebhookRejection::no_valid_signature);
    EXPECT_EQ(verify(original.headers(), ""), WebhookRejection::no_valid_signature);
}

TEST(WebhookVerify, WrongKeyIsRefused) {
    const TestPayload payload;
    const std::vector<crypto::Bytes> keys{key_of("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")};
    EXPECT_EQ(verify_webhook(payload.headers(), payload.payload, keys, kNow),
              WebhookRejection::no_valid_signature);
}

// Secret rotation: the old and the new secret are both valid for a while.
TEST(WebhookVerify, AnyOfSeveralKeysIsAccepted) {
    const TestPayload payload;
    const crypto::Bytes other = key_of("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    const crypto::Bytes right = key_of(kSecret);
    EXPECT_EQ(verify_webhook(payload.headers(), payload.payload, {other, right}, kNow),
              std::nullopt);
    EXPECT_EQ(verify_webhook(payload.headers(), payload.payload, {right, other}, kNow),
              std::nullopt);
    EXPECT_EQ(verify_webhook(payload.headers(), payload.payload, {crypto::Bytes{}, right}, kNow),
              std::nullopt);
}

// An unknown partner has no keys: refused like a wrong signature, after the same header checks.
TEST(WebhookVerify, NoKeysIsRefusedLikeAWrongSignature) {
    const TestPayload payload;
    EXPECT_EQ(verify_webhook(payload.headers(), payload.payload, {}, kNow),
              WebhookRejection::no_valid_signature);
    EXPECT_EQ(verify_webhook(payload.headers(), payload.payload, {crypto::Bytes{}}, kNow),
              WebhookRejection::no_valid_signature);
}

// For an unknown partner the verifier computes an HMAC with a decoy key, so that its 401 takes
// as long as a known partner's; that key must never authenticate anything.
TEST(WebhookVerify, TheDecoyKeyOfAnUnknownPartnerNeverAuthenticates) {
    const crypto::Bytes decoy(32, 0x5a);
    const std::string signature = sign_webhook(kMessageId, kNow, kPayload, decoy);
    const WebhookHeaders headers{std::string(kMessageId), std::string(kNowText), signature};
    EXPECT_EQ(verify_webhook(headers, kPayload, {}, kNow), WebhookRejection::no_valid_signature);
    EXPECT_EQ(verify_webhook(headers, kPayload, {crypto::Bytes{}}, kNow),
              WebhookRejection::no_valid_signature);
    EXPECT_EQ(verify_webhook(headers, kPayload, {decoy}, kNow), std::nullopt);  // a real key
}

// Both old and new secrets sign: the partner sends one entry per secret during a rotation.
TEST(WebhookVerify, SignatureOfEitherRotatedSecretIsAccepted) {
    const crypto::Bytes old_key = key_of(kSecret);
    const crypto::Bytes new_key = key_of("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    const std::string header = sign_webhook(kMessageId, kNow, kPayload, new_key) + " " +
                               sign_webhook(kMessageId, kNow, kPayload, old_key);
    const WebhookHeaders headers{std::string(kMessageId), std::string(kNowText), header};
    EXPECT_EQ(verify_webhook(headers, kPayload, {old_key}, kNow), std::nullopt);
    EXPECT_EQ(verify_webhook(headers, kPayload, {new_key}, kNow), std::nullopt);
}

// Extra spaces make empty entries, skipped as the go reference skips entries without a comma.
TEST(WebhookVerify, EmptyEntriesBetweenSpacesAreSkipped) {
    TestPayload payload;
    payload.signature = "  " + payload.signature + "  ";
    EXPECT_EQ(verify(payload.headers(), payload.payload), std::nullopt);
}

// Digests are compared as base64 text: a spelling that differs only in the unused low bits of
// the last character decodes to the same bytes but is not what any sender emits.
TEST(WebhookVerify, NonCanonicalBase64OfTheRightDigestIsRefused) {
    const std::string canonical = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const std::string non_canonical = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=";
    ASSERT_EQ(crypto::base64_decode(canonical), crypto::base64_decode(non_canonical));
    const WebhookHeaders headers{std::string(kMessageId), "1614265330", "v1," + non_canonical};
    EXPECT_EQ(verify(headers, kPayload), WebhookRejection::no_valid_signature);
}

TEST(WebhookVerify, BodyIsSignedAsRawBytes) {
    const std::string body = std::string("{\"a\":\"") + "\xff\xfe" + "\"}\r\n";
    const crypto::Bytes key = key_of(kSecret);
    const std::string signature = sign_webhook(kMessageId, kNow, body, key);
    const WebhookHeaders headers{std::string(kMessageId), std::string(kNowText), signature};
    EXPECT_EQ(verify_webhook(headers, body, {key}, kNow), std::nullopt);
    EXPECT_EQ(verify_webhook(headers, body.substr(0, body.size() - 1), {key}, kNow),
              WebhookRejection::no_valid_signature);
}

TEST(WebhookId, PrintableAsciiOneTo128) {
    EXPECT_TRUE(is_valid_webhook_id("a"));
    EXPECT_TRUE(is_valid_webhook_id(std::string(128, 'x')));
    EXPECT_TRUE(is_valid_webhook_id("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"));
    EXPECT_FALSE(is_valid_webhook_id(""));
    EXPECT_FALSE(is_valid_webhook_id(std::string(129, 'x')));
    EXPECT_TRUE(is_valid_webhook_id("till 7 / receipt 88812"));  // the space is printable ASCII
    EXPECT_TRUE(is_valid_webhook_id(" "));
    EXPECT_FALSE(is_valid_webhook_id("msg\t1"));
    EXPECT_FALSE(is_valid_webhook_id("msg\x7f"));
    EXPECT_FALSE(is_valid_webhook_id("msg\x01"));
    EXPECT_FALSE(is_valid_webhook_id(std::string("msg\0", 4)));
    EXPECT_FALSE(is_valid_webhook_id("caf\xc3\xa9"));
}

TEST(WebhookVerify, BadIdIsRefusedBeforeTheSignature) {
    const crypto::Bytes key = key_of(kSecret);
    for (const std::string& id :
         {std::string(129, 'x'), std::string("msg\t1"), std::string("caf\xc3\xa9")}) {
        // Correctly signed: only the id rule can refuse it.
        const std::string signature = sign_webhook(id, kNow, kPayload, key);
        const WebhookHeaders headers{id, std::string(kNowText), signature};
        EXPECT_EQ(verify_webhook(headers, kPayload, {key}, kNow), WebhookRejection::bad_id) << id;
    }
    const std::string longest(128, 'x');
    const std::string signature = sign_webhook(longest, kNow, kPayload, key);
    const WebhookHeaders headers{longest, std::string(kNowText), signature};
    EXPECT_EQ(verify_webhook(headers, kPayload, {key}, kNow), std::nullopt);
}

TEST(WebhookTimestamp, OnlyCanonicalDecimalSeconds) {
    EXPECT_EQ(parse_webhook_timestamp("0"), 0);
    EXPECT_EQ(parse_webhook_timestamp("1614265330"), 1614265330);
    EXPECT_EQ(parse_webhook_timestamp("9223372036854775807"),
              std::numeric_limits<std::int64_t>::max());
    for (const std::string_view text :
         {"", "hello", "+1614265330", "-1614265330", "-0", "01614265330", "00", " 1614265330",
          "1614265330 ", "1614265330\n", "1614265330.0", "1614265330.5", "1.6e9", "0x60384ef2",
          "9223372036854775808", "99999999999999999999999", "16142653３0"}) {
        EXPECT_EQ(parse_webhook_timestamp(text), std::nullopt) << text;
    }
}

// A timestamp that is numerically the same instant but spelled differently is refused rather
// than verified against a text the sender may not have signed.
TEST(WebhookVerify, NonCanonicalTimestampIsRefusedEvenIfSignedThatWay) {
    const crypto::Bytes key = key_of(kSecret);
    const std::string timestamp = "0" + std::to_string(kNow);
    const std::string content_signature = [&] {
        // Sign "{id}.0{ts}.{body}" by hand, the way a sloppy sender would.
        const std::string content =
            std::string(kMessageId) + "." + timestamp + "." + std::string(kPayload);
        return "v1," + crypto::base64_encode(crypto::hmac_sha256(key, content));
    }();
    const WebhookHeaders headers{std::string(kMessageId), timestamp, content_signature};
    EXPECT_EQ(verify_webhook(headers, kPayload, {key}, kNow), WebhookRejection::bad_timestamp);
}

TEST(WebhookVerify, ExtremeTimestampsDoNotOverflow) {
    const crypto::Bytes key = key_of(kSecret);
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    const std::string signature = sign_webhook(kMessageId, kMax, kPayload, key);
    const WebhookHeaders headers{std::string(kMessageId), "9223372036854775807", signature};
    EXPECT_EQ(verify_webhook(headers, kPayload, {key}, kNow), WebhookRejection::stale_timestamp);
    EXPECT_EQ(verify_webhook(headers, kPayload, {key}, std::numeric_limits<std::int64_t>::min()),
              WebhookRejection::stale_timestamp);
    EXPECT_EQ(verify_webhook(headers, kPayload, {key}, kMax), std::nullopt);

    const std::string zero_signature = sign_webhook(kMessageId, 0, kPayload, key);
    const WebhookHeaders zero{std::string(kMessageId), "0", zero_signature};
    EXPECT_EQ(verify_webhook(zero, kPayload, {key}, kMax), WebhookRejection::stale_timestamp);
    EXPECT_EQ(verify_webhook(zero, kPayload, {key}, 300), std::nullopt);
}

// Cheap checks come first and in a fixed order, so logs say the most basic thing wrong.
TEST(WebhookVerify, RejectionOrder) {
    const WebhookHeaders all_bad{"bad\tid", "soon", "v1,x"};
    EXPECT_EQ(verify(all_bad, kPayload), WebhookRejection::bad_id);
    const WebhookHeaders bad_time{std::string(kMessageId), "soon", "v1,x"};
    EXPECT_EQ(verify(bad_time, kPayload), WebhookRejection::bad_timestamp);
    const WebhookHeaders stale{std::string(kMessageId), "1", "v1,x"};
    EXPECT_EQ(verify(stale, kPayload), WebhookRejection::stale_timestamp);
    const WebhookHeaders missing_one{std::nullopt, "soon", "v1,x"};
    EXPECT_EQ(verify(missing_one, kPayload), WebhookRejection::missing_header);
}

TEST(WebhookRejectionName, EveryValueHasAName) {
    EXPECT_EQ(rejection_name(WebhookRejection::missing_header), "missing_header");
    EXPECT_EQ(rejection_name(WebhookRejection::bad_id), "bad_id");
    EXPECT_EQ(rejection_name(WebhookRejection::bad_timestamp), "bad_timestamp");
    EXPECT_EQ(rejection_name(WebhookRejection::stale_timestamp), "stale_timestamp");
    EXPECT_EQ(rejection_name(WebhookRejection::no_valid_signature), "no_valid_signature");
}

TEST(WebhookSign, RoundTripsWithAGeneratedSecret) {
    const std::optional<crypto::Bytes> key = secret_key(generate_secret());
    ASSERT_TRUE(key.has_value());
    const std::string body = R"({"type": "burn", "member_id": "M-1001", "points": 500})";
    const std::string signature = sign_webhook("claim-1", kNow, body, *key);
    ASSERT_EQ(signature.substr(0, 3), "v1,");
    ASSERT_EQ(signature.size(), 3u + 44u);  // base64 of a 32-byte digest
    EXPECT_EQ(verify_webhook(WebhookHeaders{"claim-1", std::string(kNowText), signature}, body,
                             {*key}, kNow),
              std::nullopt);
}

}  // namespace
}  // namespace coalition::partners
