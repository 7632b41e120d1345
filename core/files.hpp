#pragma once
// Reading a whole file, for the few small files the programs read (config, migrations, cgroup).
#include <optional>
#include <string>

namespace coalition {

// The file's bytes, or nullopt when it cannot be opened or is a directory.
std::optional<std::string> read_file(const std::string& path);

}  // namespace coalition
