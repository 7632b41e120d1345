#pragma once
// An in-memory copy of what authenticating a claim needs — partners, their currently valid
// secrets (decoded), their status and earn rate, and the program currency — re-read from the
// database every refresh_interval_ms, so coalitionctl changes reach a running server within the
// contract's 5 seconds without a database round trip per claim. Until the first load succeeds
// there is no snapshot and claims are answered 503; while the database's schema lacks a
// migration the server was built with, every request but the health probes is (server.cpp).
#include "core/crypto.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pqxx {
class transaction_base;
}
namespace coalition::storage {
struct Migration;
}

namespace coalition::server {

struct PartnerEntry {
    bool suspended = false;
    std::int64_t earn_rate = 1;
    std::vector<crypto::Bytes> keys;  // HMAC keys of every secret valid now (rotation overlap)
    // keys[i] is valid until key_ends_us[i] on the server's clock: a rotated-out secret ends
    // then, not at the first re-read after (up to refresh_interval_ms later).
    std::vector<std::int64_t> key_ends_us;

    // The keys still valid at `now_us`: `keys` itself, or, once one has ended, those left,
    // copied into `scratch`.
    const std::vector<crypto::Bytes>& keys_valid_at(std::int64_t now_us,
                                                    std::vector<crypto::Bytes>& scratch) const;
};

struct DirectorySnapshot {
    // The first migration of `schema` the database lacks: the server's code would work on a
    // schema older than itself (a missing column fails a claim with 500, a missing constraint
    // lets through what the newer schema refuses), so requests are answered 503 until it is
    // applied, and nothing else is read.
    std::optional<std::string> missing_migration;
    std::map<std::string, PartnerEntry, std::less<>> partners;
    std::string program_currency;
};

// Reads a fresh snapshot in `tx` (pure storage calls, no caching).
// `now_us`: the server's clock, which decides whether a rotated-out secret is still valid.
// `schema`: the migrations the server was built with.
std::shared_ptr<const DirectorySnapshot> load_directory(
    pqxx::transaction_base& tx, std::int64_t now_us, const std::vector<storage::Migration>& schema);

class PartnerDirectory {
public:
    std::shared_ptr<const DirectorySnapshot> current() const;
    void replace(std::shared_ptr<const DirectorySnapshot> snapshot);

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const DirectorySnapshot> snapshot_;
};

}  // namespace coalition::server
