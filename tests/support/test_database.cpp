#include "tests/support/test_database.hpp"

#include "storage/database.hpp"
#include "storage/migrator.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace coalition::testing {
namespace {

std::atomic<int> database_counter{0};

std::string sanitize(const std::string& label) {
    std::string out;
    for (char c : label) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        out.push_back(ok ? c : (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : '_');
    }
    return out.substr(0, 40);
}

void run_pgctl(const std::string& verb) {
    const char* command = std::getenv("COALITION_TEST_PGCTL");
    if (command == nullptr) throw std::runtime_error("COALITION_TEST_PGCTL is not set: run ./scripts/test");
    const std::string line = std::string(command) + " " + verb + " >/dev/null 2>&1";
    if (std::system(line.c_str()) != 0) throw std::runtime_error("failed: " + line);
}

}  // namespace

std::string test_cluster_conninfo() {
    const char* value = std::getenv("COALITION_TEST_DB");
    if (value == nullptr || *value == '\0') {
        throw std::runtime_error("COALITION_TEST_DB is not set: run the pg and e2e tiers through ./scripts/test");
    }
    return value;
}

TestDatabase::TestDatabase(const std::string& label, bool migrated) {
    const std::string cluster = test_cluster_conninfo();
    name_ = "t_" + sanitize(label) + "_" + std::to_string(getpid()) + "_" +
            std::to_string(database_counter++);
    {
        pqxx::connection admin(cluster);
        pqxx::nontransaction tx(admin);
        tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
        tx.exec("CREATE DATABASE " + tx.quote_name(name_));
    }
    // libpq lets a later keyword override an earlier one, so this retargets the cluster string.
    conninfo_ = cluster + " dbname=" + name_;
    if (migrated) {
        pqxx::connection connection(conninfo_);
        storage::migrate(connection, storage::embedded_migrations());
    }
}

TestDatabase::~TestDatabase() {
    try {
        pqxx::connection admin(test_cluster_conninfo());
        pqxx::nontransaction tx(admin);
        tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    } catch (const std::exception& e) {
        ADD_FAILURE() << "could not drop test database " << name_ << ": " << e.what();
    }
}

bool TestDatabase::wait_until_a_session_waits_on_a_lock() const {
    return wait_until_a_session_matches("wait_event_type = 'Lock'");
}

bool TestDatabase::wait_until_a_session_sleeps() const {
    return wait_until_a_session_matches("wait_event = 'PgSleep'");
}

void TestDatabase::pause_inserts(const std::string& table, const std::string& when, double seconds,
                                 bool at_commit) const {
    pqxx::connection connection(conninfo_);
    pqxx::work tx(connection);
    const std::string name = "test_pause_" + table;
    tx.exec("CREATE FUNCTION " + name +
            "() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(" +
            std::to_string(seconds) + "); RETURN NULL; END $$");
    tx.exec(std::string("CREATE ") + (at_commit ? "CONSTRAINT " : "") + "TRIGGER " + name +
            " AFTER INSERT ON " + table + " " +
            (at_commit ? "DEFERRABLE INITIALLY DEFERRED " : "") + "FOR EACH ROW WHEN (" + when +
            ") EXECUTE FUNCTION " + name + "()");
    tx.commit();
}

bool TestDatabase::wait_until_a_session_matches(const std::string& condition) const {
    pqxx::connection watcher(conninfo_);
    for (int i = 0; i < 200; ++i) {
        pqxx::nontransaction watch(watcher);
        if (watch
                .exec1("SELECT count(*) FROM pg_stat_activity WHERE " + condition +
                       " AND datname = current_database()")[0]
                .as<int>() > 0) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
}

void stop_test_cluster() { run_pgctl("stop"); }
void start_test_cluster() { run_pgctl("start"); }

}  // namespace coalition::testing
