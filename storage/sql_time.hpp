#pragma once
// Dates and instants as they cross the SQL boundary. Instants are microseconds since the Unix
// epoch (the server's clock decides acceptance time, never PostgreSQL's); dates are ISO text.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace coalition::storage {

using Date = std::chrono::year_month_day;

// "2026-11-22 13:45:01.123456+00", a timestamptz literal PostgreSQL parses exactly.
std::string timestamp_literal(std::int64_t unix_micros);
std::int64_t now_unix_micros();  // the host's system clock (faketime moves it in tests)

// A timestamptz column as the programs print instants: "2026-11-22T13:45:01.123456Z" (UTC,
// microseconds), whatever the session's time zone. A string literal, for SQL text.
#define SQL_UTC_INSTANT(column) \
    "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

std::string date_literal(Date date);               // "2026-11-22"
Date parse_date(std::string_view text);            // throws std::invalid_argument on bad text

}  // namespace coalition::storage
