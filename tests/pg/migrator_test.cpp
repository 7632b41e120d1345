#include "storage/migrator.hpp"

#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <chrono>
#include <set>
#include <string>
#include <thread>

namespace coalition::storage {
namespace {

using coalition::testing::TestDatabase;

std::int64_t count(pqxx::connection& connection, const std::string& sql) {
    pqxx::nontransaction tx(connection);
    return tx.exec(sql)[0][0].as<std::int64_t>();
}

bool table_exists(pqxx::connection& connection, const std::string& table) {
    pqxx::nontransaction tx(connection);
    return !tx.exec_params("SELECT to_regclass($1)", table)[0][0].is_null();
}

std::int64_t advisory_locks_held(pqxx::connection& connection) {
    // Only this database's locks: other suites migrate their own databases in parallel.
    return count(connection,
                 "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                 "(SELECT oid FROM pg_database WHERE datname = current_database())");
}

std::vector<std::string> names_of(const std::vector<Migration>& migrations) {
    std::vector<std::string> out;
    for (const auto& migration : migrations) out.push_back(migration.name);
    return out;
}

TEST(Migrator, EmptyDatabaseGetsEveryMigration) {
    TestDatabase db("migrator_empty", /*migrated=*/false);
    pqxx::connection connection(db.conninfo());
    const auto migrations = embedded_migrations();
    const auto report = migrate(connection, migrations);
    EXPECT_EQ(report.applied, names_of(migrations));
    EXPECT_TRUE(report.already_applied.empty());
    EXPECT_EQ(count(connection, "SELECT count(*) FROM schema_migrations"),
              static_cast<std::int64_t>(migrations.size()));
    for (const auto& table :
         {"program_settings", "partners", "partner_secrets", "api_tokens", "members", "claims",
          "lots", "slices", "lot_expiries", "settlement_runs", "settlement_statements"}) {
        EXPECT_TRUE(table_exists(connection, table)) << table;
    }
    {
        pqxx::nontransaction tx(connection);
        const auto row = tx.exec_params1("SELECT checksum FROM schema_migrations WHERE name = $1",
                                         migrations[0].name);
        EXPECT_EQ(row[0].as<std::string>(), migration_checksum(migrations[0]));
    }
    EXPECT_EQ(advisory_locks_held(connection), 0);
}

TEST(Migrator, RerunIsANoOp) {
    TestDatabase db("migrator_rerun", /*migrated=*/false);
    pqxx::connection connection(db.conninfo());
    const auto migrations = embedded_migrations();
    migrate(connection, migrations);
    const auto before = count(connection, "SELECT count(*) FROM program_settings");
    const auto report = migrate(connection, migrations);
    EXPECT_TRUE(report.applied.empty());
    EXPECT_EQ(report.already_applied, names_of(migrations));
    EXPECT_EQ(count(connection, "SELECT count(*) FROM program_settings"), before);
    EXPECT_EQ(count(connection, "SELECT count(*) FROM schema_migrations"),
              static_cast<std::int64_t>(migrations.size()));
}

TEST(Migrator, AppliesOnlyTheNewOnes) {
    TestDatabase db("migrator_new", /*migrated=*/false);
    pqxx::connection connection(db.conninfo());
    const Migration first{"0001_a.sql", "CREATE TABLE a (x int);"};
    const Migration second{"0002_b.sql", "CREATE TABLE b (x int);"};
    migrate(connection, {first});
    const auto report = migrate(connection, {first, second});
    EXPECT_EQ(report.applied, std::vector<std::string>{"0002_b.sql"});
    EXPECT_EQ(report.already_applied, std::vector<std::string>{"0001_a.sql"});
    EXPECT_TRUE(table_exists(connection, "b"));
}

TEST(Migrator, ChangedAppliedFileIsRefusedAndChangesNothing) {
    TestDatabase db("migrator_changed", /*migrated=*/false);
    pqxx::connection connection(db.conninfo());
    migrate(connection, {{"0001_a.sql", "CREATE TABLE a (x int);"}});
    const std::vector<Migration> edited = {{"0001_a.sql", "CREATE TABLE a (x bigint);"},
                                           {"0002_b.sql", "CREATE TABLE b (x int);"}};
    try {
        migrate(connection, edited);
        FAIL() << "an edited migration was accepted";
    } catch (const MigrationError& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("0001_a.sql"), std::string::npos) << message;
        EXPECT_EQ(message.find('\n'), std::string::npos);
    }
    EXPECT_FALSE(table_exists(connection, "b"));
    EXPECT_EQ(count(connection, "SELECT count(*) FROM schema_migrations"), 1);
    EXPECT_EQ(advisory_locks_held(connection), 0);
}

TEST(Migrator, RecordedMigrationMissingFromTheListIsRefused) {
    TestDatabase db("migrator_missing", /*migrated=*/false);
    pqxx::connection connection(db.conninfo());
    const Migration first{"0001_a.sql", "CREATE TABLE a (x int);"};
    migrate(connection, {first, {"0002_b.sql", "CREATE TABLE b (x int);"}});
    try {
        migrate(connection, {first});
        FAIL() << "a list missing an applied migration was accepted";
    } catch (const MigrationError& e) {
        EXPECT_NE(std::string(e.what()).find("0002_b.sql"), std::string::npos) << e.what();
    }
    EXPECT_EQ(advisory_locks_held(connection), 0);
}

TEST(Migrator, NewFileBeforeAnAppliedOneIsRefused) {
    TestDatabase db("migrator_order", /*migrated=*/false);
    pqxx::connection connection(db.conninfo());
    const Migration first{"0001_a.sql", "CREATE TABLE a (x int);"};
    const Migration third{"0003_c.sql", "CREATE TABLE c (x int);"};
    migrate(connection, {first, third});
    EXPECT_THROW(migrate(connection, {first, {"0002_b.sql", "CREATE TABLE b (x int);"}, third}),
                 MigrationError);
    EXPECT_FALSE(table_exists(connection, "b"));
}

TEST(Migrator, UnsortedListIsRefused) {
    TestDatabase db("migrator_unsorted", /*migrated=*/false);
    pqxx::connection connection(db.conninfo());
    EXPECT_THROW(migrate(connection, {{"0002_b.sql", "SELECT 1;"}, {"0001_a.sql", "SELECT 1;"}}),
                 MigrationError);
    EXPECT_THROW(migrate(connection, {{"first.sql", "SELECT 1;"}}), MigrationError);
}

TEST(Migrator, FailingMigrationRollsBackItselfOnly) {
    TestDatabase db("migrator_failing", /*migrated=*/false);
    pqxx::connection connection(db.conninfo());
    const std::vector<Migration> migrations = {
        {"0001_a.sql", "CREATE TABLE a (x int);"},
        {"0002_b.sql", "CREATE TABLE b (x int); SELECT no_such_function();"},
    };
    // The error names the file that failed and what the run committed before it.
    try {
        migrate(connection, migrations);
        ADD_FAILURE() << "the failing migration was applied";
    } catch (const MigrationError& e) {
        EXPECT_EQ(std::string(e.what()).rfind("migration 0002_b.sql failed and was rolled back "
                                              "(applied by this run before it: 0001_a.sql): ",
                                              0),
                  0u)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("no_such_function"), std::string::npos);
    }
    EXPECT_TRUE(table_exists(connection, "a"));
    EXPECT_FALSE(table_exists(connection, "b"));
    EXPECT_EQ(count(connection, "SELECT count(*) FROM schema_migrations"), 1);
    EXPECT_EQ(advisory_locks_held(connection), 0);
    // Fixing the failed (never recorded) file lets the run finish.
    const auto report = migrate(connection, {migrations[0], {"0002_b.sql", "CREATE TABLE b ();"}});
    EXPECT_EQ(report.applied, std::vector<std::string>{"0002_b.sql"});
}

TEST(Migrator, ConcurrentRunsApplyEachMigrationOnce) {
    TestDatabase db("migrator_concurrent", /*migrated=*/false);
    auto migrations = embedded_migrations();
    // A slow last step widens the window in which the two runs overlap.
    migrations.push_back({"9999_slow.sql", "SELECT pg_sleep(0.3); CREATE TABLE slow (x int);"});
    MigrationReport reports[2];
    std::string errors[2];
    {
        std::vector<std::thread> threads;
        for (int i = 0; i < 2; ++i) {
            threads.emplace_back([&, i] {
                try {
                    pqxx::connection connection(db.conninfo());
                    reports[i] = migrate(connection, migrations);
                } catch (const std::exception& e) {
                    errors[i] = e.what();
                }
            });
        }
        for (auto& thread : threads) thread.join();
    }
    EXPECT_EQ(errors[0], "");
    EXPECT_EQ(errors[1], "");
    std::multiset<std::string> applied;
    for (const auto& report : reports) applied.insert(report.applied.begin(), report.applied.end());
    const auto names = names_of(migrations);
    EXPECT_EQ(applied, std::multiset<std::string>(names.begin(), names.end()));
    pqxx::connection connection(db.conninfo());
    EXPECT_EQ(count(connection, "SELECT count(*) FROM schema_migrations"),
              static_cast<std::int64_t>(migrations.size()));
    EXPECT_EQ(count(connection, "SELECT count(*) FROM program_settings"), 1);
    EXPECT_EQ(advisory_locks_held(connection), 0);
}

// Spot checks that the schema itself keeps its invariants, whoever writes to it.
class SchemaInvariants : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        db_ = new TestDatabase("schema_invariants");
        pqxx::connection connection(db_->conninfo());
        pqxx::work tx(connection);
        tx.exec("INSERT INTO partners (id, name) VALUES ('grocer', 'Grocer'), ('fuel', 'Fuel')");
        tx.exec("INSERT INTO members (id, enrolled_by) VALUES ('M-1', 'grocer')");
        tx.exec(
            "INSERT INTO claims (partner_id, webhook_id, request_sha256, type, member_id, points,"
            " accepted_at, settlement_date, settings_version, response_status, response_body)"
            " VALUES ('grocer', 'c-1', sha256('x'), 'earn', 'M-1', 100, now(), current_date, 1,"
            " 201, '{}')");
        tx.commit();
    }
    static void TearDownTestSuite() {
        delete db_;
        db_ = nullptr;
    }

    // Runs one statement in its own transaction and rethrows what PostgreSQL said.
    static void exec(const std::string& sql) {
        pqxx::connection connection(db_->conninfo());
        pqxx::work tx(connection);
        tx.exec(sql);
        tx.commit();
    }

    static inline TestDatabase* db_ = nullptr;
};

