#include "storage/token_store.hpp"

#include "partners/credentials.hpp"
#include "storage/sql_time.hpp"

#include <pqxx/pqxx>

namespace coalition::storage {
namespace {

// FOR KEY SHARE keeps the partner from disappearing under us without blocking its updates.
constexpr const char* kPartnerExistsSql = "SELECT 1 FROM partners WHERE id = $1 FOR KEY SHARE";
constexpr const char* kInsertSql =
    "INSERT INTO api_tokens (token_sha256, role, partner_id) VALUES ($1, $2, $3) RETURNING id";
constexpr const char* kFindSql =
    "SELECT id, role, coalesce(partner_id, '') FROM api_tokens"
    " WHERE token_sha256 = $1 AND revoked_at IS NULL";
constexpr const char* kRevokeSql =
    "UPDATE api_tokens SET revoked_at = now()"
    " WHERE token_sha256 = $1 AND revoked_at IS NULL RETURNING id";

constexpr const char* kRevokeByIdSql =
    "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id";
constexpr const char* kListSql =
    "SELECT id, role, coalesce(partner_id, ''), " SQL_UTC_INSTANT("created_at") ","
    " coalesce(" SQL_UTC_INSTANT("revoked_at") ", '') FROM api_tokens ORDER BY id";

// Fail closed: a role we do not know must never default to the powerful one.
TokenRole stored_role(const pqxx::field& field) {
    const auto role = parse_role(field.as<std::string>());
    if (!role) throw std::logic_error("api_tokens row with an unknown role");
    return *role;
}

pqxx::binarystring as_bytea(const crypto::Bytes& bytes) {
    return pqxx::binarystring(bytes.data(), bytes.size());
}

}  // namespace

std::string_view role_name(TokenRole role) {
    return role == TokenRole::kPartner ? "partner" : "operator";
}

std::optional<TokenRole> parse_role(std::string_view name) {
    if (name == "operator") return TokenRole::kOperator;
    if (name == "partner") return TokenRole::kPartner;
    return std::nullopt;
}

void validate_token_request(TokenRole role, const std::optional<std::string>& partner_id) {
    if (role == TokenRole::kPartner && !partner_id) {
        throw TokenError(TokenError::Kind::invalid, "a partner token needs --partner ID");
    }
    if (role == TokenRole::kOperator && partner_id) {
        throw TokenError(TokenError::Kind::invalid, "an operator token is bound to no partner");
    }
    if (partner_id && !partners::is_valid_entity_id(*partner_id)) {
        throw TokenError(
            TokenError::Kind::invalid,
            "partner id '" + *partner_id + "' must be 1-64 characters of [A-Za-z0-9._-]");
    }
}

CreatedToken create_token(pqxx::transaction_base& tx, TokenRole role,
                          const std::optional<std::string>& partner_id) {
    validate_token_request(role, partner_id);
    if (partner_id && tx.exec_params(kPartnerExistsSql, *partner_id).empty()) {
        throw TokenError(TokenError::Kind::unknown_partner,
                         "unknown partner '" + *partner_id + "'");
    }
    CreatedToken out;
    out.token = partners::generate_token();
    const auto hash = partners::token_hash(out.token);
    const auto row =
        tx.exec_params1(kInsertSql, as_bytea(hash), std::string(role_name(role)), partner_id);
    out.id = row[0].as<std::int64_t>();
    return out;
}

std::optional<TokenIdentity> find_token(pqxx::transaction_base& tx,
                                        const crypto::Bytes& token_sha256) {
    const auto result = tx.exec_params(kFindSql, as_bytea(token_sha256));
    if (result.empty()) return std::nullopt;
    TokenIdentity out;
    out.id = result[0][0].as<std::int64_t>();
    out.role = stored_role(result[0][1]);
    out.partner_id = result[0][2].as<std::string>();
    return out;
}

void revoke_token(pqxx::transaction_base& tx, const crypto::Bytes& token_sha256) {
    if (tx.exec_params(kRevokeSql, as_bytea(token_sha256)).empty()) {
        throw TokenError(TokenError::Kind::not_found, "no active token with that hash");
    }
}

void revoke_token_by_id(pqxx::transaction_base& tx, std::int64_t id) {
    if (tx.exec_params(kRevokeByIdSql, id).empty()) {
        throw TokenError(TokenError::Kind::not_found,
                         "no active token with id " + std::to_string(id));
    }
}

std::vector<TokenRecord> list_tokens(pqxx::transaction_base& tx) {
    std::vector<TokenRecord> out;
    for (const auto& row : tx.exec(kListSql)) {
        out.push_back(TokenRecord{row[0].as<std::int64_t>(), stored_role(row[1]),
                                  row[2].as<std::string>(), row[3].as<std::string>(),
                                  row[4].as<std::string>()});
    }
    return out;
}

}  // namespace coalition::storage
