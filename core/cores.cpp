#include "core/cores.hpp"

#include "core/files.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>
#include <thread>

namespace coalition {
namespace {

// A whole decimal number filling `text` (surrounding blanks and a newline allowed).
std::optional<long long> number(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\n");
    const auto last = text.find_last_not_of(" \t\n");
    if (first == std::string_view::npos) return std::nullopt;
    text = text.substr(first, last - first + 1);
    long long value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::optional<int> cores_of_quota(long long quota, long long period) {
    if (quota <= 0 || period <= 0) return std::nullopt;
    const long long cores = (quota + period - 1) / period;
    return static_cast<int>(std::clamp(cores, 1LL, 1LL << 20));
}

// This process's cgroup v2 directory, from /proc/self/cgroup's "0::/path" line.
std::string cgroup_v2_directory() {
    std::ifstream file("/proc/self/cgroup");
    std::string line;
    while (std::getline(file, line)) {
        if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup" + line.substr(3);
    }
    return "/sys/fs/cgroup";
}

std::optional<int> quota_cores() {
    if (const auto text = read_file(cgroup_v2_directory() + "/cpu.max")) {
        return cores_from_cpu_max(*text);
    }
    const auto quota = read_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
    const auto period = read_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
    if (quota && period) return cores_from_cfs(*quota, *period);
    return std::nullopt;
}

}  // namespace

std::optional<int> cores_from_cpu_max(std::string_view text) {
    const auto space = text.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const auto quota = number(text.substr(0, space));
    const auto period = number(text.substr(space + 1));
    if (!quota || !period) return std::nullopt;  // "max": no quota
    return cores_of_quota(*quota, *period);
}

std::optional<int> cores_from_cfs(std::string_view quota_us, std::string_view period_us) {
    const auto quota = number(quota_us);
    const auto period = number(period_us);
    if (!quota || !period) return std::nullopt;
    return cores_of_quota(*quota, *period);
}

int available_cores() {
    // hardware_concurrency() is 0 when the count is unknown.
    int cores = static_cast<int>(std::thread::hardware_concurrency());
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
        const int count = CPU_COUNT(&allowed);
        cores = cores > 0 ? std::min(cores, count) : count;
    }
    if (const auto quota = quota_cores()) cores = cores > 0 ? std::min(cores, *quota) : *quota;
    return std::max(cores, 1);
}

}  // namespace coalition
