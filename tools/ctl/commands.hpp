#pragma once
// coalitionctl as a library: the binary's main() and the tests call the same entry point.
#include "core/settings.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace coalition::ctl {

// Exit codes: what the caller should do about a failure.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // the operation failed (unknown partner, database down)
inline constexpr int kExitUsage = 2;   // bad arguments or settings: fix the command line

// Runs one command. `args` are the arguments after the program name. Results go to `out`;
// a failure is exactly one line "coalitionctl: <reason>" on `err`, and changes nothing.
int run_ctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const EnvLookup& env);

}  // namespace coalition::ctl
