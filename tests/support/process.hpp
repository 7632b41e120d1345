#pragma once
// Starting the real binaries from tests: run to completion with captured output, or start a
// long-running child (the server) that is signalled and reaped by the test.
#include <map>
#include <string>
#include <vector>
#include <sys/types.h>

namespace coalition::testing {

using EnvOverrides = std::map<std::string, std::string>;  // value "\x01unset" removes a variable
inline const std::string kUnset = "\x01unset";

struct CommandResult {
    int exit_code = -1;  // -1 if killed by a signal
    std::string out;
    std::string err;
};

// Runs argv[0] (a path) with the current environment plus `env`, stdin from /dev/null.
// Kills the child after timeout_ms and fails the calling test.
CommandResult run_command(const std::vector<std::string>& argv, const EnvOverrides& env = {},
                          int timeout_ms = 60000);

// Path of a program built into build/bin, e.g. bin_path("coalitionctl").
std::string bin_path(const std::string& program);
std::string source_path(const std::string& relative);

// Debian's libfaketime for this machine's architecture (/usr/lib/<multiarch>/faketime/...), or
// "" when the package is not installed.
std::string faketime_library();

// A child process that runs until stopped; stderr and stdout go to a log file in /tmp.
class ChildProcess {
public:
    ChildProcess(const std::vector<std::string>& argv, const EnvOverrides& env);
    ~ChildProcess();  // SIGKILL if still running
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    void signal(int signo);
    // Waits for the child to exit; returns its exit code, or 128+signal, or -1 on timeout.
    int wait(int timeout_ms);
    std::string log() const;  // what the child wrote so far
    const std::string& log_path() const { return log_path_; }

private:
    pid_t pid_ = -1;
    int status_ = -1;
    bool reaped_ = false;
    std::string log_path_;
};

// Picks a TCP port on 127.0.0.1 that is free right now.
int free_port();

}  // namespace coalition::testing
