#include "server/server.hpp"

#include "core/one_line.hpp"
#include "server/booking_service.hpp"
#include "server/claims_handler.hpp"
#include "server/db_pool.hpp"
#include "server/health_handlers.hpp"
#include "server/logger.hpp"
#include "server/members_handler.hpp"
#include "server/partner_directory.hpp"
#include "server/rate_limiter.hpp"
#include "server/responses.hpp"
#include "server/server_context.hpp"
#include "server/session.hpp"
#include "server/settlement_handlers.hpp"
#include "server/settlement_job.hpp"
#include "server/tls_context.hpp"
#include "storage/migrator.hpp"
#include "storage/sql_time.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/transaction>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include <sys/resource.h>

namespace coalition::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Accepts connections until closed; over the connection cap, a new connection is closed at
// once rather than queued, so the cap bounds memory and file descriptors.
class Listener : public std::enable_shared_from_this<Listener> {
public:
    Listener(asio::io_context& io, asio::ssl::context& tls, ServerContext& context, tcp::endpoint at)
        // On one strand: stop() closes the acceptor from another thread than the one that may
        // be handling an accept, and asio's sockets and timers are not safe to share otherwise.
        : io_(io), tls_(tls), context_(context), acceptor_(asio::make_strand(io)),
          retry_timer_(acceptor_.get_executor()), refusals_timer_(acceptor_.get_executor()) {
        acceptor_.open(at.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(at);
        acceptor_.listen(asio::socket_base::max_listen_connections);
    }

    void start() { accept(); }
    void stop() {
        asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
            boost::system::error_code ignored;
            self->acceptor_.close(ignored);
            self->retry_timer_.cancel();
            self->refusals_timer_.cancel();
            if (self->refused_at_cap_ > 0) self->log_refusals();  // none left untold at exit
        });
    }
    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

private:
    void accept() {
        acceptor_.async_accept(asio::make_strand(io_), [self = shared_from_this()](
                                                           boost::system::error_code ec,
                                                           tcp::socket socket) {
            self->on_accept(ec, std::move(socket));
        });
    }

    void on_accept(boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
        if (ec) {
            // E.g. out of file descriptors: back off briefly instead of spinning.
            context_.logger.log(LogLevel::error, "accept failed", {{"error", ec.message()}});
            retry_timer_.expires_after(std::chrono::milliseconds(100));
            retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
                if (!wait_ec) self->accept();
            });
            return;
        }
        if (context_.sessions.size() >= static_cast<std::size_t>(context_.settings.max_connections)) {
            note_refused_at_cap();
            boost::system::error_code ignored;
            socket.close(ignored);
        } else {
            std::make_shared<Session>(std::move(socket), tls_, context_)->start();
        }
        accept();
    }

    // One line a second at most, with how many were refused since the last: a client that
    // keeps connecting at the cap must not write a line per attempt (a full disk, or journald
    // dropping the lines that matter). The refusals of the rest of a second are told when it
    // ends, not at the next refusal, which may never come. Runs on the acceptor's strand only.
    void note_refused_at_cap() {
        ++refused_at_cap_;
        const auto next_line = last_refusal_logged_ + std::chrono::seconds(1);
        if (std::chrono::steady_clock::now() >= next_line) {
            log_refusals();
            return;
        }
        if (refusals_timer_armed_) return;
        refusals_timer_armed_ = true;
        refusals_timer_.expires_at(next_line);
        refusals_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            self->refusals_timer_armed_ = false;
            if (!ec && self->refused_at_cap_ > 0) self->log_refusals();
        });
    }

    void log_refusals() {
        context_.logger.log(
            LogLevel::warn, "connections refused: at max_connections",
            {{"max_connections", context_.settings.max_connections}, {"refused", refused_at_cap_}});
        refused_at_cap_ = 0;
        last_refusal_logged_ = std::chrono::steady_clock::now();
    }

    asio::io_context& io_;
    asio::ssl::context& tls_;
    std::uint64_t refused_at_cap_ = 0;
    std::chrono::steady_clock::time_point last_refusal_logged_{};
    bool refusals_timer_armed_ = false;
    ServerContext& context_;
    tcp::acceptor acceptor_;
    asio::steady_timer retry_timer_;
    asio::steady_timer refusals_timer_;  // tells the refusals of a second when it ends
};

tcp::endpoint listen_endpoint(const Settings& settings) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(settings.listen_host, ec);
    if (ec) {
        // Not a literal address: resolve a host name such as "localhost" once, at start.
        asio::io_context resolver_io;
        tcp::resolver resolver(resolver_io);
        auto results = resolver.resolve(settings.listen_host, std::to_string(settings.listen_port), ec);
        if (ec || results.empty()) {
            throw SettingsError("COALITION_LISTEN: cannot resolve '" + settings.listen_host + "'");
        }
        return results.begin()->endpoint();
    }
    return tcp::endpoint(address, settings.listen_port);
}

