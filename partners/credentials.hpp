#pragma once
// Formats of the two kinds of credential, generated from OpenSSL's RNG:
//  - a partner's webhook secret, "whsec_" + base64 of 32 random bytes (Standard Webhooks);
//  - an API bearer token, "coal_" + 64 hex digits of 32 random bytes; only its SHA-256
//    is ever stored.
#include "core/crypto.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace coalition::partners {

inline constexpr std::string_view kSecretPrefix = "whsec_";
inline constexpr std::string_view kTokenPrefix = "coal_";

std::string generate_secret();
// The HMAC key of a "whsec_<base64>" secret; nullopt if the format is wrong or the key has fewer
// than 24 bytes (Standard Webhooks secrets are 24 to 64 bytes).
std::optional<crypto::Bytes> secret_key(std::string_view secret);

std::string generate_token();
bool is_well_formed_token(std::string_view token);
// SHA-256 of the token: what the database stores and what a presented token is looked up by.
crypto::Bytes token_hash(std::string_view token);

// The identifier rule shared by partners and members: 1-64 characters of [A-Za-z0-9._-].
bool is_valid_entity_id(std::string_view id);

}  // namespace coalition::partners