// A closed date's statements (migration 0013): the close stores its run and its statements in
// one transaction; once that has committed, no statement row can be added for the date.
TEST_F(SchemaInvariants, AClosedDateTakesNoFurtherStatement) {
    const auto statement = [](const char* date, const char* partner) {
        return "(DATE '" + std::string(date) + "', '" + partner + "', 0, '{}')";
    };
    const std::string insert_statements =
        "INSERT INTO settlement_statements (settlement_date, partner_id, net_minor, statement) "
        "VALUES ";
    // As the close does it: the run, then its statements, in one transaction.
    {
        pqxx::connection connection(db_->conninfo());
        pqxx::work tx(connection);
        tx.exec(
            "INSERT INTO settlement_runs (settlement_date, settings_version, currency, run,"
            " run_sha256) VALUES (DATE '2020-01-01', 1, 'EUR', '{}', sha256('r'))");
        tx.exec(insert_statements + statement("2020-01-01", "grocer"));
        tx.commit();
    }
    pqxx::connection reader(db_->conninfo());
    ASSERT_EQ(count(reader, "SELECT count(*) FROM settlement_statements"), 1);
    EXPECT_THROW(exec(insert_statements + statement("2020-01-01", "fuel")),
                 pqxx::restrict_violation);
    // Nor by the close of another date, among its own rows.
    {
        pqxx::connection connection(db_->conninfo());
        pqxx::work tx(connection);
        tx.exec(
            "INSERT INTO settlement_runs (settlement_date, settings_version, currency, run,"
            " run_sha256) VALUES (DATE '2020-01-02', 1, 'EUR', '{}', sha256('s'))");
        EXPECT_THROW(tx.exec(insert_statements + statement("2020-01-02", "grocer") + ", " +
                             statement("2020-01-01", "fuel")),
                     pqxx::restrict_violation);
    }
    EXPECT_EQ(count(reader, "SELECT count(*) FROM settlement_statements"), 1);
}