// Re-reads the partner directory every refresh_interval_ms until the timer is cancelled (its
// timer on a strand, as the listener's, for stop() from another thread). Each re-read starts
// an interval after the previous one started, not after it ended, on the pool's lane of its own
// (submit_first): a ctl change reaches the server within one interval plus one re-read, however
// busy the pool is (CONTRACT.md §4: 5 s). A failed refresh keeps the last snapshot (claims can
// still be authenticated while the database is briefly away; booking them answers 503 anyway) and
// is logged once per outage.
class DirectoryRefresher : public std::enable_shared_from_this<DirectoryRefresher> {
public:
    DirectoryRefresher(asio::io_context& io, DatabasePool& database, PartnerDirectory& directory,
                       Logger& logger, int interval_ms)
        : timer_(asio::make_strand(io)), database_(database), directory_(directory),
          logger_(logger), interval_ms_(interval_ms), schema_(storage::embedded_migrations()) {}

    void start() { refresh(); }
    void stop() {
        asio::post(timer_.get_executor(), [self = shared_from_this()] {
            self->stopped_ = true;
            self->timer_.cancel();
        });
    }

private:
    void refresh() {
        started_ = std::chrono::steady_clock::now();
        database_.submit_first(
            [self = shared_from_this()](pqxx::connection& connection) {
                pqxx::read_transaction tx(connection);
                self->directory_.replace(
                    load_directory(tx, storage::now_unix_micros(), self->schema_));
            },
            [self = shared_from_this()](std::exception_ptr failure) {
                asio::post(self->timer_.get_executor(), [self, failure] { self->on_refreshed(failure); });
            });
    }

    void on_refreshed(std::exception_ptr failure) {
        if (failure && !failing_) {
            try {
                std::rethrow_exception(failure);
            } catch (const std::exception& e) {
                logger_.log(LogLevel::warn, "partner directory refresh failed", {{"error", e.what()}});
            }
        } else if (!failure && failing_) {
            logger_.log(LogLevel::info, "partner directory refreshed again");
        }
        failing_ = failure != nullptr;
        if (!failure) note_schema();
        if (stopped_) return;
        timer_.expires_at(started_ + std::chrono::milliseconds(interval_ms_));
        timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec && !self->stopped_) self->refresh();
        });
    }

    // Said when the schema is found behind the server's code (at start, or restored from an
    // older backup), and when it has caught up: meanwhile every request but the health probes
    // is answered 503.
    void note_schema() {
        const auto snapshot = directory_.current();
        const auto missing = snapshot ? snapshot->missing_migration : std::nullopt;
        if (missing == schema_missing_said_) return;
        if (missing) {
            logger_.log(LogLevel::warn,
                        "the database schema lacks a migration: claims and reads are answered "
                        "503, and no date is closed, until coalitionctl migrate",
                        {{"migration", *missing}});
        } else {
            logger_.log(LogLevel::info, "the database schema has every migration: serving");
        }
        schema_missing_said_ = missing;
    }

    asio::steady_timer timer_;
    DatabasePool& database_;
    PartnerDirectory& directory_;
    Logger& logger_;
    const int interval_ms_;
    const std::vector<storage::Migration> schema_;   // the migrations this server was built with
    std::chrono::steady_clock::time_point started_;  // of the re-read under way
    bool failing_ = false;
    bool stopped_ = false;
    std::optional<std::string> schema_missing_said_;
};

// Drain: stop accepting, close idle connections, let busy ones answer, then stop the loop once
// no connection is left or the shutdown deadline has passed.
void drain_then_stop(asio::io_context& io, ServerContext& context, Listener& listener,
                     std::shared_ptr<asio::steady_timer> timer,
                     std::chrono::steady_clock::time_point deadline) {
    if (context.sessions.size() == 0 || std::chrono::steady_clock::now() >= deadline) {
        if (context.sessions.size() != 0) {
            context.logger.log(LogLevel::warn, "shutdown deadline passed with connections open",
                               {{"connections", context.sessions.size()}});
        }
        io.stop();
        return;
    }
    timer->expires_after(std::chrono::milliseconds(20));
    timer->async_wait([&io, &context, &listener, timer, deadline](boost::system::error_code) {
        drain_then_stop(io, context, listener, timer, deadline);
    });
}

}  // namespace

namespace {

// Each client connection and each database connection is a file descriptor, and systemd's
// default soft limit (1,024) is below the default max_connections (2,048): past it accept()
// fails (EMFILE) and so do reconnections to the database. The soft limit is raised to the hard
// one; if even that is short of what the settings may need, the operator is told at start.
void raise_open_file_limit(const Settings& settings, Logger& logger) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) getrlimit(RLIMIT_NOFILE, &limit);
    }
    // Clients, the pool and its own lane, the listener, logs and the rest of the process.
    constexpr rlim_t kOtherFiles = 64;
    const auto needed = static_cast<rlim_t>(settings.max_connections) +
                        static_cast<rlim_t>(settings.db_pool_size) + 1 + kOtherFiles;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
        logger.log(LogLevel::warn,
                   "open-file limit below what max_connections needs: raise LimitNOFILE or "
                   "lower max_connections",
                   {{"limit", static_cast<std::uint64_t>(limit.rlim_cur)},
                    {"needed", static_cast<std::uint64_t>(needed)}});
    }
}

}  // namespace

