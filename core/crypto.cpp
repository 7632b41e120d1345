#include "core/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <memory>
#include <stdexcept>

namespace coalition::crypto {

Bytes random_bytes(std::size_t count) {
    Bytes out(count);
    if (RAND_bytes(out.data(), static_cast<int>(count)) != 1) {
        throw std::runtime_error("RAND_bytes failed: no secure randomness available");
    }
    return out;
}

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(bytes.data()),
                                        static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

std::string base64_encode(const Bytes& bytes) {
    return base64_encode(
        std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::optional<Bytes> base64_decode(std::string_view text) {
    if (text.empty()) return Bytes{};
    if (text.size() % 4 != 0) return std::nullopt;
    // EVP_DecodeBlock skips leading/trailing whitespace; we accept only the canonical alphabet.
    for (char c : text) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
        if (!ok) return std::nullopt;
    }
    Bytes out(text.size() / 4 * 3);
    const int written = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                        static_cast<int>(text.size()));
    if (written < 0) return std::nullopt;
    // EVP_DecodeBlock counts padding bytes as zeros; strip them.
    std::size_t padding = 0;
    if (text.back() == '=') ++padding;
    if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
    if (text.find('=') < text.size() - padding) return std::nullopt;  // '=' only at the end
    out.resize(static_cast<std::size_t>(written) - padding);
    return out;
}

Bytes sha256(std::string_view data) {
    Bytes out(SHA256_DIGEST_LENGTH);
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("EVP_Digest(sha256) failed");
    }
    out.resize(length);
    return out;
}

std::string hex(const Bytes& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) {
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0x0f]);
    }
    return out;
}

std::string sha256_hex(std::string_view data) { return hex(sha256(data)); }

namespace {

struct FreeMacContext {
    void operator()(EVP_MAC_CTX* context) const { EVP_MAC_CTX_free(context); }
};
using MacContext = std::unique_ptr<EVP_MAC_CTX, FreeMacContext>;

MacContext new_hmac_sha256_context() {
    const std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> mac(
        EVP_MAC_fetch(nullptr, "HMAC", nullptr), &EVP_MAC_free);
    if (!mac) throw std::runtime_error("HMAC is not available from OpenSSL");
    MacContext context(EVP_MAC_CTX_new(mac.get()));  // holds its own reference to mac
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (!context || EVP_MAC_CTX_set_params(context.get(), params) != 1) {
        throw std::runtime_error("HMAC-SHA256 context failed");
    }
    return context;
}

// This thread's HMAC-SHA256 context, keyed afresh by every call. OpenSSL 3's one-shot HMAC()
// fetches the HMAC and SHA-256 implementations from its provider store and builds a context on
// every call: three times the work of re-keying a kept one, and about 4 % of the server's CPU
// under load (every claim's signature is checked; the load generator signs every claim).
EVP_MAC_CTX* thread_hmac_sha256() {
    thread_local const MacContext context = new_hmac_sha256_context();
    return context.get();
}

}  // namespace

Bytes hmac_sha256(const Bytes& key, std::string_view data) {
    EVP_MAC_CTX* context = thread_hmac_sha256();
    // A null key would make EVP_MAC_init reuse the context's previous key: an empty key is
    // passed as a valid pointer and a length of 0, as HMAC() did.
    static const unsigned char kNoKey = 0;
    const unsigned char* key_bytes = key.empty() ? &kNoKey : key.data();
    Bytes out(EVP_MAX_MD_SIZE);
    std::size_t length = 0;
    if (EVP_MAC_init(context, key_bytes, key.size(), nullptr) != 1 ||
        EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
            1 ||
        EVP_MAC_final(context, out.data(), &length, out.size()) != 1) {
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    out.resize(length);
    return out;
}

bool constant_time_equal(const Bytes& a, const Bytes& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace coalition::crypto
