#include "partners/credentials.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace coalition::partners {
namespace {

TEST(Secrets, GeneratedSecretRoundTripsTo32Bytes) {
    const std::string secret = generate_secret();
    ASSERT_EQ(secret.rfind("whsec_", 0), 0u);
    const auto key = secret_key(secret);
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(key->size(), 32u);
    EXPECT_EQ("whsec_" + crypto::base64_encode(*key), secret);
}

TEST(Secrets, GeneratedSecretsDiffer) {
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) EXPECT_TRUE(seen.insert(generate_secret()).second);
}

TEST(Secrets, StandardWebhooksExampleSecretIsAccepted) {
    // The example secret of the Standard Webhooks specification.
    const auto key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(key->size(), 24u);
}

TEST(Secrets, KeyLengthMustBe24To64Bytes) {
    const auto of_size = [](std::size_t n) {
        return "whsec_" + crypto::base64_encode(crypto::Bytes(n, 0x41));
    };
    EXPECT_FALSE(secret_key(of_size(23)).has_value());
    EXPECT_TRUE(secret_key(of_size(24)).has_value());
    EXPECT_TRUE(secret_key(of_size(64)).has_value());
    EXPECT_FALSE(secret_key(of_size(65)).has_value());
    EXPECT_FALSE(secret_key("whsec_").has_value());
}

TEST(Secrets, WrongPrefixOrBadBase64IsRefused) {
    const std::string body = generate_secret().substr(6);
    EXPECT_FALSE(secret_key(body).has_value());
    EXPECT_FALSE(secret_key("WHSEC_" + body).has_value());
    EXPECT_FALSE(secret_key("whsk_" + body).has_value());
    EXPECT_FALSE(secret_key("whsec_" + body.substr(1)).has_value());               // length not % 4
    EXPECT_FALSE(secret_key("whsec_" + body.substr(0, 40) + "!!!!").has_value());  // alphabet
    EXPECT_FALSE(secret_key("whsec_ " + body.substr(1)).has_value());
    EXPECT_FALSE(secret_key("whsec_" + body.substr(0, 20) + "=" + body.substr(21)).has_value());
}

TEST(Tokens, GeneratedTokenIsWellFormed) {
    const std::string token = generate_token();
    EXPECT_EQ(token.size(), 5u + 64u);
    EXPECT_EQ(token.rfind("coal_", 0), 0u);
    EXPECT_TRUE(is_well_formed_token(token));
    EXPECT_NE(generate_token(), token);
}

TEST(Tokens, MalformedTokensAreRefused) {
    const std::string token = generate_token();
    const std::string digits = token.substr(5);
    EXPECT_FALSE(is_well_formed_token(""));
    EXPECT_FALSE(is_well_formed_token(digits));
    EXPECT_FALSE(is_well_formed_token("cool_" + digits));
    EXPECT_FALSE(is_well_formed_token(token + "0"));
    EXPECT_FALSE(is_well_formed_token(token.substr(0, token.size() - 1)));
    std::string upper = token;
    upper[10] = 'A';
    EXPECT_FALSE(is_well_formed_token(upper));
    std::string not_hex = token;
    not_hex[10] = 'g';
    EXPECT_FALSE(is_well_formed_token(not_hex));
}

TEST(Tokens, HashIsSha256OfTheWholeToken) {
    const std::string token = generate_token();
    EXPECT_EQ(token_hash(token), crypto::sha256(token));
    EXPECT_EQ(token_hash(token).size(), 32u);
    // Known answer: SHA-256 of "abc".
    EXPECT_EQ(crypto::hex(token_hash("abc")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(EntityIds, AlphabetAndLength) {
    EXPECT_TRUE(is_valid_entity_id("a"));
    EXPECT_TRUE(is_valid_entity_id("M-1001"));
    EXPECT_TRUE(is_valid_entity_id("fuel.station_7-B"));
    EXPECT_TRUE(is_valid_entity_id(std::string(64, 'x')));
    EXPECT_FALSE(is_valid_entity_id(""));
    EXPECT_FALSE(is_valid_entity_id(std::string(65, 'x')));
    for (const std::string bad : {"a b", "a/b", "a:b", "é", "a\n", "a%20", "a'b"}) {
        EXPECT_FALSE(is_valid_entity_id(bad)) << bad;
    }
}

}  // namespace
}  // namespace coalition::partners
