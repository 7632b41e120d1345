#include "server/router.hpp"

#include "server/responses.hpp"

#include <boost/url/pct_string_view.hpp>

namespace coalition::server {

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> segments;
    if (path.empty() || path.front() != '/') return segments;
    std::size_t start = 1;
    while (true) {
        const auto slash = path.find('/', start);
        segments.push_back(path.substr(start, slash - start));
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    return segments;
}

std::optional<std::vector<std::string>> decoded_path_segments(const std::string& path) {
    auto segments = split_path(path);
    for (auto& segment : segments) {
        if (segment.find('%') == std::string::npos) continue;
        const auto encoded = boost::urls::make_pct_string_view(segment);
        if (!encoded) return std::nullopt;
        segment = encoded->decode();
    }
    return segments;
}

void Router::add(std::string method, const std::string& pattern, Handler handler) {
    routes_.push_back(Route{std::move(method), split_path(pattern), std::move(handler), true});
}

void Router::add_unguarded(std::string method, const std::string& pattern, Handler handler) {
    routes_.push_back(Route{std::move(method), split_path(pattern), std::move(handler), false});
}

namespace {

bool match(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
           PathParams& params) {
    if (pattern.size() != segments.size()) return false;
    PathParams found;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const auto& p = pattern[i];
        if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
            if (segments[i].empty()) return false;
            found.emplace(p.substr(1, p.size() - 2), segments[i]);
        } else if (p != segments[i]) {
            return false;
        }
    }
    params = std::move(found);
    return true;
}

}  // namespace

void Router::dispatch(const Request& request, Respond respond) const {
    const auto decoded = decoded_path_segments(request.path);
    if (!decoded) {
        respond(error_response(ErrorCode::not_found, "no resource at this path"));
        return;
    }
    const auto& segments = *decoded;
    std::string allowed;
    // HEAD is GET without the body (RFC 9110 §9.3.2; the session leaves the body out), so that a
    // load balancer's HEAD /healthz sees what GET would.
    const bool head = request.method == "HEAD";
    for (const auto& route : routes_) {
        PathParams params;
        if (!match(route.segments, segments, params)) continue;
        if (route.method == request.method || (head && route.method == "GET")) {
            if (route.guarded && guard_) {
                if (auto answer = guard_()) {
                    respond(std::move(*answer));
                    return;
                }
            }
            route.handler(request, params, std::move(respond));
            return;
        }
        if (!allowed.empty()) allowed += ", ";
        allowed += route.method == "GET" ? "GET, HEAD" : route.method;
    }
    if (allowed.empty()) {
        respond(error_response(ErrorCode::not_found, "no resource at this path"));
        return;
    }
    auto response = error_response(ErrorCode::method_not_allowed,
                                   "method " + request.method + " is not allowed here");
    response.headers.emplace_back("Allow", allowed);
    respond(std::move(response));
}

}  // namespace coalition::server
