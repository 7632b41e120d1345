#pragma once
// JSON log lines on stderr, one object per line, so operators can grep and ship them as-is:
// "ts", "level" and "msg" first, then the line's fields.
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace coalition::server {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

LogLevel parse_log_level(std::string_view name);  // the settings layer has validated the name

// One field of a line logged on a hot path (every request): written straight into the line,
// without building a JSON document first.
struct LogField {
    std::string_view key;
    std::variant<std::string_view, std::int64_t, double> value;
};

class Logger {
public:
    explicit Logger(LogLevel minimum = LogLevel::info) : minimum_(minimum) {}

    bool enabled(LogLevel level) const { return level >= minimum_; }
    // `fields` must be a JSON object (or null); its members are merged into the line.
    void log(LogLevel level, std::string_view message, const nlohmann::json& fields);
    // The same line from LogFields, for hot paths (a distinct name: a LogField array would
    // also convert to a JSON document).
    void log_fields(LogLevel level, std::string_view message, std::span<const LogField> fields);
    void log(LogLevel level, std::string_view message);

private:
    void write(std::string& line);  // closes the line's object and writes it whole

    LogLevel minimum_;
    std::mutex mutex_;  // keeps lines whole when several threads log at once
};

}  // namespace coalition::server
