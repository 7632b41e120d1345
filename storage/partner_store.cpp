#include "storage/partner_store.hpp"

#include "core/json_text.hpp"
#include "partners/credentials.hpp"
#include "settlement/run.hpp"
#include "storage/sql_time.hpp"

#include <boost/algorithm/string/predicate.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace coalition::storage {
namespace {

constexpr const char* kPartnerColumns =
    "id, name, earn_rate, status = 'suspended',"
    " " SQL_UTC_INSTANT("created_at") ", coalesce(" SQL_UTC_INSTANT("suspended_at") ", '')";

constexpr const char* kInsertPartnerSql =
    "INSERT INTO partners (id, name, earn_rate) VALUES ($1, $2, $3)"
    " ON CONFLICT (id) DO NOTHING RETURNING id";
constexpr const char* kAllSecretsSql = "SELECT secret FROM partner_secrets";
// Taken by an add with a given secret before it compares that key with every stored one, and
// held until it commits: two adds of one key at once then take turns, and the second, reading
// after the first committed, sees the first's key. Class 6190882 (6190878 is a date's booking
// lock, 6190879 the program's, 6190880 claim keys, 6190881 a date's close).
constexpr const char* kLockGivenSecretsSql = "SELECT pg_advisory_xact_lock(6190882, 0)";
constexpr const char* kInsertSecretSql =
    "INSERT INTO partner_secrets (partner_id, secret) VALUES ($1, $2)";
// Every writer locks the partner row first, then its secrets: one order, no deadlocks.
constexpr const char* kLockPartnerSql = "SELECT id FROM partners WHERE id = $1 FOR UPDATE";
// Every secret still valid ends within $2 hours; with 0, right after it began (valid_from + 1 µs).
// Never before its start (CHECK valid_until > valid_from): a rotation that waited on the
// partner's lock may have begun, now(), before the secret another rotation just created.
constexpr const char* kCloseSecretsSql =
    "UPDATE partner_secrets"
    " SET valid_until = greatest(valid_from + interval '1 microsecond',"
    "   CASE WHEN $2::int = 0 THEN valid_from"
    "   ELSE least(coalesce(valid_until, 'infinity'), now() + make_interval(hours => $2::int)) END)"
    " WHERE partner_id = $1 AND (valid_until IS NULL OR valid_until > now())";
constexpr const char* kSuspendSql =
    "UPDATE partners SET status = 'suspended', suspended_at = now()"
    " WHERE id = $1 AND status = 'active'";
constexpr const char* kResumeSql =
    "UPDATE partners SET status = 'active', suspended_at = NULL"
    " WHERE id = $1 AND status = 'suspended'";
const std::string kFindPartnerSql =
    std::string("SELECT ") + kPartnerColumns + " FROM partners WHERE id = $1";
const std::string kListPartnersSql =
    std::string("SELECT ") + kPartnerColumns + " FROM partners ORDER BY id";
// A secret's end is given on the caller's clock ($1): the earlier of its valid_until and the
// moment the database's clock reaches it, so that the caller can end it when it ends, between
// two reads, by either clock.
constexpr const char* kSecretsValidNowSql =
    "SELECT p.id, p.status = 'suspended', p.earn_rate, s.secret, "
    "  least(extract(epoch FROM s.valid_until) * 1000000, "
    "        extract(epoch FROM $1::timestamptz) * 1000000 "
    "          + (extract(epoch FROM s.valid_until) - extract(epoch FROM now())) * 1000000"
    "  )::bigint"
    " FROM partners p LEFT JOIN partner_secrets s ON s.partner_id = p.id"
    "  AND s.valid_from <= now()"
    "  AND (s.valid_until IS NULL OR (s.valid_until > $1::timestamptz AND s.valid_until > now()))"
    " ORDER BY p.id, s.valid_from DESC, s.id DESC";

PartnerError invalid(const std::string& reason) {
    return PartnerError(PartnerError::Kind::invalid, reason);
}

PartnerError not_found(std::string_view partner_id) {
    return PartnerError(PartnerError::Kind::not_found,
                        "unknown partner '" + std::string(partner_id) + "'");
}

// Characters as PostgreSQL's length() counts them in UTF-8: every byte that starts one.
std::size_t utf8_length(std::string_view text) {
    std::size_t count = 0;
    for (char c : text) {
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
    }
    return count;
}

// Whether `text` is UTF-8, as nlohmann checks it when writing a JSON string (`partner list`).
// PostgreSQL refuses other bytes too, but with an error that names neither the argument nor
// the rule, and as a database failure (exit 1) rather than a bad argument (exit 2).
bool is_utf8(std::string_view text) {
    try {
        std::string ignored;
        append_json_string(ignored, text, InvalidUtf8::refuse);
        return true;
    } catch (const nlohmann::json::type_error&) {
        return false;
    }
}

void lock_partner(pqxx::transaction_base& tx, std::string_view partner_id) {
    if (tx.exec_params(kLockPartnerSql, std::string(partner_id)).empty()) {
        throw not_found(partner_id);
    }
}

Partner read_partner(const pqxx::row& row) {
    Partner out;
    out.id = row[0].as<std::string>();
    out.name = row[1].as<std::string>();
    out.earn_rate = row[2].as<std::int64_t>();
    out.suspended = row[3].as<bool>();
    out.created_at = row[4].as<std::string>();
    out.suspended_at = row[5].as<std::string>();
    return out;
}

}  // namespace

