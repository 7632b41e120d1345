#include "tools/loadgen/client.hpp"

#include "core/crypto.hpp"
#include "partners/webhook_signature.hpp"
#include "tools/loadgen/workload.hpp"

#include <openssl/ssl.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

namespace coalition::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Stream = beast::ssl_stream<beast::tcp_stream>;

// Connections being opened at once: a burst of 1,000 SYNs would overflow the server's accept
// backlog and turn into one-second SYN retries, which would measure the kernel, not the server.
constexpr std::size_t kConnectsInFlightMax = 64;
constexpr std::size_t kResponseBodyMax = 1024 * 1024;
constexpr auto kReconnectDelay = std::chrono::milliseconds(100);
// Odd and irregular (the 64-bit golden ratio): thread i's seed is --seed + i * this.
constexpr std::uint64_t kSeedStride = 0x9E3779B97F4A7C15;

std::shared_ptr<ssl::context> make_tls_context(const Options& options) {
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    // The contract's floor: TLS 1.2 or 1.3 only.
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
    if (options.insecure) {
        context->set_verify_mode(ssl::verify_none);
    } else {
        context->load_verify_file(options.ca_file);
        context->set_verify_mode(ssl::verify_peer);
    }
    return context;
}

std::string error_key(int status, const std::string& body) {
    const auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    std::string code = "(no error code)";
    if (json.is_object() && json.contains("error") && json["error"].is_object()) {
        const auto& value = json["error"].value("code", nlohmann::json());
        if (value.is_string()) code = value.get<std::string>();
    }
    return std::to_string(status) + " " + code;
}

std::int64_t unix_seconds_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// One keep-alive TLS connection. Callbacks go to its owner through `Events`, all on the owner's
// single-threaded io_context, so no strand or lock is needed.
class Connection : public std::enable_shared_from_this<Connection> {
  public:
    struct Events {
        std::function<void(Connection&, const PlannedClaim&, int status, const std::string& body,
                           Clock::time_point latency_start, bool keep_alive)>
            answered;
        std::function<void(Connection&, const PlannedClaim&, const std::string& what)> failed;
    };

    Connection(asio::io_context& io, ssl::context& tls, const Options& options,
               tcp::endpoint endpoint)
        : io_(io), tls_(tls), options_(options), endpoint_(endpoint), retry_timer_(io) {}

    void set_events(Events events) { events_ = std::move(events); }
    bool is_open() const { return open_; }

    // Connects and handshakes; `done` gets "" or the reason it failed.
    void open(std::function<void(const std::string&)> done) {
        stream_.emplace(io_, tls_);
        buffer_.clear();
        // SNI as a browser would send it; SSL_set_tlsext_host_name is a macro with a C cast.
        static char kServerName[] = "localhost";
        SSL_ctrl(stream_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 kServerName);
        if (!options_.insecure) {
            stream_->set_verify_callback(ssl::host_name_verification(options_.target.host));
        }
        auto& socket = beast::get_lowest_layer(*stream_);
        socket.expires_after(std::chrono::milliseconds(options_.timeout_ms));
        socket.async_connect(endpoint_, [self = shared_from_this(), done](beast::error_code ec) {
            if (ec) return done("connect: " + ec.message());
            beast::get_lowest_layer(*self->stream_).socket().set_option(tcp::no_delay(true), ec);
            self->stream_->async_handshake(
                ssl::stream_base::client, [self, done](beast::error_code handshake_ec) {
                    if (handshake_ec) return done("handshake: " + handshake_ec.message());
                    beast::get_lowest_layer(*self->stream_).expires_never();
                    self->open_ = true;
                    done("");
                });
        });
    }

