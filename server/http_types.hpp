#pragma once
// The server's own view of an HTTP exchange. Handlers see only these plain structs, so they
// compile without Beast and can be unit-tested without a socket.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coalition::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup; nullopt when absent. A repeated header yields the first value.
std::optional<std::string_view> find_header(const HeaderList& headers, std::string_view name);

struct Request {
    std::string method;  // "GET", "POST", ...
    std::string path;    // without the query string
    std::string query;   // after '?', may be empty
    HeaderList headers;
    std::string body;
    std::string request_id;
    std::string remote_address;
    std::optional<std::string> client_certificate_cn;  // set when the client presented a certificate

    std::optional<std::string_view> header(std::string_view name) const {
        return find_header(headers, name);
    }
};

struct Response {
    int status = 200;
    HeaderList headers;  // Content-Type included; Content-Length and X-Request-Id are added on send
    std::string body;
};

}  // namespace coalition::server
