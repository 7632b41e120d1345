#include "server/partner_directory.hpp"

#include "partners/credentials.hpp"
#include "storage/partner_store.hpp"
#include "storage/program_store.hpp"

#include <pqxx/transaction_base>

namespace coalition::server {

std::shared_ptr<const DirectorySnapshot> load_directory(pqxx::transaction_base& tx,
                                                        std::int64_t now_us) {
    auto snapshot = std::make_shared<DirectorySnapshot>();
    snapshot->program_currency = storage::current_program(tx).currency;
    for (const auto& partner : storage::secrets_valid_at(tx, now_us)) {
        PartnerEntry entry;
        entry.suspended = partner.suspended;
        entry.earn_rate = partner.earn_rate;
        for (const auto& secret : partner.secrets) {
            // The table's CHECK keeps malformed secrets out; a key too short to decode is skipped.
            if (auto key = partners::secret_key(secret)) entry.keys.push_back(std::move(*key));
        }
        snapshot->partners.emplace(partner.partner_id, std::move(entry));
    }
    return snapshot;
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
