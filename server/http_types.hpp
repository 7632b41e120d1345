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

// The origin-form of a request target: "https://host:8443/v1/x?y" (absolute-form, which a
// server must accept, RFC 9112 §3.2.2) becomes "/v1/x?y"; any other target is returned as it is.
std::string origin_form(std::string_view target);

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
