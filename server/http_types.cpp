#include "server/http_types.hpp"

#include <strings.h>

namespace coalition::server {

std::optional<std::string_view> find_header(const HeaderList& headers, std::string_view name) {
    for (const auto& [key, value] : headers) {
        if (key.size() == name.size() && strncasecmp(key.data(), name.data(), name.size()) == 0) {
            return std::string_view(value);
        }
    }
    return std::nullopt;
}

}  // namespace coalition::server
