#include "server/bearer_auth.hpp"

#include "partners/credentials.hpp"

#include <strings.h>

namespace coalition::server {

std::optional<std::string> bearer_token(const Request& request) {
    const auto header = request.header("Authorization");
    constexpr std::string_view kScheme = "Bearer ";
    if (!header || header->size() <= kScheme.size() ||
        strncasecmp(header->data(), kScheme.data(), kScheme.size()) != 0) {
        return std::nullopt;
    }
    std::string token(header->substr(kScheme.size()));
    if (!partners::is_well_formed_token(token)) return std::nullopt;
    return token;
}

std::optional<storage::TokenIdentity> authenticate(pqxx::transaction_base& tx, const std::string& token) {
    return storage::find_token(tx, partners::token_hash(token));
}

}  // namespace coalition::server
