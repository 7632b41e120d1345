// Placeholder until the migrator lands.
#include "storage/migrator.hpp"
namespace coalition::storage {
std::vector<Migration> load_migrations(const std::string&) { throw MigrationError("not implemented"); }
std::string migration_checksum(const Migration&) { throw MigrationError("not implemented"); }
MigrationReport migrate(pqxx::connection&, const std::vector<Migration>&) { throw MigrationError("not implemented"); }
}
