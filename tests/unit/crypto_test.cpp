// HMAC-SHA256 against RFC 4231's vectors. Each thread keeps one OpenSSL context and keys it
// afresh for every call, so these also check that no call sees another's key: keys of every
// length in turn, an empty key after a long one, and threads signing with their own keys at once.
#include "core/crypto.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace coalition::crypto {
namespace {

Bytes bytes_of(const std::string& text) { return Bytes(text.begin(), text.end()); }

struct Vector {
    Bytes key;
    std::string data;
    std::string hmac_hex;
};

// RFC 4231 test cases 1 (20-byte key), 2 (a key shorter than the digest) and 6 (a key longer than
// the block, which HMAC hashes first); then an empty key (HMAC("", "abc")).
std::vector<Vector> vectors() {
    return {
        {Bytes(20, 0x0b), "Hi There",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {bytes_of("Jefe"), "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {Bytes(131, 0xaa), "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {Bytes{}, "abc", "fd7adb152c05ef80dccf50a1fa4c05d5a3ec6da95575fc312ae7c5d091836351"},
    };
}

TEST(HmacSha256, MatchesRfc4231InAnyOrderOfKeys) {
    const auto all = vectors();
    for (const std::vector<std::size_t>& order :
         {std::vector<std::size_t>{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 3, 0, 3, 1, 2}}) {
        for (const auto index : order) {
            const auto& vector = all[index];
            EXPECT_EQ(hex(hmac_sha256(vector.key, vector.data)), vector.hmac_hex) << index;
        }
    }
}

TEST(HmacSha256, ThreadsSigningAtOnceEachGetTheirOwnKeysDigest) {
    const auto all = vectors();
    std::vector<int> wrong(all.size(), 0);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < all.size(); ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2'000; ++i) {
                if (hex(hmac_sha256(all[t].key, all[t].data)) != all[t].hmac_hex) ++wrong[t];
            }
        });
    }
    for (auto& thread : threads) thread.join();
    for (std::size_t t = 0; t < all.size(); ++t) EXPECT_EQ(wrong[t], 0) << t;
}

}  // namespace
}  // namespace coalition::crypto
