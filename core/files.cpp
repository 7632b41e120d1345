#include "core/files.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace coalition {

std::optional<std::string> read_file(const std::string& path) {
    // A directory opens as a stream and reads as nothing: it would pass for an empty file.
    std::error_code unknown;
    if (std::filesystem::is_directory(path, unknown)) return std::nullopt;
    std::ifstream file(path, std::ios::binary);
    if (!file) return std::nullopt;
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace coalition
