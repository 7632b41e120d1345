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

std::string origin_form(std::string_view target) {
    for (const std::string_view scheme : {"https://", "http://"}) {
        if (target.size() < scheme.size() ||
            strncasecmp(target.data(), scheme.data(), scheme.size()) != 0) {
            continue;
        }
        const auto path = target.find_first_of("/?", scheme.size());  // after the authority
        if (path == std::string_view::npos) return "/";
        if (target[path] == '?') return "/" + std::string(target.substr(path));
        return std::string(target.substr(path));
    }
    return std::string(target);
}

}  // namespace coalition::server
