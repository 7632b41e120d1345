#include "partners/credentials.hpp"

#include <cstddef>

namespace coalition::partners {
namespace {

// 32 bytes is the size Standard Webhooks' own libraries generate; 24..64 is what they accept.
constexpr std::size_t kGeneratedKeyBytes = 32;
constexpr std::size_t kSecretKeyMinBytes = 24;
constexpr std::size_t kSecretKeyMaxBytes = 64;
constexpr std::size_t kTokenRandomBytes = 32;
constexpr std::size_t kEntityIdMaxLength = 64;

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

std::string generate_secret() {
    return std::string(kSecretPrefix) +
           crypto::base64_encode(crypto::random_bytes(kGeneratedKeyBytes));
}

std::optional<crypto::Bytes> secret_key(std::string_view secret) {
    if (secret.substr(0, kSecretPrefix.size()) != kSecretPrefix) return std::nullopt;
    auto key = crypto::base64_decode(secret.substr(kSecretPrefix.size()));
    if (!key || key->size() < kSecretKeyMinBytes || key->size() > kSecretKeyMaxBytes) {
        return std::nullopt;
    }
    return key;
}

std::string generate_token() {
    return std::string(kTokenPrefix) + crypto::hex(crypto::random_bytes(kTokenRandomBytes));
}

bool is_well_formed_token(std::string_view token) {
    if (token.size() != kTokenPrefix.size() + 2 * kTokenRandomBytes) return false;
    if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix) return false;
    for (char c : token.substr(kTokenPrefix.size())) {
        if (!is_lower_hex(c)) return false;
    }
    return true;
}

crypto::Bytes token_hash(std::string_view token) { return crypto::sha256(token); }

bool is_valid_entity_id(std::string_view id) {
    if (id.empty() || id.size() > kEntityIdMaxLength) return false;
    for (char c : id) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

}  // namespace coalition::partners