    void send(PlannedClaim claim, const PartnerCredential& partner,
              Clock::time_point latency_start) {
        claim_ = std::move(claim);
        latency_start_ = latency_start;
        const auto timestamp = unix_seconds_now();
        request_ = {};
        request_.method(http::verb::post);
        request_.target("/v1/partners/" + partner.id + "/claims");
        request_.version(11);
        request_.set(http::field::host, "localhost");
        request_.set(http::field::content_type, "application/json");
        request_.set("webhook-id", claim_.webhook_id);
        request_.set("webhook-timestamp", std::to_string(timestamp));
        request_.set("webhook-signature", partners::sign_webhook(claim_.webhook_id, timestamp,
                                                                 claim_.body, partner.key));
        request_.body() = claim_.body;
        request_.prepare_payload();
        beast::get_lowest_layer(*stream_).expires_after(
            std::chrono::milliseconds(options_.timeout_ms));
        http::async_write(*stream_, request_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_written(ec);
                          });
    }

    // One GET /healthz, so the connection has served a request and sits in the server's
    // keep-alive state (buffers grown, idle timeout running) as a partner's idle connection would.
    void ping(std::function<void(const std::string&)> done) {
        request_ = {};
        request_.method(http::verb::get);
        request_.target("/healthz");
        request_.version(11);
        request_.set(http::field::host, "localhost");
        beast::get_lowest_layer(*stream_).expires_after(
            std::chrono::milliseconds(options_.timeout_ms));
        http::async_write(
            *stream_, request_,
            [self = shared_from_this(), done](beast::error_code ec, std::size_t) {
                if (ec) return done("write: " + ec.message());
                self->parser_.emplace();
                self->parser_->body_limit(kResponseBodyMax);
                http::async_read(
                    *self->stream_, self->buffer_, *self->parser_,
                    [self, done](beast::error_code read_ec, std::size_t) {
                        if (read_ec) return done("read: " + read_ec.message());
                        beast::get_lowest_layer(*self->stream_).expires_never();
                        const auto status = self->parser_->get().result_int();
                        done(status == 200 ? "" : "GET /healthz: " + std::to_string(status));
                    });
            });
    }

    // Watches an idle connection: `closed` runs if the server closes it (or anything arrives).
    void watch(std::function<void()> closed) {
        stream_->async_read_some(asio::buffer(scratch_), [self = shared_from_this(), closed](
                                                             beast::error_code, std::size_t) {
            if (self->open_) closed();
        });
    }

    // Runs `action` after a short pause, unless the connection is closed meanwhile.
    void after_pause(std::function<void()> action) {
        retry_timer_.expires_after(kReconnectDelay);
        retry_timer_.async_wait([self = shared_from_this(), action](beast::error_code ec) {
            if (!ec && !self->closed_for_good_) action();
        });
    }

    // Drops the socket without the TLS close_notify: the load is over or the connection broke,
    // and waiting for the peer's side of a clean shutdown would only stretch the run.
    void close() {
        open_ = false;
        if (stream_) {
            beast::error_code ignored;
            beast::get_lowest_layer(*stream_).socket().shutdown(tcp::socket::shutdown_both,
                                                                ignored);
            beast::get_lowest_layer(*stream_).close();
        }
    }

    void close_for_good() {
        closed_for_good_ = true;
        retry_timer_.cancel();
        close();
    }

  private:
    void on_written(beast::error_code ec) {
        if (ec) return events_.failed(*this, claim_, "write: " + ec.message());
        parser_.emplace();
        parser_->body_limit(kResponseBodyMax);
        http::async_read(*stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code read_ec, std::size_t) {
                             self->on_read(read_ec);
                         });
    }

    void on_read(beast::error_code ec) {
        if (ec) return events_.failed(*this, claim_, "read: " + ec.message());
        beast::get_lowest_layer(*stream_).expires_never();
        const auto& response = parser_->get();
        events_.answered(*this, claim_, static_cast<int>(response.result_int()), response.body(),
                         latency_start_, response.keep_alive());
    }

    asio::io_context& io_;
    ssl::context& tls_;
    const Options& options_;
    tcp::endpoint endpoint_;
    std::optional<Stream> stream_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    std::optional<http::response_parser<http::string_body>> parser_;
    PlannedClaim claim_;
    Clock::time_point latency_start_;
    asio::steady_timer retry_timer_;
    std::array<char, 256> scratch_{};
    Events events_;
    bool open_ = false;
    bool closed_for_good_ = false;
};

// Opens `connections` with at most kConnectsInFlightMax handshakes at a time, running `io` until
// all have either opened or failed. Returns the failures' reasons.
std::vector<std::string> open_all(asio::io_context& io,
                                  const std::vector<std::shared_ptr<Connection>>& connections) {
    std::vector<std::string> failures;
    std::size_t next = 0;
    std::size_t pending = 0;
    std::function<void()> start_more = [&]() {
        while (pending < kConnectsInFlightMax && next < connections.size()) {
            ++pending;
            connections[next++]->open([&](const std::string& failure) {
                --pending;
                if (!failure.empty()) failures.push_back(failure);
                start_more();
            });
        }
    };
    start_more();
    io.restart();
    while (pending > 0 && io.run_one() > 0) {
    }
    return failures;
}

