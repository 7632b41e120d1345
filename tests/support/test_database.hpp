#pragma once
// A fresh PostgreSQL database per test suite on the throw-away test cluster that scripts/test
// starts. COALITION_TEST_DB names that cluster (a libpq connection string to a database the test
// role can CREATE DATABASE from). A missing COALITION_TEST_DB fails the test: a pg test that
// silently skips would be a test that cannot fail.
#include <string>

namespace coalition::testing {

std::string test_cluster_conninfo();

class TestDatabase {
public:
    // Creates database t_<label>_<pid>_<n>; `migrated` applies migrations/ to it.
    explicit TestDatabase(const std::string& label, bool migrated = true);
    ~TestDatabase();  // DROP DATABASE ... WITH (FORCE)
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;

    const std::string& name() const { return name_; }
    const std::string& conninfo() const { return conninfo_; }

    // Returns once a session of this database waits on a lock; false after 5 s without one. For
    // tests that hold a lock to pause another transaction at a known step.
    bool wait_until_a_session_waits_on_a_lock() const;
    // Until some session of this database is in pg_sleep (up to 5 s).
    bool wait_until_a_session_sleeps() const;

    // Pauses every insert into `table` whose new row matches `when` (SQL over NEW) for
    // `seconds`, in pg_sleep: a transaction held at a known step without a lock wait, which a
    // lock timeout would cut short. `at_commit`: the pause comes at COMMIT (a deferred
    // constraint trigger). One such pause a table.
    void pause_inserts(const std::string& table, const std::string& when, double seconds,
                       bool at_commit = false) const;

  private:
    // Until some session of this database matches `condition` on pg_stat_activity (up to 5 s).
    bool wait_until_a_session_matches(const std::string& condition) const;

    std::string name_;
    std::string conninfo_;
};

// Runs `$COALITION_TEST_PGCTL stop|start` to stop or restart the test cluster (e2e fault tests).
void stop_test_cluster();
void start_test_cluster();

}  // namespace coalition::testing
