#include "storage/sql_time.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace coalition::storage {

std::string timestamp_literal(std::int64_t unix_micros) {
    const std::int64_t seconds = unix_micros >= 0 ? unix_micros / 1000000 : (unix_micros - 999999) / 1000000;
    const std::int64_t micros = unix_micros - seconds * 1000000;
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm parts{};
    gmtime_r(&t, &parts);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00",
                  parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                  parts.tm_min, parts.tm_sec, static_cast<long long>(micros));
    return buffer;
}

std::int64_t now_unix_micros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string date_literal(Date date) {
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
    return buffer;
}

Date parse_date(std::string_view text) {
    int year = 0;
    unsigned month = 0;
    unsigned day = 0;
    // Digits only (from_chars would take a sign, "-001"), and a year PostgreSQL's date holds:
    // year 0 passes std::chrono but not PostgreSQL, which would turn a bad request into a 500.
    const bool shaped = text.size() == 10 && text[4] == '-' && text[7] == '-' &&
                        std::all_of(text.begin(), text.end(),
                                    [](char c) { return c == '-' || (c >= '0' && c <= '9'); });
    const auto parse = [&](std::size_t from, std::size_t length, auto& out) {
        const auto* begin = text.data() + from;
        const auto [ptr, ec] = std::from_chars(begin, begin + length, out);
        return ec == std::errc() && ptr == begin + length;
    };
    if (!shaped || !parse(0, 4, year) || !parse(5, 2, month) || !parse(8, 2, day)) {
        throw std::invalid_argument("not a YYYY-MM-DD date: " + std::string(text));
    }
    const Date date{std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)};
    if (!date.ok() || year < 1) {
        throw std::invalid_argument("not a calendar date: " + std::string(text));
    }
    return date;
}

}  // namespace coalition::storage
