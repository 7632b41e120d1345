#pragma once
// The partner aggregate: partners and their webhook secrets (partner_secrets). A rotation keeps
// the old secret valid for 24 hours beside the new one, so partners can switch without downtime.
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pqxx {
class transaction_base;
}

namespace coalition::storage {

class PartnerError : public std::runtime_error {
  public:
    enum class Kind {
        invalid,    // an input out of its domain: the caller must fix it
        not_found,  // no partner with that id
        duplicate,  // a partner with that id already exists
    };
    PartnerError(Kind kind, const std::string& reason) : std::runtime_error(reason), kind_(kind) {}
    Kind kind() const { return kind_; }

  private:
    Kind kind_;
};

inline constexpr std::int64_t kEarnRateMin = 1;
inline constexpr std::int64_t kEarnRateMax = 1'000'000;
inline constexpr std::size_t kPartnerNameMaxChars = 200;

struct NewPartner {
    std::string id;
    std::string name;
    std::int64_t earn_rate = 1;         // points per major unit of a purchase
    std::optional<std::string> secret;  // "whsec_..."; generated when absent
};

struct Partner {
    std::string id;
    std::string name;
    std::int64_t earn_rate = 1;
    bool suspended = false;
    std::string created_at;    // RFC 3339, UTC
    std::string suspended_at;  // empty while active
};

// What the server caches to verify webhooks: a partner's state and every secret valid now.
struct PartnerSecrets {
    std::string partner_id;
    bool suspended = false;
    std::int64_t earn_rate = 1;
    std::vector<std::string> secrets;  // newest first
    // When each of `secrets` stops being valid, on the clock given to secrets_valid_at (the
    // earlier of its valid_until and the database's clock reaching it); kNoEnd for the current.
    std::vector<std::int64_t> ends_us;
    static constexpr std::int64_t kNoEnd = std::numeric_limits<std::int64_t>::max();
};

// An id outside the entity_id rule cannot name a partner: throws PartnerError(invalid), a
// mistyped argument (exit 2 in coalitionctl) rather than a missing partner, without asking the
// database (which would refuse bytes that are not UTF-8 with an error that names nothing).
void require_partner_id_shape(std::string_view partner_id);

// Checks id, name, earn rate and secret without a database; throws PartnerError(invalid).
void validate_new_partner(const NewPartner& partner);

// Adds the partner with its first secret and returns that secret. Throws PartnerError.
std::string add_partner(pqxx::transaction_base& tx, const NewPartner& partner);
inline constexpr int kRotationOverlapHours = 24;

// Makes a new secret current and returns it; the previous ones stay valid for at most
// `old_valid_hours` (0..24; 24 by default, the contract's overlap; 0 when a secret leaked: the
// old ones stop at once). Throws PartnerError.
std::string rotate_secret(pqxx::transaction_base& tx, std::string_view partner_id,
                          int old_valid_hours = kRotationOverlapHours);
// Both are idempotent: suspending a suspended partner changes nothing.
void suspend_partner(pqxx::transaction_base& tx, std::string_view partner_id);
void resume_partner(pqxx::transaction_base& tx, std::string_view partner_id);

std::optional<Partner> find_partner(pqxx::transaction_base& tx, std::string_view partner_id);
std::vector<Partner> list_partners(pqxx::transaction_base& tx);  // ordered by id
// Every partner with its secrets still valid, ordered by partner id. A rotated-out secret ends
// when either clock says so: `now_us`, the server's (the one that checks webhook-timestamp, so a
// server moved a day ahead by faketime refuses it), or the database's, which stamped the end (so
// a server whose clock is behind does not keep it longer, and one ended at once stays ended).
// A secret's start is the database's now() of its creation: a secret is never created for later.
std::vector<PartnerSecrets> secrets_valid_at(pqxx::transaction_base& tx, std::int64_t now_us);

}  // namespace coalition::storage
