#pragma once
// How many cores this process may use: what the machine has, narrowed by the CPUs it may run on
// (sched_getaffinity: a cpuset, `taskset`, `docker --cpuset-cpus`) and by its control group's
// CPU quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`: `docker --cpus`, a Kubernetes limit).
// std::thread::hardware_concurrency() reports the host's cores inside a container, so a server
// sized on it would start a thread per host core on a 2-CPU quota.
#include <optional>
#include <string_view>

namespace coalition {

// At least 1.
int available_cores();

// The cores a CPU quota allows, rounded up: cgroup v2 `cpu.max` text ("QUOTA PERIOD", or
// "max PERIOD" for no quota). nullopt when there is no quota or the text is not one.
std::optional<int> cores_from_cpu_max(std::string_view text);

// The same for cgroup v1's two files (a quota of -1 is none).
std::optional<int> cores_from_cfs(std::string_view quota_us, std::string_view period_us);

}  // namespace coalition
