#include "storage/migrator.hpp"

#include "core/crypto.hpp"
#include "core/files.hpp"
#include "core/one_line.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <utility>

namespace coalition::storage {
namespace {

// The advisory lock key that serialises migration runs across processes ("coalmigr" in ASCII);
// any fixed value works as long as nothing else in the database uses it.
constexpr long long kMigrationLockKey = 0x636f616c6d696772LL;

constexpr const char* kLockSql = "SELECT pg_advisory_lock($1)";
constexpr const char* kUnlockSql = "SELECT pg_advisory_unlock($1)";
constexpr const char* kCreateTableSql =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " name text PRIMARY KEY,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
constexpr const char* kSelectAppliedSql = "SELECT name, checksum FROM schema_migrations";
constexpr const char* kAppliedNamesSql = "SELECT name FROM schema_migrations";
constexpr const char* kHasMigrationsTableSql =
    "SELECT to_regclass('schema_migrations') IS NOT NULL";
constexpr const char* kRecordSql = "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)";

// Before its SQL, a migration locks every table of the schema it may write (the migrations'
// record aside, which /readyz reads), ACCESS EXCLUSIVE, in name order. Servers keep booking
// while an operator migrates (docs/operators.md), and a migration that builds an index (SHARE)
// and then alters the table (ACCESS EXCLUSIVE) deadlocked with a booking that had read the
// table and then wanted to write it (found by review: `migrate` failed 3 times in 4 under
// load). Holding every lock before its first statement, a migration waits for no booking, and
// bookings wait for it (and are answered 503 after db_lock_timeout_ms). Taking the locks may
// still close a cycle with a booking that holds a later table and wants an earlier one: the
// migration, waiting first, is the one PostgreSQL fails after deadlock_timeout, and its
// transaction is begun again. Each wait is bounded by kLockWait, a second longer than
// deadlock_timeout: an autovacuum in the way is cancelled only once a lock request has waited
// that long (found by review: with a shorter bound no attempt outlasted a long autovacuum).
constexpr const char* kTablesToLockSql =
    "SELECT coalesce(string_agg(format('%I.%I', n.nspname, c.relname), ', ' "
    "                           ORDER BY c.relname), '') "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
    "  AND c.relname <> 'schema_migrations' AND has_table_privilege(c.oid, 'UPDATE')";
constexpr const char* kLockWait =
    "SELECT set_config('lock_timeout', least("
    "  (extract(epoch FROM current_setting('deadlock_timeout')::interval) * 1000 + 1000)::bigint,"
    "  2147483647) || 'ms', true)";  // lock_timeout's largest value
constexpr const char* kLockWaitAsConfigured = "SET LOCAL lock_timeout TO DEFAULT";
// About 75 s of attempts by default (each waits at most kLockWait on a lock, then pauses).
constexpr int kMigrationAttempts = 30;
constexpr auto kPauseBetweenAttempts = std::chrono::milliseconds(500);
constexpr const char* kLockNotAvailable = "55P03";

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// NNNN_name.sql with a lowercase name, so the sort order is the numeric order on every system.
bool is_valid_migration_name(const std::string& name) {
    constexpr std::string_view kSuffix = ".sql";
    if (name.size() < 4 + 1 + 1 + kSuffix.size()) return false;
    if (name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) return false;
    for (std::size_t i = 0; i < 4; ++i) {
        if (!is_digit(name[i])) return false;
    }
    if (name[4] != '_') return false;
    for (std::size_t i = 5; i < name.size() - kSuffix.size(); ++i) {
        const char c = name[i];
        if (!(is_digit(c) || (c >= 'a' && c <= 'z') || c == '_')) return false;
    }
    return true;
}

// Names well formed, strictly increasing, and no two sharing a number.
void check_list(const std::vector<Migration>& migrations) {
    for (std::size_t i = 0; i < migrations.size(); ++i) {
        const auto& name = migrations[i].name;
        if (!is_valid_migration_name(name)) {
            throw MigrationError("migration " + name + ": name must look like NNNN_name.sql");
        }
        if (i > 0) {
            const auto& previous = migrations[i - 1].name;
            if (previous >= name) {
                throw MigrationError("migration " + name + ": out of order after " + previous);
            }
            if (previous.compare(0, 4, name, 0, 4) == 0) {
                throw MigrationError("migration " + name + ": number already used by " + previous);
            }
        }
    }
}

std::string applied_before_text(const std::vector<std::string>& applied_before) {
    if (applied_before.empty()) return "nothing applied by this run";
    std::string text = "applied by this run before it:";
    for (const auto& name : applied_before) text += " " + name;
    return text;
}

std::string failed_migration_message(const std::string& failed,
                                     const std::vector<std::string>& applied_before,
                                     const std::string& reason) {
    return "migration " + failed + " failed and was rolled back (" +
           applied_before_text(applied_before) + "): " + one_line(reason);
}

// Locks what the migration may write (kTablesToLockSql), then lets its statements wait as
// the role is configured to.
void lock_tables_for_migration(pqxx::work& tx) {
    const auto tables = tx.exec1(kTablesToLockSql)[0].as<std::string>();
    if (tables.empty()) return;  // the first migration: nothing to lock yet
    tx.exec(kLockWait);
    tx.exec("LOCK TABLE " + tables + " IN ACCESS EXCLUSIVE MODE");
    tx.exec(kLockWaitAsConfigured);
}

// Whether a failed attempt may be begun again: nothing of it was committed, and what failed it
// was waiting (a lock not granted within kLockWait, a deadlock, a serialization failure).
bool worth_another_attempt(const pqxx::failure& failure) {
    if (dynamic_cast<const pqxx::transaction_rollback*>(&failure) != nullptr) return true;
    const auto* sql = dynamic_cast<const pqxx::sql_error*>(&failure);
    return sql != nullptr && sql->sqlstate() == kLockNotAvailable;
}

// Applies one migration with its record, in one transaction, attempt after attempt while it
// only lost a wait. Throws MigrationError naming it on any other failure.
void apply_migration(pqxx::connection& connection, const Migration& migration,
                     const std::vector<std::string>& applied_before) {
    for (int attempt = 1;; ++attempt) {
        try {
            pqxx::work tx(connection);
            lock_tables_for_migration(tx);
            tx.exec(migration.sql);
            tx.exec_params(kRecordSql, migration.name, migration_checksum(migration));
            tx.commit();
            return;
        } catch (const pqxx::in_doubt_error& e) {
            // The connection was lost during COMMIT: the migration may have been applied.
            throw MigrationError("migration " + migration.name +
                                 ": the connection was lost while it was committed, so whether "
                                 "it was applied is unknown (" +
                                 applied_before_text(applied_before) +
                                 "); run coalitionctl migrate again, which applies it if it was "
                                 "not: " +
                                 one_line(e.what()));
        } catch (const pqxx::broken_connection& e) {
            // Lost before COMMIT: PostgreSQL rolled the transaction back.
            throw MigrationError(failed_migration_message(
                migration.name, applied_before, std::string("connection lost: ") + e.what()));
        } catch (const pqxx::failure& e) {
            // The operator must learn which file failed and what this run did commit:
            // PostgreSQL's message names neither.
            if (worth_another_attempt(e) && attempt < kMigrationAttempts) {
                std::this_thread::sleep_for(kPauseBetweenAttempts);
                continue;
            }
            const std::string waited = worth_another_attempt(e)
                                           ? "still waiting for other transactions after " +
                                                 std::to_string(kMigrationAttempts) + " attempts: "
                                           : "";
            throw MigrationError(
                failed_migration_message(migration.name, applied_before, waited + e.what()));
        }
    }
}

}  // namespace

std::vector<Migration> load_migrations(const std::string& directory) {
    namespace fs = std::filesystem;
    std::error_code error;
    fs::directory_iterator entries(directory, error);
    if (error) {
        throw MigrationError("migrations directory " + directory + ": " + error.message());
    }
    std::vector<Migration> out;
    for (const auto& entry : entries) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".sql") continue;
        if (!is_valid_migration_name(name)) {
            throw MigrationError("migration " + name + ": name must look like NNNN_name.sql");
        }
        auto text = read_file(entry.path().string());
        if (!text) throw MigrationError("migration " + name + ": cannot be read");
        out.push_back(Migration{name, std::move(*text)});
    }
    std::sort(out.begin(), out.end(),
              [](const Migration& a, const Migration& b) { return a.name < b.name; });
    check_list(out);
    return out;
}

