#pragma once
// Thin, named wrappers over OpenSSL: nothing here is hand-rolled.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coalition::crypto {

using Bytes = std::vector<unsigned char>;

// Cryptographically secure random bytes (RAND_bytes); throws if the generator fails.
Bytes random_bytes(std::size_t count);

// Standard base64 with padding (EVP_EncodeBlock / EVP_DecodeBlock).
std::string base64_encode(const Bytes& bytes);
std::string base64_encode(std::string_view bytes);
// nullopt unless `text` is canonical padded base64 (length multiple of 4, valid alphabet).
std::optional<Bytes> base64_decode(std::string_view text);

Bytes sha256(std::string_view data);
std::string hex(const Bytes& bytes);
std::string sha256_hex(std::string_view data);

Bytes hmac_sha256(const Bytes& key, std::string_view data);

// Constant-time equality (CRYPTO_memcmp); sizes are compared first, which leaks only the length.
bool constant_time_equal(const Bytes& a, const Bytes& b);

}  // namespace coalition::crypto