// One load thread: its share of the connections, the requests and the rate.
class Worker {
  public:
    struct Share {
        int index = 0;
        int connections = 0;
        std::uint64_t requests_max = 0;  // UINT64_MAX: bounded by time only
        double rate = 0;                 // 0: closed loop
        std::string id_prefix;
    };

    Worker(const Options& options, ssl::context& tls,
           const std::vector<PartnerCredential>& partners, tcp::endpoint endpoint, Share share)
        : options_(options),
          partners_(partners),
          share_(std::move(share)),
          workload_(WorkloadConfig{
              .mix = options.mix,
              .partner_count = partners.size(),
              .member_count = options.members,
              .member_prefix = options.member_prefix,
              .id_prefix = share_.id_prefix,
              // Threads draw different streams from one --seed.
              .seed = options.seed + kSeedStride * static_cast<std::uint64_t>(share_.index),
              .blind_burns = options.blind_burns,
          }),
          timer_(io_) {
        for (int i = 0; i < share_.connections; ++i) {
            auto connection = std::make_shared<Connection>(io_, tls, options_, endpoint);
            connection->set_events(Connection::Events{
                .answered =
                    [this](Connection& c, const PlannedClaim& claim, int status,
                           const std::string& body, Clock::time_point start, bool keep_alive) {
                        on_answered(c, claim, status, body, start, keep_alive);
                    },
                .failed = [this](Connection& c, const PlannedClaim& claim,
                                 const std::string& what) { on_failed(c, claim, what); },
            });
            connections_.push_back(std::move(connection));
        }
    }

    // Phase 1: open every connection (before the clock starts, so handshakes are not measured).
    std::vector<std::string> connect() {
        auto failures = open_all(io_, connections_);
        live_ = share_.connections - static_cast<int>(failures.size());
        for (const auto& failure : failures) ++stats_.by_transport[failure];
        return failures;
    }

    // Phase 2: the load, from the common start `t0`, until the bounds are reached and every
    // request in flight has been answered.
    void run(Clock::time_point t0, std::optional<Clock::time_point> issue_end,
             Clock::time_point hard_end) {
        t0_ = t0;
        last_answer_ = t0;
        hard_end_ = hard_end;
        issue_end_ = issue_end ? std::min(*issue_end, hard_end) : hard_end;
        if (share_.rate > 0) {
            interval_s_ = 1.0 / share_.rate;
        }
        asio::post(io_, [this]() {
            for (const auto& connection : connections_) {
                // Failed ones from phase 1 stay closed and are never handed work.
                if (connection->is_open()) idle_.push_back(connection.get());
            }
            pump();
        });
        io_.restart();
        io_.run();
    }

    RunStats& stats() {
        stats_.fallbacks = workload_.fallbacks();  // counted where the claims are chosen
        return stats_;
    }
    Clock::time_point last_answer() const { return last_answer_; }
    bool time_capped() const { return time_capped_; }

