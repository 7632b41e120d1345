#pragma once
// The daily clearing job inside the server: once a date has ended in the program time zone and
// the grace period (settle_grace_s) has passed, it closes that date — after downtime every missed
// date, oldest first. A failure is logged and retried on the next tick, and a date that fails on
// its own does not hold up the dates after it; a close is one transaction, so nothing is ever
// half-stored. No date is closed while the database's schema lacks a migration the server was
// built with.
#include "core/settings.hpp"
#include "storage/migrator.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <vector>

namespace coalition::server {

class DatabasePool;
class Logger;

class SettlementJob : public std::enable_shared_from_this<SettlementJob> {
public:
    static constexpr int tick_interval_ms = 30000;

    SettlementJob(boost::asio::io_context& io, DatabasePool& database, Logger& logger,
                  const Settings& settings);
    void start();
    void stop();

private:
    void tick();
    void schedule(int delay_ms);

    boost::asio::steady_timer timer_;
    DatabasePool& database_;
    Logger& logger_;
    const int grace_s_;
    const std::vector<storage::Migration> schema_;  // the migrations this server was built with
    bool stopped_ = false;
};

}  // namespace coalition::server
