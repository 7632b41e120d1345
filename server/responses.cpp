#include "server/responses.hpp"

#include <nlohmann/json.hpp>

namespace coalition::server {

Response json_response(int status, const nlohmann::json& body) {
    Response response;
    response.status = status;
    response.headers.emplace_back("Content-Type", "application/json");
    response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return response;
}

Response error_response(const ApiError& error) {
    Response response;
    response.status = http_status(error.code);
    response.headers.emplace_back("Content-Type", "application/json");
    response.body = error_body_json(error);
    return response;
}

Response error_response(ErrorCode code, std::string message, std::string field) {
    return error_response(ApiError{code, std::move(message), std::move(field)});
}

Response unavailable_response(int retry_after_s, std::string message) {
    auto response = error_response(ErrorCode::unavailable, std::move(message));
    response.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
    return response;
}

}  // namespace coalition::server
