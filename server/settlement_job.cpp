#include "server/settlement_job.hpp"

#include "server/db_pool.hpp"
#include "server/logger.hpp"
#include "storage/migrator.hpp"
#include "storage/settlement_store.hpp"
#include "storage/sql_time.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/except>

namespace coalition::server {
namespace {

bool is_transient(const std::exception& e) {
    // libpqxx 6 throws SQLSTATE class 40 as transaction_rollback, which is no sql_error.
    if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) return true;
    const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
    return sql != nullptr && is_transient_sqlstate(sql->sqlstate());
}

}  // namespace

SettlementJob::SettlementJob(boost::asio::io_context& io, DatabasePool& database, Logger& logger,
                             const Settings& settings)
    // On a strand: stop() (from the signal handler's thread) and the timer's handlers touch
    // timer_ and stopped_, and with threads > 1 they would otherwise run at the same time.
    : timer_(boost::asio::make_strand(io)),
      database_(database),
      logger_(logger),
      grace_s_(settings.settle_grace_s),
      schema_(storage::embedded_migrations()) {}

void SettlementJob::start() { schedule(0); }

void SettlementJob::stop() {
    boost::asio::post(timer_.get_executor(), [self = shared_from_this()] {
        self->stopped_ = true;
        self->timer_.cancel();
    });
}

void SettlementJob::schedule(int delay_ms) {
    if (stopped_) return;
    timer_.expires_after(std::chrono::milliseconds(delay_ms));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec && !self->stopped_) self->tick();
    });
}

void SettlementJob::tick() {
    database_.submit(
        [self = shared_from_this()](pqxx::connection& connection) {
            // A date is due once it ended at least grace_s ago: ask which dates had ended at
            // (now − grace).
            // A close on a schema older than the server's code would store its run for ever
            // (the server logs the missing migration and answers requests 503 meanwhile).
            if (storage::first_missing_migration(connection, self->schema_)) return;
            const auto now_us = storage::now_unix_micros();
            const auto due = storage::dates_to_close(connection, now_us - std::int64_t{self->grace_s_} * 1000000);
            for (const auto& date : due) {
                // The clock now, not the tick's: each close may take seconds.
                try {
                    const auto result =
                        storage::close_settlement(connection, date, storage::now_unix_micros());
                    if (result.outcome == storage::CloseOutcome::closed_now) {
                        self->logger_.log(LogLevel::info, "settlement date closed",
                                          {{"date", storage::date_literal(date)}});
                    }
                } catch (const pqxx::broken_connection&) {
                    throw;  // the database is away: every later date would fail the same way
                } catch (const pqxx::in_doubt_error&) {
                    throw;
                } catch (const std::exception& e) {
                    // A date that cannot close must not keep the dates after it open: no close
                    // depends on an earlier date's. It is tried again on every check, and logged
                    // each time: at warn for what passes by itself (a lock held too long, as by
                    // another server's close; a deadlock's victim), at error for the rest (its
                    // figures broken: coalitionctl check).
                    self->logger_.log(is_transient(e) ? LogLevel::warn : LogLevel::error,
                                      "settlement date not closed; later dates go on",
                                      {{"date", storage::date_literal(date)}, {"error", e.what()}});
                }
            }
        },
        [self = shared_from_this()](std::exception_ptr failure) {
            if (failure) {
                try {
                    std::rethrow_exception(failure);
                } catch (const std::exception& e) {
                    self->logger_.log(LogLevel::warn, "daily settlement failed; will retry",
                                      {{"error", e.what()}});
                }
            }
            boost::asio::post(self->timer_.get_executor(),
                              [self] { self->schedule(tick_interval_ms); });
        });
}

}  // namespace coalition::server
