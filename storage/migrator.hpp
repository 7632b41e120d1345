#pragma once
// Forward-only schema migrations: migrations/NNNN_name.sql applied in name order, once each,
// each in its own transaction together with its record (name + SHA-256 checksum) in
// schema_migrations. A session advisory lock serialises concurrent runs. An applied file whose
// checksum changed is refused: landed migrations are never edited.
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

// pqxx 6 makes connection a typedef of a template, so it cannot be forward-declared.
#include <pqxx/connection>

namespace pqxx {
class transaction_base;
}

namespace coalition::storage {

struct Migration {
    std::string name;  // file name, e.g. "0001_initial.sql"
    std::string sql;
};

class MigrationError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The files of migrations/, compiled into the binaries at build time, sorted by name.
std::vector<Migration> embedded_migrations();
// The *.sql files of a directory, sorted by name; throws MigrationError on a bad file name.
std::vector<Migration> load_migrations(const std::string& directory);

std::string migration_checksum(const Migration& migration);

struct MigrationReport {
    std::vector<std::string> applied;          // applied by this run, in order
    std::vector<std::string> already_applied;  // found applied with a matching checksum
};

// Throws MigrationError (changed checksum, a recorded migration missing from the list, bad
// order; a migration that failed, named, its transaction rolled back, or its commit's outcome
// unknown), or a pqxx error from reading what was applied before any migration ran. Each
// migration locks the schema's tables first; a lock or deadlock it loses is tried again.
MigrationReport migrate(pqxx::connection& connection, const std::vector<Migration>& migrations);

// The first of `migrations` the database has not applied (every one if it has none), or
// nullopt when its schema has them all. Read-only: for a server and a coalitionctl that must
// not work on a schema older than their code (the server's /readyz says so, and its claims are
// answered 503).
std::optional<std::string> first_missing_migration(pqxx::connection& connection,
                                                   const std::vector<Migration>& migrations);
std::optional<std::string> first_missing_migration(pqxx::transaction_base& tx,
                                                   const std::vector<Migration>& migrations);
// How the server and coalitionctl refuse to work on a schema that lacks `missing`.
std::string schema_behind_message(const std::string& missing);

}  // namespace coalition::storage
