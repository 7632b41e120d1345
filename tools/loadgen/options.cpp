#include "tools/loadgen/options.hpp"

#include "partners/credentials.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

namespace coalition::loadgen {
namespace {

std::uint64_t parse_unsigned(const std::string& option, const std::string& text, std::uint64_t min,
                             std::uint64_t max) {
    std::uint64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
        throw UsageError(option + ": expected an integer " + std::to_string(min) + ".." +
                         std::to_string(max) + ", got '" + text + "'");
    }
    return value;
}

int parse_int(const std::string& option, const std::string& text, int min, int max) {
    return static_cast<int>(parse_unsigned(option, text, static_cast<std::uint64_t>(min),
                                           static_cast<std::uint64_t>(max)));
}

double parse_positive(const std::string& option, const std::string& text, double max) {
    double value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value) || value <= 0 ||
        value > max) {
        std::ostringstream limit;
        limit << max;
        throw UsageError(option + ": expected a number > 0 and <= " + limit.str() + ", got '" +
                         text + "'");
    }
    return value;
}

}  // namespace

Target parse_target(std::string_view text) {
    const std::string shown(text);
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            throw UsageError("--target: expected HOST:PORT or [::1]:PORT, got '" + shown + "'");
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            throw UsageError("--target: expected HOST:PORT, got '" + shown + "'");
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (host != "127.0.0.1" && host != "::1") {
        throw UsageError("--target: '" + std::string(host) +
                         "' refused: load tests only run against this machine (127.0.0.1 or ::1)");
    }
    Target target;
    target.host = std::string(host);
    target.port =
        static_cast<std::uint16_t>(parse_unsigned("--target port", std::string(port), 1, 65535));
    return target;
}

Options parse_options(const std::vector<std::string>& args) {
    Options options;
    bool have_target = false;
    bool have_hold = false;
    bool have_load_option = false;  // anything that only makes sense when claims are sent
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& name = args[i];
        const auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) throw UsageError(name + ": missing value");
            return args[++i];
        };
        if (name == "--target") {
            options.target = parse_target(value());
            have_target = true;
        } else if (name == "--connections") {
            options.connections = parse_int(name, value(), 1, kConnectionsMax);
        } else if (name == "--duration-s") {
            options.duration_s = parse_positive(name, value(), kDurationMaxS);
        } else if (name == "--requests") {
            options.requests = parse_unsigned(name, value(), 1, kRequestsMax);
        } else if (name == "--rate") {
            options.rate = parse_positive(name, value(), kRateMax);
        } else if (name == "--mix") {
            try {
                options.mix = parse_mix(value());
            } catch (const MixError& e) {
                throw UsageError(e.what());
            }
        } else if (name == "--members") {
            options.members = parse_unsigned(name, value(), 1, kMembersMax);
        } else if (name == "--partners") {
            options.partners_file = value();
        } else if (name == "--member-prefix") {
            options.member_prefix = value();
        } else if (name == "--seed") {
            options.seed = parse_unsigned(name, value(), 0, UINT64_MAX);
        } else if (name == "--ca") {
            options.ca_file = value();
        } else if (name == "--insecure") {
            options.insecure = true;
        } else if (name == "--json") {
            options.json = true;
        } else if (name == "--threads") {
            options.threads = parse_int(name, value(), 1, kThreadsMax);
        } else if (name == "--blind-burns") {
            options.blind_burns = true;
        } else if (name == "--timeout-ms") {
            options.timeout_ms = parse_int(name, value(), 10, 600'000);
        } else if (name == "--idle-connections") {
            options.idle_connections = parse_int(name, value(), 1, kIdleConnectionsMax);
        } else if (name == "--hold-s") {
            options.hold_s = parse_positive(name, value(), kDurationMaxS);
            have_hold = true;
        } else {
            throw UsageError("unknown option '" + name + "' (see --help)");
        }
        if (name == "--duration-s" || name == "--requests" || name == "--rate" || name == "--mix" ||
            name == "--partners" || name == "--blind-burns") {
            have_load_option = true;
        }
    }
    if (!have_target) throw UsageError("--target HOST:PORT is required");
    if (options.ca_file.empty() == !options.insecure) {
        throw UsageError("give exactly one of --ca FILE (verify the server) or --insecure");
    }
    // A member id must pass the server's own rule (1-64 of [A-Za-z0-9._-]) for every index.
    if (!partners::is_valid_entity_id(options.member_prefix + std::to_string(options.members))) {
        throw UsageError("--member-prefix: '" + options.member_prefix +
                         "' + a number is not a valid member id ([A-Za-z0-9._-], at most 64)");
    }
    if (options.idle_mode()) {
        if (!have_hold) throw UsageError("--idle-connections needs --hold-s S");
        if (have_load_option) {
            throw UsageError("--idle-connections sends no claims: drop the load options");
        }
        return options;
    }
    if (have_hold) throw UsageError("--hold-s only goes with --idle-connections");
    if (!options.duration_s && !options.requests) {
        throw UsageError("give --duration-s S and/or --requests N: a load test must be bounded");
    }
    if (options.partners_file.empty()) throw UsageError("--partners FILE is required");
    if (options.threads > options.connections) {
        throw UsageError("--threads: more threads than connections");
    }
    if (options.rate && options.requests && !options.duration_s &&
        static_cast<double>(*options.requests) / *options.rate > kDurationMaxS) {
        throw UsageError("--requests at --rate would take longer than the 600 s cap");
    }
    return options;
}

