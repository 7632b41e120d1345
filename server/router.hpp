#pragma once
// Routes (method, path pattern) to handlers. Patterns are literal segments and {name}
// placeholders; a path that matches no pattern is 404 not_found, a path that matches with
// another method is 405 method_not_allowed (with Allow).
#include "server/http_types.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace coalition::server {

using PathParams = std::map<std::string, std::string, std::less<>>;
using Respond = std::function<void(Response)>;
// A handler answers exactly once through `respond`, from any thread, possibly later.
using Handler = std::function<void(const Request&, const PathParams&, Respond)>;

// Asked before a matched route's handler runs: an answer given instead of the handler's (the
// server answers 503 while the database's schema is older than its code), or nullopt.
using Guard = std::function<std::optional<Response>()>;

class Router {
public:
    void add(std::string method, const std::string& pattern, Handler handler);
    // A route the guard does not hold up (health probes, which must answer whatever state the
    // database is in).
    void add_unguarded(std::string method, const std::string& pattern, Handler handler);
    void set_guard(Guard guard) { guard_ = std::move(guard); }
    void dispatch(const Request& request, Respond respond) const;

private:
    struct Route {
        std::string method;
        std::vector<std::string> segments;
        Handler handler;
        bool guarded = true;
    };
    std::vector<Route> routes_;
    Guard guard_;
};

// Splits "/a/b/c" into {"a","b","c"}; an empty segment (e.g. "//" or a trailing '/') is kept
// as "" so that "/v1/members/" never matches "/v1/members/{id}".
std::vector<std::string> split_path(const std::string& path);

// split_path, then each segment percent-decoded (RFC 3986: "%2E%2E" is the member id "..",
// which a client cannot send as it is, since ".." is removed from paths; "M%2D1" is "M-1").
// Decoded after splitting, so "%2F" never makes a segment boundary. nullopt when a segment's
// percent-encoding is malformed.
std::optional<std::vector<std::string>> decoded_path_segments(const std::string& path);

}  // namespace coalition::server
