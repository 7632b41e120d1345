#pragma once
// JSON log lines on stderr, one object per line, so operators can grep and ship them as-is.
#include <nlohmann/json_fwd.hpp>

#include <mutex>
#include <string>
#include <string_view>

namespace coalition::server {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

LogLevel parse_log_level(std::string_view name);  // the settings layer has validated the name

class Logger {
public:
    explicit Logger(LogLevel minimum = LogLevel::info) : minimum_(minimum) {}

    bool enabled(LogLevel level) const { return level >= minimum_; }
    // `fields` must be a JSON object (or null); its members are merged into the line.
    void log(LogLevel level, std::string_view message, const nlohmann::json& fields);
    void log(LogLevel level, std::string_view message);

private:
    LogLevel minimum_;
    std::mutex mutex_;  // keeps lines whole when several threads log at once
};

}  // namespace coalition::server
