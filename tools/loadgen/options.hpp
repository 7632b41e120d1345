#pragma once
// The load generator's command line and partners file, checked before any socket opens. Every
// problem is a UsageError whose what() is the one-line reason main prints before exiting 2.
#include "core/crypto.hpp"
#include "tools/loadgen/mix.hpp"

#include <cstdint>
#include <istream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace coalition::loadgen {

class UsageError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// Bounds: a load test is always finite and stays on this machine.
inline constexpr double kDurationMaxS = 600;  // also the wall-clock cap of a --requests run
inline constexpr int kConnectionsMax = 10'000;
inline constexpr int kIdleConnectionsMax = 20'000;
inline constexpr int kThreadsMax = 64;
inline constexpr std::uint64_t kRequestsMax = 1'000'000'000;
inline constexpr double kRateMax = 1'000'000;
inline constexpr std::uint64_t kMembersMax = 10'000'000;

struct Target {
    std::string host;  // "127.0.0.1" or "::1"
    std::uint16_t port = 0;
};

struct PartnerCredential {
    std::string id;
    crypto::Bytes key;  // the HMAC key of its whsec_ secret
};

struct Options {
    Target target;
    int connections = 16;
    std::optional<double> duration_s;
    std::optional<std::uint64_t> requests;
    std::optional<double> rate;  // requests/s over all connections; none: closed loop
    Mix mix = parse_mix("earn=70,burn=25,reversal=5");
    std::uint64_t members = 10'000;
    std::string partners_file;
    std::string member_prefix = "M-";
    std::uint64_t seed = 1;
    std::string ca_file;
    bool insecure = false;
    bool json = false;
    int threads = 1;
    bool blind_burns = false;
    int timeout_ms = 30'000;  // one request's write + read; a miss is a transport error
    // Idle mode: open this many TLS connections, hold them, send nothing.
    int idle_connections = 0;
    double hold_s = 0;

    bool idle_mode() const { return idle_connections > 0; }
};

// "127.0.0.1:PORT", "[::1]:PORT" or "::1:PORT"... only loopback literals; anything else is
// refused, so no typo can point a load test at another machine.
Target parse_target(std::string_view text);

// argv without the program name. Throws UsageError; `--help` is not handled here.
Options parse_options(const std::vector<std::string>& args);

// Lines "partner_id whsec_secret"; blank lines and lines starting with '#' are skipped.
// `origin` names the source in errors. Throws UsageError on a bad line or when there is none.
std::vector<PartnerCredential> parse_partners(std::istream& in, const std::string& origin);
std::vector<PartnerCredential> load_partners_file(const std::string& path);

std::string usage_text();

}  // namespace coalition::loadgen
