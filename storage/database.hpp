#pragma once
// Opening database connections with the deadline our settings give (libpq connect_timeout),
// so an unreachable PostgreSQL costs a bounded wait, never a hang.
#include "core/settings.hpp"

#include <memory>
#include <string>

// pqxx 6 makes connection a typedef of a template, so it cannot be forward-declared.
#include <pqxx/connection>
#include <pqxx/transaction>

namespace coalition::storage {

// The connection string with connect_timeout appended (a later keyword wins in libpq).
std::string conninfo_with_timeout(const std::string& conninfo, int connect_timeout_s);

// Throws SettingsError when `conninfo` (COALITION_DB) is not a libpq connection string: a
// setting to fix (exit 2), not a database that is down.
void check_conninfo(const std::string& conninfo);

// Throws SettingsError for a malformed conninfo, pqxx::broken_connection when the database
// cannot be reached.
std::unique_ptr<pqxx::connection> connect(const Settings& settings);

// One consistent, read-only snapshot for reads that must not see rows disagree (a settlement
// read, the ledger check) while bookings go on.
using SnapshotTransaction =
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only>;

// A round trip that proves the database answers (for /readyz); throws like any query.
void ping(pqxx::connection& connection);

}  // namespace coalition::storage
