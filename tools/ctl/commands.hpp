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
// `check` ran to the end and found the ledger broken: not a retry, an incident (distinct from
// kExitFailed, "could not check", so a monitor can tell a database that was down from one that
// is wrong).
inline constexpr int kExitViolations = 3;

// Runs one command. `args` are the arguments after the program name. Results go to `out`;
// a failure is exactly one line "coalitionctl: <reason>" on `err`, and changes nothing, except
// where that line says otherwise (a migrate that failed after applying earlier migrations; a
// change committed whose output could not be written).
int run_ctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const EnvLookup& env);

}  // namespace coalition::ctl