// A lot's origin (migration 0013): bookings change what it holds and whether it is reversed,
// never who issued it, for what, for how much, at what fee or on which date; and a reversed lot
// stays reversed by its claim.
TEST_F(SchemaInvariants, ALotsOriginNeverChanges) {
    exec(
        "INSERT INTO claims (partner_id, webhook_id, request_sha256, type, member_id, points,"
        " accepted_at, settlement_date, settings_version, response_status, response_body)"
        " SELECT 'grocer', 'c-o' || n, sha256('o'), 'earn', 'M-1', 10, now(), current_date, 1,"
        " 201, '{}' FROM generate_series(1, 3) AS n");
    exec(
        "INSERT INTO lots (member_id, issuer_id, claim_id, points_issued, points_remaining,"
        " fee_micros, accepted_at, settlement_date, expires_on)"
        " SELECT 'M-1', 'grocer', id, 10, 10, 500, now(), current_date, current_date + 30"
        " FROM claims WHERE webhook_id = 'c-o1'");
    pqxx::connection reader(db_->conninfo());
    const auto lot = [&reader]() {
        pqxx::nontransaction tx(reader);
        const auto row = tx.exec1(
            "SELECT concat_ws(' ', l.issuer_id, l.points_issued, l.debt_repaid,"
            " l.points_remaining, l.fee_micros, l.settlement_date - current_date,"
            " l.reversed_by_claim_id IS NULL)"
            " FROM lots l JOIN claims c ON c.id = l.claim_id WHERE c.webhook_id = 'c-o1'");
        return row[0].as<std::string>();
    };
    const std::string where = " WHERE claim_id = (SELECT id FROM claims WHERE webhook_id = 'c-o1')";
    ASSERT_EQ(lot(), "grocer 10 0 10 500 0 t");
    for (const std::string change :
         {"issuer_id = 'fuel'", "points_issued = 20", "debt_repaid = 1", "fee_micros = 0",
          "accepted_at = accepted_at - interval '1 day'", "settlement_date = settlement_date - 1",
          "claim_id = (SELECT id FROM claims WHERE webhook_id = 'c-o2')",
          "reissued_from_lot_id = id", "points_remaining = 5, fee_micros = 501"}) {
        EXPECT_THROW(exec("UPDATE lots SET " + change + where), pqxx::restrict_violation) << change;
    }
    EXPECT_EQ(lot(), "grocer 10 0 10 500 0 t");
    // What bookings do is allowed, naming a column with its own value too.
    exec("UPDATE lots SET points_remaining = 4, fee_micros = fee_micros" + where);
    exec(
        "UPDATE lots SET points_remaining = 0, reversed_by_claim_id = "
        "(SELECT id FROM claims WHERE webhook_id = 'c-o2')" +
        where);
    EXPECT_EQ(lot(), "grocer 10 0 0 500 0 f");
    exec("UPDATE lots SET reversed_by_claim_id = reversed_by_claim_id" + where);
    for (const std::string change :
         {"reversed_by_claim_id = NULL",
          "reversed_by_claim_id = (SELECT id FROM claims WHERE webhook_id = 'c-o3')"}) {
        EXPECT_THROW(exec("UPDATE lots SET " + change + where), pqxx::restrict_violation) << change;
    }
    EXPECT_EQ(lot(), "grocer 10 0 0 500 0 f");
}