int run_server(const Settings& settings) {
    Logger logger(parse_log_level(settings.log_level));
    raise_open_file_limit(settings, logger);
    asio::ssl::context tls(asio::ssl::context::tls_server);
    tcp::endpoint endpoint;
    try {
        configure_tls(tls, settings);
        endpoint = listen_endpoint(settings);
    } catch (const SettingsError& e) {
        // One line: the message may quote a setting's value, newlines and all.
        std::fprintf(stderr, "coalition-server: %s\n", one_line(e.what()).c_str());
        return 2;
    }

    // Declared before the io_context so that it outlives it: stopping the pool runs queued jobs
    // whose completions post into the (stopped) io_context, which must still exist.
    DatabasePool database(settings, logger);
    PartnerDirectory directory;
    RateLimiter rate_limiter(settings.rate_limit_per_s, settings.rate_limit_burst);
    BookingService booking(database, logger,
                           {settings.batch_max_claims, settings.batch_max_wait_ms,
                            settings.batch_max_in_flight});
    ServerContext context{settings, logger, {}, {}, {}};
    add_health_routes(context.router, database, directory, settings);
    add_claims_routes(context.router,
                      {settings, directory, rate_limiter, booking, database, logger});
    add_member_routes(context.router, database, settings);
    add_settlement_routes(context.router, database, settings);
    // While the database's schema lacks a migration this server was built with, its code would
    // fail some requests and answer others without the newer schema's rules (a close would
    // store its run for ever): every route but the health probes answers 503 meanwhile, and so
    // until the schema has been read once (found by review: with the database down at the
    // start, a close went through on a schema behind the code before the first read).
    context.router.set_guard(
        [&directory, retry_after_s = settings.db_retry_after_s]() -> std::optional<Response> {
            const auto snapshot = directory.current();
            if (!snapshot) {
                // The schema is read with the partners (partner_directory.hpp).
                return unavailable_response(retry_after_s, "partner directory not loaded yet");
            }
            if (!snapshot->missing_migration) return std::nullopt;
            return unavailable_response(
                retry_after_s, storage::schema_behind_message(*snapshot->missing_migration));
        });

    asio::io_context io(settings.threads);
    // Destroyed before `io`: whatever way this function returns, the database workers are stopped
    // before the io_context they post completions into goes away; the batcher first, so that
    // it sends nothing to a stopped pool.
    struct StopDatabaseFirst {
        BookingService& booking;
        DatabasePool& database;
        ~StopDatabaseFirst() {
            booking.stop();
            database.stop();
        }
    } stop_database_first{booking, database};

    std::shared_ptr<Listener> listener;
    try {
        listener = std::make_shared<Listener>(io, tls, context, endpoint);
    } catch (const boost::system::system_error& e) {
        std::fprintf(stderr, "coalition-server: cannot listen on %s:%u: %s\n",
                     settings.listen_host.c_str(), settings.listen_port, e.code().message().c_str());
        return 2;
    }
    // Background work starts only once the server is sure to run.
    auto refresher = std::make_shared<DirectoryRefresher>(io, database, directory, logger,
                                                          settings.refresh_interval_ms);
    refresher->start();
    auto settlement_job = std::make_shared<SettlementJob>(io, database, logger, settings);
    settlement_job->start();
    listener->start();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int signo) {
        if (ec) return;
        logger.log(LogLevel::info, "draining", {{"signal", signo}, {"connections", context.sessions.size()}});
        context.draining = true;
        listener->stop();
        refresher->stop();
        settlement_job->stop();
        context.sessions.for_each([](Session& session) { session.drain(); });
        const auto deadline = std::chrono::steady_clock::now() +
                              std::chrono::milliseconds(settings.shutdown_timeout_ms);
        drain_then_stop(io, context, *listener, std::make_shared<asio::steady_timer>(io), deadline);
        // A second signal (an operator's second Ctrl-C, a supervisor's repeated TERM) ends the
        // drain at once.
        signals.async_wait([&](boost::system::error_code again, int) {
            if (again) return;
            logger.log(LogLevel::warn, "second signal: stopping without waiting for the drain",
                       {{"connections", context.sessions.size()}});
            io.stop();
        });
    });

    logger.log(LogLevel::info, "listening",
               {{"address", listener->local_endpoint().address().to_string()},
                {"port", listener->local_endpoint().port()},
                {"threads", settings.threads},
                {"mutual_tls", !settings.client_ca.empty()}});

    std::vector<std::thread> threads;
    for (int i = 1; i < settings.threads; ++i) threads.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& thread : threads) thread.join();
    // Connections still open here are past the drain deadline (or a second signal): their
    // answers can no longer be sent, so what is queued for the database is not run (it has
    // stored nothing, and each partner's retry is booked or replayed), and the stop waits only
    // for the jobs already running. Claims still waiting for a batch go to the pool first, and
    // meet the same fate as what is queued there (or are booked, if a worker takes them first);
    // those whose member a running batch holds are answered unavailable at once.
    booking.stop();
    database.stop_now();
    logger.log(LogLevel::info, "stopped");
    return 0;
}

}  // namespace coalition::server