  private:
    Clock::time_point intended(std::uint64_t slot) const {
        return t0_ + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(static_cast<double>(slot) * interval_s_));
    }

    // Whether another request may start at `now`; in fixed-rate mode also when (`due`).
    bool may_issue(Clock::time_point now, Clock::time_point* due) {
        if (stopping_ || issued_ >= share_.requests_max) return false;
        const Clock::time_point start = share_.rate > 0 ? intended(issued_) : now;
        if (start >= issue_end_ || now >= hard_end_) {
            if (now >= hard_end_ && !options_.duration_s) time_capped_ = true;
            return false;
        }
        if (due) *due = start;
        return true;
    }

    // Hands work to idle connections: at once in closed loop, on schedule at a fixed rate.
    void pump() {
        const auto now = Clock::now();
        Clock::time_point due;
        while (!idle_.empty() && may_issue(now, &due)) {
            if (due > now) {
                arm_timer(due);
                return;
            }
            // Oldest idle first: every connection keeps being used, so none outlives the
            // server's idle deadline unseen and then fails the request it is finally given, as
            // long as connections / rate stays under that deadline (bench/README.md).
            Connection* connection = idle_.front();
            idle_.pop_front();
            // A fixed-rate request's latency runs from its slot in the schedule: if the server
            // stalled and the request waited for a free connection, that wait counts.
            issue(*connection, share_.rate > 0 ? due : now);
        }
        maybe_finish(now);
    }

    void arm_timer(Clock::time_point due) {
        if (timer_armed_) return;
        timer_armed_ = true;
        timer_.expires_at(due);
        timer_.async_wait([this](beast::error_code ec) {
            timer_armed_ = false;
            if (!ec) pump();
        });
    }

    void issue(Connection& connection, Clock::time_point latency_start) {
        ++issued_;
        ++in_flight_;
        PlannedClaim claim = workload_.next();
        ++stats_.sent[static_cast<std::size_t>(claim.kind)];
        const auto& partner = partners_[claim.partner];
        connection.send(std::move(claim), partner, latency_start);
    }

    void on_answered(Connection& connection, const PlannedClaim& claim, int status,
                     const std::string& body, Clock::time_point start, bool keep_alive) {
        const auto now = Clock::now();
        --in_flight_;
        last_answer_ = now;
        const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - start);
        stats_.latency_us.record(static_cast<std::uint64_t>(
            std::max<std::int64_t>(0, static_cast<std::int64_t>(latency.count()))));
        ++stats_.by_status[status];
        if (status >= 200 && status < 300) {
            ++stats_.booked[static_cast<std::size_t>(claim.kind)];
        } else if (status >= 400) {
            ++stats_.by_error[error_key(status, body)];
        }
        workload_.on_outcome(claim, status);
        if (keep_alive) {
            idle_.push_back(&connection);
            pump();
            return;
        }
        // The server asked to close (draining, or a cap on requests per connection): a normal
        // event, not an error; carry on over a new connection.
        reopen(connection);
    }

    void on_failed(Connection& connection, const PlannedClaim& claim, const std::string& what) {
        --in_flight_;
        ++stats_.by_transport[what];
        workload_.on_outcome(claim, 0);
        reopen(connection);
    }

    void reopen(Connection& connection) {
        connection.close();
        if (!may_issue(Clock::now(), nullptr)) return lose(connection);
        ++stats_.reconnects;
        connection.after_pause([this, &connection]() {
            connection.open([this, &connection](const std::string& failure) {
                if (!failure.empty()) {
                    // One retry per break: a server that refuses twice is down, and hammering
                    // it would only pile transport errors onto the one that matters.
                    ++stats_.by_transport[failure];
                    return lose(connection);
                }
                idle_.push_back(&connection);
                pump();
            });
        });
    }

    void lose(Connection&) {
        --live_;
        maybe_finish(Clock::now());
    }

    void maybe_finish(Clock::time_point now) {
        if (stopping_ || in_flight_ > 0) return;
        // Reconnecting connections may still take work.
        const int reconnecting =
            live_ - static_cast<int>(idle_.size()) - static_cast<int>(in_flight_);
        const bool more = may_issue(now, nullptr) && live_ > 0;
        if (more && (!idle_.empty() || reconnecting > 0)) return;
        stopping_ = true;
        timer_.cancel();
        for (const auto& c : connections_) c->close_for_good();
    }

    const Options& options_;
    const std::vector<PartnerCredential>& partners_;
    Share share_;
    asio::io_context io_;
    Workload workload_;
    asio::steady_timer timer_;
    std::vector<std::shared_ptr<Connection>> connections_;
    std::deque<Connection*> idle_;
    RunStats stats_;
    Clock::time_point t0_;
    Clock::time_point last_answer_;
    Clock::time_point issue_end_;
    Clock::time_point hard_end_;
    double interval_s_ = 0;
    std::uint64_t issued_ = 0;
    std::uint64_t in_flight_ = 0;
    int live_ = 0;
    bool timer_armed_ = false;
    bool stopping_ = false;
    bool time_capped_ = false;
};

tcp::endpoint endpoint_of(const Target& target) {
    return tcp::endpoint(asio::ip::make_address(target.host), target.port);
}

}  // namespace

