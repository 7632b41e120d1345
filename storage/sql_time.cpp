#include "storage/sql_time.hpp"

#include "settlement/run.hpp"

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
    // The one rule for a settlement date the system takes in (settlement/run.hpp).
    const auto date = settlement::parse_settlement_date(text);
    if (!date) throw std::invalid_argument("not a YYYY-MM-DD calendar date: " + std::string(text));
    return *date;
}

}  // namespace coalition::storage
