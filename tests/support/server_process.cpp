#include "tests/support/server_process.hpp"

#include "tests/support/tls_client.hpp"

#include <csignal>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace coalition::testing {

std::string test_certs_dir() {
    const char* value = std::getenv("COALITION_TEST_CERTS");
    if (value == nullptr || *value == '\0') {
        throw std::runtime_error("COALITION_TEST_CERTS is not set: run the e2e tier through ./scripts/test");
    }
    return value;
}

namespace {

// Until the partner directory has been read (or `deadline`): a claim sent before that is
// answered 503, which a test sending claims at once would take for its own result (seen on a
// loaded machine). Asked with an unsigned claim for a partner nobody adds: 503 "not loaded yet"
// before the first read, 401 after it, and no database work either way (a /readyz probe would
// queue on a database some tests keep silent on purpose). Best effort: any other answer, a
// failure, or the server's log saying that its first read failed (a database away or not
// migrated, as some tests start it) ends the wait.
void wait_for_partner_directory(TlsClient& client, const ChildProcess& server,
                                std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline &&
           server.log().find("partner directory refresh failed") == std::string::npos) {
        try {
            const auto answer = client.request("POST", "/v1/partners/readiness-probe/claims",
                                               {{"content-type", "application/json"}}, "{}");
            if (answer.body.find("partner directory not loaded yet") == std::string::npos) return;
        } catch (const std::exception&) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace

ServerProcess::ServerProcess(const std::string& database, const EnvOverrides& extra_env) {
    port_ = free_port();
    const std::string certs = test_certs_dir();
    EnvOverrides env = {
        {"COALITION_DB", database},
        {"COALITION_LISTEN", "127.0.0.1:" + std::to_string(port_)},
        {"COALITION_TLS_CERT", certs + "/server.pem"},
        {"COALITION_TLS_KEY", certs + "/server.key"},
        {"COALITION_CONFIG", kUnset},
        {"COALITION_CLIENT_CA", kUnset},
    };
    for (const auto& [name, value] : extra_env) env[name] = value;
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{bin_path("coalition-server")}, env);

    // Sanitizer builds start slowly on a busy 2-core machine: allow generous time.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        if (!process_->running()) {
            throw std::runtime_error("coalition-server exited during start:\n" + process_->log());
        }
        try {
            // A client certificate is sent only when the server asks, so this probe also works
            // for servers that make mutual TLS mandatory.
            TlsClient client(port_, {.cert_file = certs + "/client-grocer.pem",
                                     .key_file = certs + "/client-grocer.key",
                                     .timeout_ms = 2000});
            if (client.request("GET", "/healthz").status == 200) {
                wait_for_partner_directory(client, *process_, deadline);
                return;
            }
        } catch (const std::exception&) {
            // not listening yet
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("coalition-server did not answer /healthz in time:\n" + process_->log());
}

ServerProcess::~ServerProcess() = default;

int ServerProcess::terminate(int timeout_ms) {
    process_->signal(SIGTERM);
    return process_->wait(timeout_ms);
}

}  // namespace coalition::testing
