#pragma once
// The API token aggregate: bearer tokens for the read side. Only a token's SHA-256 is stored, so
// a leaked database does not leak usable tokens; the token itself is shown once, at creation.
#include "core/crypto.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pqxx {
class transaction_base;
}

namespace coalition::storage {

enum class TokenRole { kOperator, kPartner };

std::string_view role_name(TokenRole role);  // "operator" | "partner"
std::optional<TokenRole> parse_role(std::string_view name);

class TokenError : public std::runtime_error {
  public:
    enum class Kind {
        invalid,          // role and partner do not fit together
        unknown_partner,  // the partner to bind the token to does not exist
        not_found,        // no such (unrevoked) token
    };
    TokenError(Kind kind, const std::string& reason) : std::runtime_error(reason), kind_(kind) {}
    Kind kind() const { return kind_; }

  private:
    Kind kind_;
};

struct TokenIdentity {
    std::int64_t id = 0;
    TokenRole role = TokenRole::kOperator;
    std::string partner_id;  // empty for operator tokens
};

struct CreatedToken {
    std::int64_t id = 0;
    std::string token;  // "coal_..."; the only time it exists outside the caller
};

// A token as `coalitionctl token list` shows it: never the token, which is not stored.
struct TokenRecord {
    std::int64_t id = 0;
    TokenRole role = TokenRole::kOperator;
    std::string partner_id;  // empty for operator tokens
    std::string created_at;  // "2026-11-22T13:45:01.123456Z"
    std::string revoked_at;  // empty while the token works
};

// Checks that a partner is given iff the role is partner; throws TokenError(invalid).
void validate_token_request(TokenRole role, const std::optional<std::string>& partner_id);

CreatedToken create_token(pqxx::transaction_base& tx, TokenRole role,
                          const std::optional<std::string>& partner_id);
// The identity of an unrevoked token with this SHA-256, if any.
std::optional<TokenIdentity> find_token(pqxx::transaction_base& tx,
                                        const crypto::Bytes& token_sha256);
// Revokes the token with this SHA-256; throws TokenError(not_found) if none is active.
void revoke_token(pqxx::transaction_base& tx, const crypto::Bytes& token_sha256);
// Revokes the token with this id (from list_tokens), for a token nobody can present any more;
// throws TokenError(not_found) if no active token has it.
void revoke_token_by_id(pqxx::transaction_base& tx, std::int64_t id);
// Every token ever created, revoked ones too, by id.
std::vector<TokenRecord> list_tokens(pqxx::transaction_base& tx);

}  // namespace coalition::storage
