#pragma once
// Building JSON responses, errors included, in the contract's shapes.
#include "core/errors.hpp"
#include "server/http_types.hpp"

#include <nlohmann/json_fwd.hpp>

namespace coalition::server {

Response json_response(int status, const nlohmann::json& body);
// {"error": {"code", "message", "field"?}} with the registry's status for the code.
Response error_response(const ApiError& error);
Response error_response(ErrorCode code, std::string message, std::string field = {});
// 503 unavailable with Retry-After (seconds): the database cannot be reached, or cannot tell yet.
Response unavailable_response(int retry_after_s,
                              std::string message = "the database cannot be reached");

}  // namespace coalition::server