void require_partner_id_shape(std::string_view partner_id) {
    if (!partners::is_valid_entity_id(partner_id)) {
        throw invalid("partner id '" + std::string(partner_id) +
                      "' must be 1-64 characters of [A-Za-z0-9._-]");
    }
}

void validate_new_partner(const NewPartner& partner) {
    require_partner_id_shape(partner.id);
    // Checked for new partners only: ids already stored stay valid. A leading '-' reads as an
    // option on a command line (coalitionctl's own), '.' and '..' as path steps in a URL that
    // clients normalise away, and a spreadsheet opening a statement's CSV reads "-A1" as a
    // formula.
    const char first = partner.id.front();  // not empty: its shape was checked above
    if (!((first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z') ||
          (first >= '0' && first <= '9'))) {
        throw invalid("partner id '" + partner.id + "' must begin with a letter or a digit");
    }
    // Runs and instructions name the central counterparty "operator": "Operator" beside it in
    // a payment file invites a payment to the wrong party.
    if (boost::algorithm::iequals(partner.id, settlement::kOperatorId)) {
        throw invalid("partner id '" + partner.id +
                      "' is reserved for the coalition operator, in any case");
    }
    if (!is_utf8(partner.name)) throw invalid("partner name must be UTF-8 text");
    const std::size_t name_length = utf8_length(partner.name);
    if (name_length < 1 || name_length > kPartnerNameMaxChars) {
        throw invalid("partner name must be 1-200 characters");
    }
    if (partner.earn_rate < kEarnRateMin || partner.earn_rate > kEarnRateMax) {
        throw invalid("earn rate must be 1..1000000, got " + std::to_string(partner.earn_rate));
    }
    if (partner.secret && !partners::secret_key(*partner.secret)) {
        throw invalid("secret must be whsec_ followed by base64 of 24 to 64 bytes");
    }
}

std::string add_partner(pqxx::transaction_base& tx, const NewPartner& partner) {
    validate_new_partner(partner);
    const std::string secret = partner.secret ? *partner.secret : partners::generate_secret();
    if (tx.exec_params(kInsertPartnerSql, partner.id, partner.name, partner.earn_rate).empty()) {
        throw PartnerError(PartnerError::Kind::duplicate,
                           "partner '" + partner.id + "' already exists");
    }
    // A key two partners share lets either sign claims as the other. Compared as the key
    // itself, not its text (the table is one row a partner and rotation: small). Generated
    // keys are 32 random bytes: only given ones are compared.
    if (partner.secret) {
        tx.exec(kLockGivenSecretsSql);
        const auto key = partners::secret_key(*partner.secret);
        for (const auto& row : tx.exec(kAllSecretsSql)) {
            if (partners::secret_key(row[0].as<std::string>()) == key) {
                throw invalid(
                    "that secret is another partner's (now or before a rotation): "
                    "each partner needs its own");
            }
        }
    }
    tx.exec_params(kInsertSecretSql, partner.id, secret);
    return secret;
}

std::string rotate_secret(pqxx::transaction_base& tx, std::string_view partner_id,
                          int old_valid_hours) {
    if (old_valid_hours < 0 || old_valid_hours > kRotationOverlapHours) {
        throw invalid("the old secrets' hours must be 0.." + std::to_string(kRotationOverlapHours));
    }
    require_partner_id_shape(partner_id);
    lock_partner(tx, partner_id);
    // Every secret still valid ends within old_valid_hours: the current one (valid_until NULL)
    // then, an older one at its earlier end if that comes first.
    tx.exec_params(kCloseSecretsSql, std::string(partner_id), old_valid_hours);
    std::string secret = partners::generate_secret();
    tx.exec_params(kInsertSecretSql, std::string(partner_id), secret);
    return secret;
}

void suspend_partner(pqxx::transaction_base& tx, std::string_view partner_id) {
    require_partner_id_shape(partner_id);
    lock_partner(tx, partner_id);
    tx.exec_params(kSuspendSql, std::string(partner_id));
}

void resume_partner(pqxx::transaction_base& tx, std::string_view partner_id) {
    require_partner_id_shape(partner_id);
    lock_partner(tx, partner_id);
    tx.exec_params(kResumeSql, std::string(partner_id));
}

std::optional<Partner> find_partner(pqxx::transaction_base& tx, std::string_view partner_id) {
    if (!partners::is_valid_entity_id(partner_id)) return std::nullopt;
    const auto result = tx.exec_params(kFindPartnerSql, std::string(partner_id));
    if (result.empty()) return std::nullopt;
    return read_partner(result[0]);
}

std::vector<Partner> list_partners(pqxx::transaction_base& tx) {
    std::vector<Partner> out;
    for (const auto& row : tx.exec(kListPartnersSql)) out.push_back(read_partner(row));
    return out;
}

std::vector<PartnerSecrets> secrets_valid_at(pqxx::transaction_base& tx, std::int64_t now_us) {
    std::vector<PartnerSecrets> out;
    for (const auto& row : tx.exec_params(kSecretsValidNowSql, timestamp_literal(now_us))) {
        const auto id = row[0].as<std::string>();
        if (out.empty() || out.back().partner_id != id) {
            out.push_back(PartnerSecrets{id, row[1].as<bool>(), row[2].as<std::int64_t>(), {}});
        }
        if (row[3].is_null()) continue;
        out.back().secrets.push_back(row[3].as<std::string>());
        out.back().ends_us.push_back(row[4].is_null() ? PartnerSecrets::kNoEnd
                                                      : row[4].as<std::int64_t>());
    }
    return out;
}

}  // namespace coalition::storage