std::vector<PartnerCredential> parse_partners(std::istream& in, const std::string& origin) {
    std::vector<PartnerCredential> out;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        const std::string where = origin + ":" + std::to_string(number);
        std::istringstream fields(line);
        std::string id;
        std::string secret;
        std::string extra;
        if (!(fields >> id) || id.front() == '#') continue;
        if (!(fields >> secret) || (fields >> extra)) {
            throw UsageError(where + ": expected 'partner_id whsec_secret'");
        }
        if (!partners::is_valid_entity_id(id)) {
            throw UsageError(where + ": '" + id + "' is not a valid partner id");
        }
        auto key = partners::secret_key(secret);
        if (!key) throw UsageError(where + ": the secret of " + id + " is not a whsec_ secret");
        out.push_back({id, std::move(*key)});
    }
    if (out.empty()) throw UsageError(origin + ": no partners");
    return out;
}

std::vector<PartnerCredential> load_partners_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw UsageError("--partners: cannot read '" + path + "'");
    return parse_partners(in, path);
}

std::string usage_text() {
    return R"(loadgen: signed claims over keep-alive TLS against a local coalition-server

usage: loadgen --target 127.0.0.1:PORT (--ca FILE | --insecure) --partners FILE
               (--duration-s S | --requests N | both) [options]
       loadgen --target 127.0.0.1:PORT (--ca FILE | --insecure)
               --idle-connections N --hold-s S

  --target HOST:PORT     127.0.0.1 or [::1] only: load never leaves this machine
  --connections N        keep-alive TLS connections (default 16)
  --duration-s S         stop issuing after S seconds (at most 600)
  --requests N           stop after N requests (also capped at 600 s of wall clock)
  --rate R               fixed rate, R requests/s overall; latency counts from the intended
                         send time (no coordinated omission). Default: closed loop, max rate.
                         Keep connections/R under 10 s: the server closes connections idle
                         that long, and a request sent on one fails
  --mix SPEC             weights, default earn=70,burn=25,reversal=5
  --members M            members PREFIX1..PREFIXM (default 10000)
  --member-prefix P      default "M-"
  --partners FILE        lines "partner_id whsec_secret"
  --seed N               workload seed (default 1); webhook-ids are fresh on every run anyway
  --threads T            I/O threads, each with its own connections (default 1)
  --blind-burns          burns ignore expected balances (races on purpose; 422s expected)
  --timeout-ms MS        per request (default 30000); a miss is a transport error
  --json                 print the summary as one JSON object
  --idle-connections N   open N TLS connections, one GET /healthz each, then hold them idle
                         --hold-s seconds (for measuring the server's memory per connection)

Exit status: 0 when every request got an answer below 500; 1 on any transport error or 5xx;
2 on bad arguments.
)";
}

}  // namespace coalition::loadgen