TEST_F(SchemaInvariants, PointsMustBePositive) {
    EXPECT_THROW(
        exec("INSERT INTO claims (partner_id, webhook_id, request_sha256, type, member_id, points,"
             " accepted_at, settlement_date, settings_version, response_status, response_body)"
             " VALUES ('grocer', 'c-2', sha256('y'), 'earn', 'M-1', 0, now(), current_date, 1,"
             " 201, '{}')"),
        pqxx::check_violation);
    EXPECT_THROW(exec("INSERT INTO program_settings (currency, point_value, issue_fee,"
                      " validity_months, timezone) VALUES ('EUR', 0, 0, 36, 'UTC')"),
                 pqxx::check_violation);
}

TEST_F(SchemaInvariants, ClaimsAreAppendOnly) {
    EXPECT_THROW(exec("UPDATE claims SET points = 1"), pqxx::restrict_violation);
    EXPECT_THROW(exec("DELETE FROM claims"), pqxx::restrict_violation);
    EXPECT_THROW(exec("UPDATE program_settings SET point_value = 1"), pqxx::restrict_violation);
}

TEST_F(SchemaInvariants, ClaimIdIsUniquePerPartner) {
    EXPECT_THROW(
        exec("INSERT INTO claims (partner_id, webhook_id, request_sha256, type, member_id, points,"
             " accepted_at, settlement_date, settings_version, response_status, response_body)"
             " VALUES ('grocer', 'c-1', sha256('z'), 'earn', 'M-1', 5, now(), current_date, 1,"
             " 201, '{}')"),
        pqxx::unique_violation);
}

