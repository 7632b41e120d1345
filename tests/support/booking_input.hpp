#pragma once
// A claim as the server hands it to the booking path (storage::BookingInput), for pg tests that
// book without HTTP: its request hash is derived from its fields, so two claims built alike are
// a retry and two built differently are a key reused with another body.
#include "partners/claim_request.hpp"
#include "storage/claim_booking.hpp"

#include <cstdint>
#include <string>

namespace coalition::testing {

// Noon UTC today: one settlement date in any program time zone within ±11 h.
std::int64_t noon_today_us();

// Accepted at noon_today_us().
storage::BookingInput booking_input(const std::string& partner, const std::string& id,
                                    partners::ClaimType type, const std::string& member,
                                    std::int64_t points, const std::string& reverses = "",
                                    const std::string& body_salt = "");

}  // namespace coalition::testing
