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

// The connection string the programs connect with: COALITION_DB, then connect_timeout (the
// setting wins: a later keyword wins in libpq), then, unless COALITION_DB sets any of them or
// names a service (whose file may), TCP keepalives and a TCP user timeout (kDeadPeer*), so that a
// database host that vanishes without closing its connections (a network partition, a power cut)
// fails a waiting query within about a minute, answered 503, instead of the kernel's two hours and
// more.
std::string conninfo_with_timeout(const std::string& conninfo, int connect_timeout_s);

inline constexpr int kDeadPeerKeepalivesIdleS = 30;
inline constexpr int kDeadPeerKeepalivesIntervalS = 10;
inline constexpr int kDeadPeerKeepalivesCount = 3;
inline constexpr int kDeadPeerTcpUserTimeoutMs = 60'000;

// Throws SettingsError when `conninfo` (COALITION_DB) is not a libpq connection string: a
// setting to fix (exit 2), not a database that is down.
void check_conninfo(const std::string& conninfo);

// Throws SettingsError when libpq refuses one of the string's values (sslmode=requre,
// port=99999), which it checks only when it connects: else the server would start and answer
// 503 for ever. Starts a connection attempt and drops it (a host name is resolved).
void check_conninfo_values(const std::string& conninfo);

// Throws SettingsError for a malformed conninfo, pqxx::broken_connection when the database
// cannot be reached. The connection is set up by set_up_session.
std::unique_ptr<pqxx::connection> connect(const Settings& settings);

// What every connection of the programs needs whatever the database's or role's defaults: dates
// read back as text in ISO form (YYYY-MM-DD), the only form the code parses. A database set to
// DateStyle 'SQL, DMY' would otherwise turn every member look-up and the daily close into 500s.
void set_up_session(pqxx::connection& connection);

// One consistent, read-only snapshot for reads that must not see rows disagree (a settlement
// read, the ledger check) while bookings go on.
using SnapshotTransaction =
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only>;

}  // namespace coalition::storage