RunSummary run_load(const Options& options, const std::vector<PartnerCredential>& partners) {
    auto tls = make_tls_context(options);
    const auto endpoint = endpoint_of(options.target);
    // Fresh on every run whatever the seed: a replayed webhook-id would be answered from the
    // idempotency record, not booked, and the benchmark would measure the wrong thing.
    const std::string run_id = crypto::hex(crypto::random_bytes(6));
    const auto threads = static_cast<std::size_t>(options.threads);
    const auto requests_total = options.requests.value_or(UINT64_MAX);

    std::vector<std::unique_ptr<Worker>> workers;
    for (std::size_t i = 0; i < threads; ++i) {
        Worker::Share share;
        share.index = static_cast<int>(i);
        share.connections = options.connections / options.threads +
                            (static_cast<int>(i) < options.connections % options.threads ? 1 : 0);
        share.requests_max =
            requests_total == UINT64_MAX
                ? UINT64_MAX
                : requests_total / threads + (i < requests_total % threads ? 1 : 0);
        share.rate = options.rate ? *options.rate / static_cast<double>(threads) : 0;
        share.id_prefix = "lg-" + run_id + "-" + std::to_string(i) + "-";
        workers.push_back(std::make_unique<Worker>(options, *tls, partners, endpoint, share));
    }

    std::vector<std::string> failures;
    for (auto& worker : workers) {
        auto more = worker->connect();
        failures.insert(failures.end(), more.begin(), more.end());
    }
    if (failures.size() == static_cast<std::size_t>(options.connections)) {
        throw std::runtime_error("could not open any connection to " + options.target.host + ":" +
                                 std::to_string(options.target.port) + ": " + failures.front());
    }

    const auto t0 = Clock::now();
    const auto hard_end = t0 + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(kDurationMaxS));
    std::optional<Clock::time_point> issue_end;
    if (options.duration_s) {
        issue_end = t0 + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(*options.duration_s));
    }
    {
        std::vector<std::jthread> running;
        for (std::size_t i = 1; i < workers.size(); ++i) {
            running.emplace_back([&, i]() { workers[i]->run(t0, issue_end, hard_end); });
        }
        workers[0]->run(t0, issue_end, hard_end);
    }

    RunSummary summary;
    summary.mode = options.rate ? "fixed-rate" : "closed-loop";
    summary.target_rate = options.rate.value_or(0);
    summary.connections = options.connections;
    summary.threads = options.threads;
    summary.mix = options.mix.to_string();
    auto last = t0;
    for (auto& worker : workers) {
        summary.stats.merge(worker->stats());
        last = std::max(last, worker->last_answer());
        summary.time_capped = summary.time_capped || worker->time_capped();
    }
    std::uint64_t issued = 0;
    for (const auto sent : summary.stats.sent) issued += sent;
    summary.elapsed_s = run_elapsed_s(std::chrono::duration<double>(last - t0).count(), issued,
                                      summary.target_rate);
    return summary;
}

IdleSummary run_idle(const Options& options, std::ostream& progress) {
    auto tls = make_tls_context(options);
    const auto endpoint = endpoint_of(options.target);
    asio::io_context io;
    std::vector<std::shared_ptr<Connection>> connections;
    for (int i = 0; i < options.idle_connections; ++i) {
        connections.push_back(std::make_shared<Connection>(io, *tls, options, endpoint));
    }
    IdleSummary summary;
    summary.requested = options.idle_connections;
    summary.hold_s = options.hold_s;
    auto failures = open_all(io, connections);
    std::size_t pending = 0;
    for (const auto& connection : connections) {
        if (!connection->is_open()) continue;
        ++pending;
        connection->ping([&pending, &failures, connection](const std::string& failure) {
            --pending;
            if (failure.empty()) return;
            failures.push_back(failure);
            connection->close();
        });
    }
    io.restart();
    while (pending > 0 && io.run_one() > 0) {
    }
    summary.failed = static_cast<int>(failures.size());
    summary.opened = summary.requested - summary.failed;
    if (!failures.empty())
        progress << "loadgen: " << failures.size() << " connections failed, e.g. "
                 << failures.front() << "\n";
    if (summary.opened == 0) return summary;
    progress << "holding " << summary.opened << " idle TLS connections for " << options.hold_s
             << " s" << std::endl;  // flushed: a benchmark script waits for this line

    bool holding = true;
    for (const auto& connection : connections) {
        if (!connection->is_open()) continue;
        connection->watch([&summary, &holding]() {
            if (holding) ++summary.closed_early;
        });
    }
    asio::steady_timer hold(io);
    hold.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.hold_s)));
    hold.async_wait([&](beast::error_code) {
        holding = false;
        for (const auto& connection : connections) connection->close_for_good();
    });
    io.restart();
    io.run();
    return summary;
}

std::string format_idle_text(const IdleSummary& summary) {
    return "idle: " + std::to_string(summary.opened) + " of " + std::to_string(summary.requested) +
           " TLS connections opened, " + std::to_string(summary.failed) + " failed, " +
           std::to_string(summary.closed_early) + " closed by the server while held\n";
}

std::string format_idle_json(const IdleSummary& summary) {
    nlohmann::ordered_json json = {
        {"mode", "idle"},
        {"requested", summary.requested},
        {"opened", summary.opened},
        {"failed", summary.failed},
        {"closed_early", summary.closed_early},
        {"hold_s", summary.hold_s},
        {"clean", summary.clean()},
    };
    return json.dump();
}

}  // namespace coalition::loadgen
