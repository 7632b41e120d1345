#include "tests/support/booking_input.hpp"

#include "core/crypto.hpp"

#include <chrono>

namespace coalition::testing {

std::int64_t noon_today_us() {
    using namespace std::chrono;
    const auto today = floor<days>(system_clock::now());
    return duration_cast<microseconds>((today + hours(12)).time_since_epoch()).count();
}

storage::BookingInput booking_input(const std::string& partner, const std::string& id,
                                    partners::ClaimType type, const std::string& member,
                                    std::int64_t points, const std::string& reverses,
                                    const std::string& body_salt) {
    storage::BookingInput input;
    input.partner_id = partner;
    input.webhook_id = id;
    input.request.type = type;
    input.request.member_id = member;
    input.request.points = Points(points);
    input.request.reverses = reverses;
    input.request_sha256 = crypto::sha256(partner + "|" + id + "|" + member + "|" +
                                          std::to_string(points) + "|" + reverses + body_salt);
    input.accepted_at_us = noon_today_us();
    return input;
}

}  // namespace coalition::testing
