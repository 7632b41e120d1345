#include "storage/migrator.hpp"

#include "tests/support/process.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace coalition::storage {
namespace {

namespace fs = std::filesystem;

// A scratch directory of migration files, removed afterwards.
class MigrationDir {
  public:
    MigrationDir() {
        path_ = fs::temp_directory_path() / ("coalition-migrations-" + std::to_string(getpid()) +
                                             "-" + std::to_string(counter_++));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~MigrationDir() { fs::remove_all(path_); }
    void write(const std::string& name, const std::string& sql) const {
        std::ofstream(path_ / name, std::ios::binary) << sql;
    }
    std::string path() const { return path_.string(); }

  private:
    static inline int counter_ = 0;
    fs::path path_;
};

TEST(MigrationChecksum, IsSha256HexOfTheBytes) {
    const Migration migration{"0001_a.sql", "abc"};
    EXPECT_EQ(migration_checksum(migration),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(migration_checksum(migration), migration_checksum(Migration{"0002_b.sql", "abc"}));
}

TEST(MigrationChecksum, ChangesWithOneByte) {
    const Migration a{"0001_a.sql", "CREATE TABLE t (x int);\n"};
    const Migration b{"0001_a.sql", "CREATE TABLE t (x int); \n"};
    const Migration c{"0001_a.sql", "CREATE TABLE t (x int);\r\n"};
    EXPECT_NE(migration_checksum(a), migration_checksum(b));
    EXPECT_NE(migration_checksum(a), migration_checksum(c));
    EXPECT_EQ(migration_checksum(a).size(), 64u);
}

TEST(EmbeddedMigrations, MatchTheFilesByteForByte) {
    const auto embedded = embedded_migrations();
    const auto files = load_migrations(testing::source_path("migrations"));
    ASSERT_FALSE(embedded.empty());
    ASSERT_EQ(embedded.size(), files.size());
    for (std::size_t i = 0; i < files.size(); ++i) {
        EXPECT_EQ(embedded[i].name, files[i].name);
        EXPECT_EQ(migration_checksum(embedded[i]), migration_checksum(files[i])) << files[i].name;
    }
    EXPECT_EQ(embedded[0].name, "0001_initial.sql");
}

TEST(LoadMigrations, SortsByNameAndIgnoresOtherFiles) {
    MigrationDir dir;
    dir.write("0010_later.sql", "SELECT 10;");
    dir.write("0002_second.sql", "SELECT 2;");
    dir.write("0001_first.sql", "SELECT 1;");
    dir.write("README.md", "not a migration");
    const auto migrations = load_migrations(dir.path());
    ASSERT_EQ(migrations.size(), 3u);
    EXPECT_EQ(migrations[0].name, "0001_first.sql");
    EXPECT_EQ(migrations[1].name, "0002_second.sql");
    EXPECT_EQ(migrations[2].name, "0010_later.sql");
    EXPECT_EQ(migrations[2].sql, "SELECT 10;");
}

TEST(LoadMigrations, EmptyDirectoryGivesNoMigrations) {
    MigrationDir dir;
    EXPECT_TRUE(load_migrations(dir.path()).empty());
}

TEST(LoadMigrations, RefusesBadNames) {
    for (const std::string bad :
         {"1_short.sql", "00001_five.sql", "0001-dash.sql", "0001_.sql", "0001_Upper.sql",
          "abcd_letters.sql", "0001_sp ace.sql", "0001.sql"}) {
        MigrationDir dir;
        dir.write("0001_good.sql", "SELECT 1;");
        dir.write(bad, "SELECT 2;");
        try {
            load_migrations(dir.path());
            ADD_FAILURE() << "accepted " << bad;
        } catch (const MigrationError& e) {
            EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
        }
    }
}

TEST(LoadMigrations, RefusesTwoFilesWithOneNumber) {
    MigrationDir dir;
    dir.write("0001_a.sql", "SELECT 1;");
    dir.write("0001_b.sql", "SELECT 2;");
    EXPECT_THROW(load_migrations(dir.path()), MigrationError);
}

TEST(LoadMigrations, MissingDirectoryIsAMigrationError) {
    EXPECT_THROW(load_migrations("/nonexistent/migrations"), MigrationError);
}

}  // namespace
}  // namespace coalition::storage
