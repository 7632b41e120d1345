#pragma once
// The network side of the load generator: keep-alive TLS connections (Beast over Asio), each
// request signed the moment it is sent. One io_context per thread, each thread with its own
// connections, workload and counters, merged at the end, so nothing on the hot path is shared.
#include "tools/loadgen/options.hpp"
#include "tools/loadgen/stats.hpp"

#include <ostream>
#include <vector>

namespace coalition::loadgen {

// Sends claims until the options' bounds are reached and every request is answered or failed.
// Throws std::runtime_error (one line) when no connection at all can be opened.
RunSummary run_load(const Options& options, const std::vector<PartnerCredential>& partners);

struct IdleSummary {
    int requested = 0;
    int opened = 0;
    int failed = 0;        // connect or handshake failed
    int closed_early = 0;  // closed by the server while held
    double hold_s = 0;

    bool clean() const { return opened == requested && failed == 0 && closed_early == 0; }
};

// Opens options.idle_connections TLS connections, sends one GET /healthz on each (so each sits in
// the server's keep-alive state rather than waiting for a first request), writes one line to
// `progress` once they are all up (what a benchmark waits for before measuring the server), holds
// them options.hold_s seconds without sending a byte, then closes them.
IdleSummary run_idle(const Options& options, std::ostream& progress);

std::string format_idle_text(const IdleSummary& summary);
std::string format_idle_json(const IdleSummary& summary);

}  // namespace coalition::loadgen
