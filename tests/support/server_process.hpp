#pragma once
// The real coalition-server binary, started on a free loopback port for one test, with the dev
// certificates that scripts/test generated (COALITION_TEST_CERTS).
#include "tests/support/process.hpp"

#include <memory>
#include <string>

namespace coalition::testing {

// Directory holding ca.pem, server.pem/.key and client-<partner>.pem/.key; throws if unset.
std::string test_certs_dir();

class ServerProcess {
public:
    // Starts the server against `database` and waits until it answers /healthz (throws with the
    // server's log if it exits or does not answer in time).
    ServerProcess(const std::string& database, const EnvOverrides& extra_env = {});
    ~ServerProcess();

    int port() const { return port_; }
    ChildProcess& process() { return *process_; }
    // SIGTERM, then waits; returns the exit code (-1 if it did not exit in time).
    int terminate(int timeout_ms = 20000);
    std::string log() const { return process_->log(); }

private:
    int port_ = 0;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace coalition::testing
