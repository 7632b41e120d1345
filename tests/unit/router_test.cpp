#include "server/router.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace coalition::server {
namespace {

Response dispatch(const Router& router, const std::string& method, const std::string& path) {
    Request request;
    request.method = method;
    request.path = path;
    Response out;
    int calls = 0;
    router.dispatch(request, [&](Response response) {
        out = std::move(response);
        ++calls;
    });
    EXPECT_EQ(calls, 1);
    return out;
}

Router sample_router(std::string& seen) {
    Router router;
    router.add("GET", "/v1/members/{member_id}",
               [&seen](const Request&, const PathParams& params, Respond respond) {
                   seen = params.at("member_id");
                   respond(Response{200, {}, ""});
               });
    router.add("POST", "/v1/partners/{partner_id}/claims",
               [](const Request&, const PathParams&, Respond respond) { respond(Response{201, {}, ""}); });
    return router;
}

TEST(Router, MatchesPlaceholdersAndPassesThem) {
    std::string seen;
    const auto router = sample_router(seen);
    EXPECT_EQ(dispatch(router, "GET", "/v1/members/M-1001").status, 200);
    EXPECT_EQ(seen, "M-1001");
    EXPECT_EQ(dispatch(router, "POST", "/v1/partners/grocer/claims").status, 201);
}

TEST(Router, UnknownPathsAre404AndWrongMethods405WithAllow) {
    std::string seen;
    const auto router = sample_router(seen);
    for (const std::string path : {"/", "/v1/members", "/v1/members/", "/v1/members/a/b",
                                   "/v1/partners//claims", "v1/members/x", ""}) {
        const auto response = dispatch(router, "GET", path);
        EXPECT_EQ(response.status, 404) << path;
        EXPECT_EQ(nlohmann::json::parse(response.body)["error"]["code"], "not_found");
    }
    const auto response = dispatch(router, "GET", "/v1/partners/grocer/claims");
    EXPECT_EQ(response.status, 405);
    EXPECT_EQ(nlohmann::json::parse(response.body)["error"]["code"], "method_not_allowed");
    EXPECT_EQ(find_header(response.headers, "allow"), "POST");
    const auto on_a_get_route = dispatch(router, "POST", "/v1/members/M-1001");
    EXPECT_EQ(on_a_get_route.status, 405);
    EXPECT_EQ(find_header(on_a_get_route.headers, "allow"), "GET, HEAD");
}

// HEAD runs the GET route (the session sends its answer without the body).
TEST(Router, HeadIsServedByTheGetRoute) {
    std::string seen;
    const auto router = sample_router(seen);
    EXPECT_EQ(dispatch(router, "HEAD", "/v1/members/M-7").status, 200);
    EXPECT_EQ(seen, "M-7");
    EXPECT_EQ(dispatch(router, "HEAD", "/v1/partners/grocer/claims").status, 405);
}

// Percent-encoded segments are the same as their decoded text (RFC 3986): the member id "..",
// which no client sends as it is, is reachable as %2E%2E; "%2F" stays inside its segment; a
// malformed encoding matches nothing.
TEST(Router, PathParametersArePercentDecoded) {
    std::string seen;
    const auto router = sample_router(seen);
    EXPECT_EQ(dispatch(router, "GET", "/v1/members/%2E%2E").status, 200);
    EXPECT_EQ(seen, "..");
    EXPECT_EQ(dispatch(router, "GET", "/v1/members/M%2d1001").status, 200);
    EXPECT_EQ(seen, "M-1001");
    EXPECT_EQ(dispatch(router, "GET", "/v1/members/a%2Fb").status, 200);
    EXPECT_EQ(seen, "a/b");  // one segment: the handler refuses such an id
    EXPECT_EQ(dispatch(router, "GET", "/v1/members/%zz").status, 404);
    EXPECT_EQ(dispatch(router, "GET", "/v1/members/%2").status, 404);
    EXPECT_EQ(decoded_path_segments("/a/%41%20b/"), (std::vector<std::string>{"a", "A b", ""}));
}

TEST(Router, SplitPathKeepsEmptySegments) {
    EXPECT_EQ(split_path("/a//b/"), (std::vector<std::string>{"a", "", "b", ""}));
    EXPECT_TRUE(split_path("no-slash").empty());
}

TEST(OriginForm, AnAbsoluteFormTargetLosesItsSchemeAndAuthority) {
    EXPECT_EQ(origin_form("/v1/members/M-1"), "/v1/members/M-1");
    EXPECT_EQ(origin_form("https://h.example:8443/v1/x?y=1"), "/v1/x?y=1");
    EXPECT_EQ(origin_form("HTTP://h/v1"), "/v1");
    EXPECT_EQ(origin_form("https://h.example"), "/");
    EXPECT_EQ(origin_form("https://h.example?q"), "/?q");
    EXPECT_EQ(origin_form("*"), "*");
    EXPECT_EQ(origin_form("https:/v1"), "https:/v1");  // not absolute-form: left for a 404
}

// The guard answers instead of a matched route's handler (the server's 503 while the schema is
// behind its code); unguarded routes, unknown paths and wrong methods are answered as without it.
TEST(Router, TheGuardAnswersBeforeGuardedHandlersOnly) {
    std::string seen;
    auto router = sample_router(seen);
    router.add_unguarded("GET", "/healthz", [](const Request&, const PathParams&, Respond respond) {
        respond(Response{200, {}, "ok"});
    });
    bool holding = true;
    router.set_guard([&holding]() -> std::optional<Response> {
        if (!holding) return std::nullopt;
        return Response{503, {}, "behind"};
    });
    EXPECT_EQ(dispatch(router, "GET", "/v1/members/M-1").status, 503);
    EXPECT_EQ(seen, "");  // the handler did not run
    EXPECT_EQ(dispatch(router, "POST", "/v1/partners/grocer/claims").status, 503);
    EXPECT_EQ(dispatch(router, "GET", "/healthz").status, 200);
    EXPECT_EQ(dispatch(router, "HEAD", "/healthz").status, 200);
    EXPECT_EQ(dispatch(router, "GET", "/nowhere").status, 404);
    EXPECT_EQ(dispatch(router, "DELETE", "/v1/members/M-1").status, 405);
    holding = false;
    EXPECT_EQ(dispatch(router, "GET", "/v1/members/M-1").status, 200);
    EXPECT_EQ(seen, "M-1");
}

}  // namespace
}  // namespace coalition::server
