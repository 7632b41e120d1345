#include "server/logger.hpp"

#include "core/json_text.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace coalition::server {
namespace {

std::string_view level_name(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warn: return "warn";
        case LogLevel::error: return "error";
    }
    return "info";
}

std::string utc_timestamp() {
    const auto now = std::chrono::system_clock::now();
    const auto seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                  parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                  static_cast<int>(millis));
    return buffer;
}

// A JSON string. Invalid UTF-8 is replaced, not thrown on: a log line must never take the server
// down, and paths and ids in a request may hold anything.
void append_string(std::string& line, std::string_view text) {
    append_json_string(line, text, InvalidUtf8::replace);
}

// `{"ts":…,"level":…,"msg":…`: the line up to its fields.
std::string line_start(LogLevel level, std::string_view message) {
    std::string line;
    line.reserve(256);
    line += "{\"ts\":\"";
    line += utc_timestamp();
    line += "\",\"level\":\"";
    line += level_name(level);
    line += "\",\"msg\":";
    append_string(line, message);
    return line;
}

void append_key(std::string& line, std::string_view key) {
    line += ',';
    append_string(line, key);
    line += ':';
}

}  // namespace

LogLevel parse_log_level(std::string_view name) {
    if (name == "debug") return LogLevel::debug;
    if (name == "warn") return LogLevel::warn;
    if (name == "error") return LogLevel::error;
    return LogLevel::info;
}

void Logger::log(LogLevel level, std::string_view message, const nlohmann::json& fields) {
    if (!enabled(level)) return;
    auto line = line_start(level, message);
    if (fields.is_object()) {
        for (const auto& [key, value] : fields.items()) {
            append_key(line, key);
            line += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
    }
    write(line);
}

void Logger::log_fields(LogLevel level, std::string_view message,
                        std::span<const LogField> fields) {
    if (!enabled(level)) return;
    auto line = line_start(level, message);
    for (const auto& field : fields) {
        append_key(line, field.key);
        if (const auto* text = std::get_if<std::string_view>(&field.value)) {
            append_string(line, *text);
        } else if (const auto* number = std::get_if<std::int64_t>(&field.value)) {
            line += std::to_string(*number);
        } else {
            line += nlohmann::json(std::get<double>(field.value)).dump();
        }
    }
    write(line);
}

void Logger::write(std::string& line) {
    line += "}\n";
    std::lock_guard lock(mutex_);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

void Logger::log(LogLevel level, std::string_view message) { log(level, message, nlohmann::json()); }

}  // namespace coalition::server