std::string migration_checksum(const Migration& migration) {
    return crypto::sha256_hex(migration.sql);
}

MigrationReport migrate(pqxx::connection& connection, const std::vector<Migration>& migrations) {
    check_list(migrations);
    {
        pqxx::nontransaction lock(connection);
        lock.exec_params(kLockSql, kMigrationLockKey);
    }
    // A session lock outlives transactions, so it must be released on every path out.
    const auto unlock = [&connection] {
        try {
            pqxx::nontransaction tx(connection);
            tx.exec_params(kUnlockSql, kMigrationLockKey);
        } catch (const std::exception&) {
            // The connection is gone, and the session lock went with it.
        }
    };
    try {
        MigrationReport report;
        std::map<std::string, std::string> applied;
        {
            pqxx::work tx(connection);
            tx.exec(kCreateTableSql);
            for (const auto& row : tx.exec(kSelectAppliedSql)) {
                applied.emplace(row[0].as<std::string>(), row[1].as<std::string>());
            }
            tx.commit();
        }
        std::set<std::string> listed;
        for (const auto& migration : migrations) listed.insert(migration.name);
        for (const auto& [name, checksum] : applied) {
            if (listed.count(name) == 0) {
                throw MigrationError("migration " + name +
                                     " is applied in the database but missing from the list "
                                     "(is this binary older than the schema?)");
            }
        }
        const std::string last_applied = applied.empty() ? "" : applied.rbegin()->first;
        for (const auto& migration : migrations) {
            const auto found = applied.find(migration.name);
            if (found == applied.end()) continue;
            if (found->second != migration_checksum(migration)) {
                throw MigrationError("migration " + migration.name +
                                     " was changed after it was applied (checksum differs)");
            }
        }
        for (const auto& migration : migrations) {
            if (applied.count(migration.name) != 0) {
                report.already_applied.push_back(migration.name);
                continue;
            }
            // Forward-only: a new file may not slip in before one that already ran.
            if (migration.name < last_applied) {
                throw MigrationError("migration " + migration.name + " sorts before " +
                                     last_applied + ", which is already applied");
            }
        }
        for (const auto& migration : migrations) {
            if (applied.count(migration.name) != 0) continue;
            apply_migration(connection, migration, report.applied);
            report.applied.push_back(migration.name);
        }
        unlock();
        return report;
    } catch (...) {
        unlock();
        throw;
    }
}

std::string schema_behind_message(const std::string& missing) {
    return "the database schema lacks migration " + missing + ": run coalitionctl migrate";
}

std::optional<std::string> first_missing_migration(pqxx::connection& connection,
                                                   const std::vector<Migration>& migrations) {
    pqxx::read_transaction tx(connection);
    return first_missing_migration(tx, migrations);
}

std::optional<std::string> first_missing_migration(pqxx::transaction_base& tx,
                                                   const std::vector<Migration>& migrations) {
    std::set<std::string> applied;
    if (tx.exec1(kHasMigrationsTableSql)[0].as<bool>()) {
        for (const auto& row : tx.exec(kAppliedNamesSql)) applied.insert(row[0].as<std::string>());
    }
    for (const auto& migration : migrations) {
        if (applied.count(migration.name) == 0) return migration.name;
    }
    return std::nullopt;
}

}  // namespace coalition::storage
