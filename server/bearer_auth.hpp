#pragma once
// Bearer tokens of the read API. A token is looked up by its SHA-256 in the same database job as
// the read it guards, so a new or revoked token takes effect at once.
#include "server/http_types.hpp"
#include "storage/token_store.hpp"

#include <optional>
#include <string>

namespace coalition::server {

// The token of "Authorization: Bearer <token>" if present and well-formed.
std::optional<std::string> bearer_token(const Request& request);

std::optional<storage::TokenIdentity> authenticate(pqxx::transaction_base& tx, const std::string& token);

}  // namespace coalition::server
