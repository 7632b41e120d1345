#include "storage/migrator.hpp"

#include "core/crypto.hpp"
#include "core/files.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
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

std::string failed_migration_message(const std::string& failed,
                                     const std::vector<std::string>& applied_before,
                                     const std::string& reason) {
    std::string message = "migration " + failed + " failed and was rolled back (";
    if (applied_before.empty()) {
        message += "nothing applied by this run";
    } else {
        message += "applied by this run before it:";
        for (const auto& name : applied_before) message += " " + name;
    }
    return message + "): " + reason;
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
            try {
                pqxx::work tx(connection);
                tx.exec(migration.sql);
                tx.exec_params(kRecordSql, migration.name, migration_checksum(migration));
                tx.commit();
            } catch (const pqxx::sql_error& e) {
                // The operator must learn which file failed and what this run did commit:
                // PostgreSQL's message names neither.
                throw MigrationError(
                    failed_migration_message(migration.name, report.applied, e.what()));
            }
            report.applied.push_back(migration.name);
        }
        unlock();
        return report;
    } catch (...) {
        unlock();
        throw;
    }
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
