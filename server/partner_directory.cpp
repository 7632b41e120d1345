#include "server/partner_directory.hpp"

#include "partners/credentials.hpp"
#include "storage/migrator.hpp"
#include "storage/partner_store.hpp"
#include "storage/program_store.hpp"

#include <pqxx/transaction_base>

#include <algorithm>

namespace coalition::server {

std::shared_ptr<const DirectorySnapshot> load_directory(
    pqxx::transaction_base& tx, std::int64_t now_us,
    const std::vector<storage::Migration>& schema) {
    auto snapshot = std::make_shared<DirectorySnapshot>();
    // Read first: an older schema may lack what the reads below need.
    snapshot->missing_migration = storage::first_missing_migration(tx, schema);
    if (snapshot->missing_migration) return snapshot;
    snapshot->program_currency = storage::current_program(tx).currency;
    for (const auto& partner : storage::secrets_valid_at(tx, now_us)) {
        PartnerEntry entry;
        entry.suspended = partner.suspended;
        entry.earn_rate = partner.earn_rate;
        for (std::size_t i = 0; i < partner.secrets.size(); ++i) {
            // The table's CHECK keeps malformed secrets out; a key too short to decode is skipped.
            if (auto key = partners::secret_key(partner.secrets[i])) {
                entry.keys.push_back(std::move(*key));
                entry.key_ends_us.push_back(partner.ends_us[i]);
            }
        }
        snapshot->partners.emplace(partner.partner_id, std::move(entry));
    }
    return snapshot;
}

const std::vector<crypto::Bytes>& PartnerEntry::keys_valid_at(
    std::int64_t now_us, std::vector<crypto::Bytes>& scratch) const {
    if (std::all_of(key_ends_us.begin(), key_ends_us.end(),
                    [now_us](std::int64_t end) { return now_us < end; })) {
        return keys;
    }
    scratch.clear();
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (now_us < key_ends_us[i]) scratch.push_back(keys[i]);
    }
    return scratch;
}

std::shared_ptr<const DirectorySnapshot> PartnerDirectory::current() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
}

void PartnerDirectory::replace(std::shared_ptr<const DirectorySnapshot> snapshot) {
    std::lock_guard lock(mutex_);
    snapshot_ = std::move(snapshot);
}

}  // namespace coalition::server