TEST_F(SchemaInvariants, LotRemainingCannotExceedIssued) {
    // The column naming the lot's claim is looked up, so this spot check does not pin its name.
    std::string claim_column;
    {
        pqxx::connection connection(db_->conninfo());
        pqxx::nontransaction tx(connection);
        claim_column =
            tx.exec(
                  "SELECT column_name FROM information_schema.columns WHERE"
                  " table_name = 'lots' AND column_name IN ('claim_id', 'earn_claim_id')")[0][0]
                .as<std::string>();
    }
    const auto lot = [&](const std::string& remaining) {
        return "INSERT INTO lots (member_id, issuer_id, " + claim_column +
               ", points_issued, points_remaining, fee_micros, accepted_at, settlement_date,"
               " expires_on) SELECT 'M-1', 'grocer', id, 100, " +
               remaining +
               ", 0, now(), current_date, current_date + 30 FROM claims WHERE webhook_id = 'c-1'";
    };
    EXPECT_THROW(exec(lot("101")), pqxx::check_violation);
    EXPECT_THROW(exec(lot("-1")), pqxx::check_violation);
    EXPECT_NO_THROW(exec(lot("100")));
}

// Burns update points_remaining; as long as no index of lots holds it (as a key or in a
// predicate), an update that leaves the lot open can be HOT and writes no index entry
// (migration 0004). The partial indexes test the generated is_open instead.
TEST_F(SchemaInvariants, NoIndexOfLotsHoldsPointsRemaining) {
    pqxx::connection connection(db_->conninfo());
    pqxx::nontransaction tx(connection);
    const auto indexes = tx.exec(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = 'lots'::regclass");
    ASSERT_GE(indexes.size(), 5u);
    for (const auto& index : indexes) {
        EXPECT_EQ(index[1].as<std::string>().find("points_remaining"), std::string::npos)
            << index[0].as<std::string>();
    }
    EXPECT_TRUE(
        tx.exec1("SELECT pg_get_indexdef('lots_open_fifo'::regclass) LIKE '%WHERE is_open'")[0]
            .as<bool>());
}

// The identifier rules at their edges: 1..64 characters of [A-Za-z0-9._-] for an entity_id,
// 1..128 printable ASCII characters (0x20-0x7E) for a webhook id (migration 0005 rewrote both
// checks; 0009 admitted the space).
TEST_F(SchemaInvariants, IdentifierShapesHoldAtTheirEdges) {
    pqxx::connection reader(db_->conninfo());
    const auto rows = [&reader](const std::string& table) {
        return count(reader, "SELECT count(*) FROM " + table);
    };
    const auto partner = [](const std::string& id) {
        return "INSERT INTO partners (id, name) VALUES ('" + id + "', 'x')";
    };
    EXPECT_NO_THROW(exec(partner(std::string(64, 'p'))));
    EXPECT_NO_THROW(exec(partner("a.B_9-z")));
    const auto partners_stored = rows("partners");
    for (const std::string& bad : {std::string(65, 'q'), std::string(), std::string("caf\xc3\xa9"),
                                   std::string("a b"), std::string("a/b"), std::string("a\nb")}) {
        EXPECT_THROW(exec(partner(bad)), pqxx::check_violation) << bad;
    }
    EXPECT_EQ(rows("partners"), partners_stored);
    const auto claim = [](const std::string& webhook_id) {
        return "INSERT INTO claims (partner_id, webhook_id, request_sha256, type, member_id,"
               " points, accepted_at, settlement_date, settings_version, response_status,"
               " response_body) VALUES ('grocer', " +
               webhook_id + ", sha256('w'), 'earn', 'M-1', 1, now(), current_date, 1, 201, '{}')";
    };
    EXPECT_NO_THROW(exec(claim("'" + std::string(128, 'w') + "'")));
    EXPECT_NO_THROW(exec(claim("'!~'")));
    // The space is printable (migration 0009).
    EXPECT_NO_THROW(exec(claim("'till 7 / receipt 1'")));
    // Added NOT VALID by 0009 (no table scan under an exclusive lock), validated by 0011.
    EXPECT_EQ(count(reader,
                    "SELECT count(*) FROM pg_constraint WHERE conname = "
                    "'claims_webhook_id_printable_ascii' AND convalidated"),
              1);
    const auto claims_stored = rows("claims");
    for (const std::string& bad :
         {"'" + std::string(129, 'v') + "'", std::string("''"), std::string("E'a\\tb'"),
          std::string("E'a\\x7f'"), std::string("E'a\\x1fb'"), std::string("'caf\xc3\xa9'")}) {
        EXPECT_THROW(exec(claim(bad)), pqxx::check_violation) << bad;
    }
    EXPECT_EQ(rows("claims"), claims_stored);
}

// A counted repetition ({1,64}) in a regex makes PostgreSQL build one automaton state per count
// on every match, ten times the cost of the same rule written with '+' and length(): the checks
// that run on every booked row must not use one (migration 0005).
TEST_F(SchemaInvariants, NoCheckOnABookedRowUsesACountedRepetition) {
    pqxx::connection connection(db_->conninfo());
    pqxx::nontransaction tx(connection);
    const auto checks = tx.exec(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c' AND"
        " (contypid = 'entity_id'::regtype OR conrelid IN ('claims'::regclass, 'lots'::regclass,"
        " 'slices'::regclass, 'members'::regclass, 'lot_expiries'::regclass))");
    ASSERT_GE(checks.size(), 10u);
    for (const auto& check : checks) {
        EXPECT_EQ(check[1].as<std::string>().find('{'), std::string::npos)
            << check[0].as<std::string>();
    }
}

// "Reversed at most once" holds for claims, lots and slices through unique indexes over the rows
// that name a reversal only: the NULLs every other row holds there never conflict, and indexing
// them cost each booked row an index insertion (migration 0006).
TEST_F(SchemaInvariants, ReversedAtMostOnceIndexesOnlyTheRowsThatReverse) {
    pqxx::connection connection(db_->conninfo());
    {
        pqxx::nontransaction tx(connection);
        for (const auto& [table, column] : {std::pair{"claims", "reverses_claim_id"},
                                            std::pair{"lots", "reversed_by_claim_id"},
                                            std::pair{"slices", "reverses_slice_id"}}) {
            // Every index led by that column: one, unique, over the rows where it is set. The
            // lots' has a second column since migration 0016: 0 for an earn's own lot, so a
            // claim still reverses one, and the id of each lot restoring it.
            const auto indexes = tx.exec_params(
                "SELECT i.indisunique, pg_get_expr(i.indpred, i.indrelid), i.indnatts, "
                "  coalesce(pg_get_expr(i.indexprs, i.indrelid), '') FROM pg_index i "
                "WHERE i.indrelid = $1::regclass AND i.indkey[0] = "
                "(SELECT attnum FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2)",
                table, column);
            ASSERT_EQ(indexes.size(), 1u) << table;
            EXPECT_TRUE(indexes[0][0].as<bool>()) << table;
            EXPECT_EQ(indexes[0][1].c_str(), std::string("(") + column + " IS NOT NULL)") << table;
            const bool lots = std::string(table) == "lots";
            EXPECT_EQ(indexes[0][2].as<int>(), lots ? 2 : 1) << table;
            const std::string expression = indexes[0][3].c_str();
            EXPECT_EQ(expression.find("WHEN (restores_lot_id IS NULL) THEN (0)::bigint") !=
                          std::string::npos,
                      lots)
                << table << ": " << expression;
        }
    }
    const auto reversal = [](const std::string& webhook_id) {
        return "INSERT INTO claims (partner_id, webhook_id, request_sha256, type, member_id,"
               " points, reverses_claim_id, reverses_type, accepted_at, settlement_date,"
               " settings_version, response_status, response_body) SELECT 'grocer', '" +
               webhook_id +
               "', sha256('r'), 'reversal', 'M-1', 100, id, 'earn', now(), current_date, 1, 201,"
               " '{}' FROM claims WHERE partner_id = 'grocer' AND webhook_id = 'c-1';";
    };
    // Two reversals of one claim in one transaction: refused, and neither is stored.
    EXPECT_THROW(exec(reversal("rev-1") + reversal("rev-2")), pqxx::unique_violation);
    EXPECT_EQ(count(connection, "SELECT count(*) FROM claims WHERE type = 'reversal'"), 0);
}

// member_points (migration 0007) is the sum of the lots per member and expiry date, kept by
// the triggers on lots in the statement that changes them; nothing else may write it, and a
// lot never moves to another member or date (a total would then be left behind).
TEST_F(SchemaInvariants, MemberPointsFollowTheLotsAndNothingElse) {
    exec("INSERT INTO members (id, enrolled_by) VALUES ('M-P', 'grocer')");
    exec(
        "INSERT INTO claims (partner_id, webhook_id, request_sha256, type, member_id, points,"
        " accepted_at, settlement_date, settings_version, response_status, response_body)"
        " SELECT 'grocer', 'c-p' || p, sha256('p'), 'earn', 'M-P', p, now(), current_date, 1,"
        " 201, '{}' FROM (VALUES (100), (50), (30)) AS e(p)");
    pqxx::connection reader(db_->conninfo());
    const auto totals = [&reader]() {
        pqxx::nontransaction tx(reader);
        std::string out;
        for (const auto& row : tx.exec("SELECT expires_on - current_date, points FROM "
                                       "member_points WHERE member_id = 'M-P' ORDER BY 1")) {
            out += row[0].as<std::string>() + ":" + row[1].as<std::string>() + " ";
        }
        return out;
    };
    // Three lots in one statement (one for each earn), two of them on one date.
    exec(
        "INSERT INTO lots (member_id, issuer_id, claim_id, points_issued, points_remaining,"
        " fee_micros, accepted_at, settlement_date, expires_on)"
        " SELECT 'M-P', 'grocer', c.id, p, p, 0, now(), current_date, current_date + d"
        " FROM (VALUES (100, 30), (50, 30), (30, 61)) AS l(p, d)"
        " JOIN claims c ON c.webhook_id = 'c-p' || p");
    EXPECT_EQ(totals(), "30:150 61:30 ");
    // One statement takes from all three: each date's total moves by what its lots lost.
    exec("UPDATE lots SET points_remaining = points_remaining - 20 WHERE member_id = 'M-P'");
    EXPECT_EQ(totals(), "30:110 61:10 ");

    for (const char* refused :
         {"UPDATE lots SET member_id = 'M-1' WHERE member_id = 'M-P'",
          "UPDATE lots SET expires_on = expires_on + 31 WHERE member_id = 'M-P'",
          "INSERT INTO member_points VALUES ('M-P', current_date + 92, 5)",
          "UPDATE member_points SET points = points + 1 WHERE member_id = 'M-P'",
          "DELETE FROM member_points WHERE member_id = 'M-P'", "TRUNCATE member_points"}) {
        EXPECT_THROW(exec(refused), pqxx::restrict_violation) << refused;
    }
    EXPECT_EQ(totals(), "30:110 61:10 ");
    EXPECT_EQ(count(reader,
                    "SELECT count(*) FROM lots WHERE member_id = 'M-P' AND "
                    "expires_on - current_date IN (30, 61)"),
              3);
}

TEST_F(SchemaInvariants, BadIdentifiersAndSecretsAreRefused) {
    EXPECT_THROW(exec("INSERT INTO partners (id, name) VALUES ('a b', 'x')"),
                 pqxx::check_violation);
    EXPECT_THROW(exec("INSERT INTO partner_secrets (partner_id, secret) VALUES ('fuel', 'plain')"),
                 pqxx::check_violation);
    EXPECT_THROW(
        exec("INSERT INTO api_tokens (token_sha256, role) VALUES (sha256('t'), 'partner')"),
        pqxx::check_violation);
}

// Servers keep booking while an operator migrates. A migration that builds an index on a table
// (SHARE) and then alters it (ACCESS EXCLUSIVE) deadlocked with a booking that had read that
// table and then wrote it (found by review, on migration 0016 under load): PostgreSQL failed
// the migration. Now it locks the schema's tables before its first statement, waiting for the
// booking (or, where the booking wants a table it holds already, giving way and trying again),
// and both succeed. `writes` is the booking's second step: the table it read, then another.
TEST(Migrator, AMigrationAndARunningBookingBothSucceed) {
    for (const std::string writes : {"lots", "claims"}) {
        SCOPED_TRACE("the booking reads lots, then writes " + writes);
        TestDatabase db("migrator_booking_" + writes, /*migrated=*/true);
        auto migrations = embedded_migrations();
        migrations.push_back({"9999_index_then_alter.sql",
                              "CREATE INDEX lots_test_index ON lots (id);"
                              "ALTER TABLE lots ADD CONSTRAINT lots_test_check CHECK (id > 0);"});
        pqxx::connection booking_connection(db.conninfo());
        pqxx::work booking(booking_connection);
        booking.exec("SELECT count(*) FROM lots");  // ACCESS SHARE on lots, held to the end
        std::string migrate_error;
        std::thread migrating([&] {
            try {
                pqxx::connection connection(db.conninfo());
                migrate(connection, migrations);
            } catch (const std::exception& e) {
                migrate_error = e.what();
            }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the migration waits
        std::string booking_error;
        try {
            booking.exec("LOCK TABLE " + writes + " IN ROW EXCLUSIVE MODE");  // as an INSERT
            booking.commit();
        } catch (const std::exception& e) {
            booking_error = e.what();
        }
        migrating.join();
        EXPECT_EQ(booking_error, "");
        EXPECT_EQ(migrate_error, "");
        pqxx::connection connection(db.conninfo());
        EXPECT_EQ(count(connection,
                        "SELECT count(*) FROM schema_migrations "
                        "WHERE name = '9999_index_then_alter.sql'"),
                  1);
        EXPECT_EQ(advisory_locks_held(connection), 0);
    }
}

// A migration whose connection is lost is named, with what the run applied before it, as any
// failed migration (found by review: libpqxx 6 does not count a lost connection, a deadlock or
// a serialization failure as an sql_error, and PostgreSQL's bare message named no migration).
TEST(Migrator, AMigrationThatLosesItsConnectionIsNamed) {
    TestDatabase db("migrator_connection_lost", /*migrated=*/true);
    auto migrations = embedded_migrations();
    migrations.push_back(
        {"9999_killed.sql", "SELECT pg_terminate_backend(pg_backend_pid()); CREATE TABLE k ();"});
    pqxx::connection connection(db.conninfo());
    try {
        migrate(connection, migrations);
        ADD_FAILURE() << "the killed migration was applied";
    } catch (const MigrationError& e) {
        EXPECT_EQ(std::string(e.what()).rfind("migration 9999_killed.sql failed and was rolled "
                                              "back (nothing applied by this run): connection "
                                              "lost: ",
                                              0),
                  0u)
            << e.what();
    }
    pqxx::connection after(db.conninfo());
    EXPECT_FALSE(table_exists(after, "k"));
    EXPECT_EQ(count(after, "SELECT count(*) FROM schema_migrations WHERE name = '9999_killed.sql'"),
              0);
}

}  // namespace
}  // namespace coalition::storage
