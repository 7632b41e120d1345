// The real coalitionctl binary against a fresh database: what it prints, how it exits, and that a
// refused command leaves the database exactly as it was.
#include "partners/credentials.hpp"

#include "storage/migrator.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace coalition {
namespace {

using testing::CommandResult;
using testing::EnvOverrides;
using testing::TestDatabase;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

class Coalitionctl : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { db_ = new TestDatabase("coalitionctl"); }
    static void TearDownTestSuite() {
        delete db_;
        db_ = nullptr;
    }

    static EnvOverrides env() {
        return {{"COALITION_DB", db_->conninfo()}, {"COALITION_CONFIG", testing::kUnset}};
    }

    static CommandResult ctl(const std::vector<std::string>& args, EnvOverrides overrides = {}) {
        std::vector<std::string> argv = {testing::bin_path("coalitionctl")};
        argv.insert(argv.end(), args.begin(), args.end());
        EnvOverrides merged = env();
        for (const auto& [name, value] : overrides) merged[name] = value;
        return testing::run_command(argv, merged);
    }

    // Every row of every table coalitionctl writes, so "nothing changed" means exactly that.
    static std::string snapshot() {
        pqxx::connection connection(db_->conninfo());
        pqxx::nontransaction tx(connection);
        std::string out;
        for (const auto& table : {"program_settings", "partners", "partner_secrets", "api_tokens",
                                  "schema_migrations"}) {
            out += table;
            out += ": ";
            out += tx.exec(std::string("SELECT count(*)::text || ' ' || coalesce(md5(string_agg("
                                       "t::text, '|' ORDER BY t::text)), '') FROM ") +
                           table + " t")[0][0]
                       .as<std::string>();
            out += "\n";
        }
        return out;
    }

    static std::int64_t count(const std::string& sql) {
        pqxx::connection connection(db_->conninfo());
        pqxx::nontransaction tx(connection);
        return tx.exec(sql)[0][0].as<std::int64_t>();
    }

    // A refused command: the exit code, one line on stderr, nothing on stdout, nothing changed.
    static void expect_refused(const std::vector<std::string>& args, int exit_code,
                               EnvOverrides overrides = {}) {
        std::string what;
        for (const auto& arg : args) what += arg + " ";
        SCOPED_TRACE(what);
        const std::string before = snapshot();
        const CommandResult result = ctl(args, overrides);
        EXPECT_EQ(result.exit_code, exit_code) << result.err;
        EXPECT_EQ(result.out, "");
        const auto err = lines_of(result.err);
        ASSERT_EQ(err.size(), 1u) << result.err;
        EXPECT_EQ(err[0].rfind("coalitionctl: ", 0), 0u) << err[0];
        EXPECT_GT(err[0].size(), std::string("coalitionctl: ").size());
        EXPECT_EQ(result.err.back(), '\n');
        EXPECT_EQ(snapshot(), before);
    }

    // A successful command that prints exactly one line; returns it.
    static std::string one_line_output(const std::vector<std::string>& args) {
        const CommandResult result = ctl(args);
        EXPECT_EQ(result.exit_code, 0) << result.err;
        EXPECT_EQ(result.err, "");
        const auto lines = lines_of(result.out);
        EXPECT_EQ(lines.size(), 1u) << result.out;
        return lines.empty() ? "" : lines[0];
    }

    static inline TestDatabase* db_ = nullptr;
};

// ---------------------------------------------------------------- refusals

TEST_F(Coalitionctl, BadCommandLinesExit2) {
    expect_refused({}, 2);
    // A misspelt setting variable, never read, would leave its setting as it was.
    expect_refused({"partner", "list"}, 2, {{"COALITION_DBS", "dbname=elsewhere"}});
    // ... but `help`, which lists the settings' names, still answers (found by review).
    EXPECT_EQ(ctl({"help"}, {{"COALITION_DBS", "dbname=elsewhere"}}).exit_code, 0);
    EXPECT_EQ(ctl({"--config", "/dev/null", "help"}, {{"COALITION_DBS", "x"}}).exit_code, 0);
    // A value libpq checks only when it connects is a setting to fix too, not a database away.
    expect_refused({"partner", "list"}, 2, {{"COALITION_DB", "host=/nonexistent sslmode=requre"}});
    expect_refused({"frobnicate"}, 2);
    expect_refused({"--verbose", "partner", "list"}, 2);
    expect_refused({"--config"}, 2);
    expect_refused({"partner"}, 2);
    expect_refused({"partner", "delete", "grocer"}, 2);
    expect_refused({"partner", "list", "--all"}, 2);
    expect_refused({"partner", "suspend"}, 2);
    expect_refused({"partner", "suspend", "a", "b"}, 2);
    expect_refused({"program"}, 2);
    expect_refused({"program", "set", "currency"}, 2);
    expect_refused({"token", "create"}, 2);
    expect_refused({"token", "delete"}, 2);
}

TEST_F(Coalitionctl, PartnerAddRefusals) {
    one_line_output({"partner", "add", "taken", "--name", "Taken"});
    expect_refused({"partner", "add", "grocer"}, 2);                       // no --name
    expect_refused({"partner", "add", "grocer", "--name"}, 2);             // no value
    expect_refused({"partner", "add", "--name", "Grocer"}, 2);             // no id
    expect_refused({"partner", "add", "gro cer", "--name", "Grocer"}, 2);  // bad id
    expect_refused({"partner", "add", "operator", "--name", "Op"}, 2);     // the operator's name
    for (const std::string id :
         {"-A1", ".", "..", "_grocer", ".grocer"}) {  // not a letter or digit first
        expect_refused({"partner", "add", id, "--name", "Grocer"}, 2);
    }
    expect_refused({"partner", "add", "grocer", "--name", ""}, 2);
    expect_refused({"partner", "add", "grocer", "--name", std::string(201, 'n')}, 2);
    expect_refused({"partner", "add", "grocer", "--name",
                    "Gr\xFF"
                    "ocer"},
                   2);                                                     // not UTF-8
    expect_refused({"partner", "add", "grocer", "--name", "Caf\xC3"}, 2);  // cut short
    for (const std::string rate :
         {"abc", "0", "-1", "1000001", "1.5", "", "99999999999999999999"}) {
        expect_refused({"partner", "add", "grocer", "--name", "Grocer", "--earn-rate", rate}, 2);
    }
    expect_refused({"partner", "add", "grocer", "--name", "Grocer", "--secret", "hunter2"}, 2);
    expect_refused({"partner", "add", "grocer", "--name", "G", "--secret", "whsec_c2hvcnQ="}, 2);
    expect_refused({"partner", "add", "grocer", "--name", "G", "--name", "H"}, 2);
    expect_refused({"partner", "add", "taken", "--name", "Again"}, 1);  // duplicate
}

TEST_F(Coalitionctl, UnknownPartnerExits1) {
    expect_refused({"partner", "rotate-secret", "nobody"}, 1);
    expect_refused({"partner", "rotate-secret", "nobody", "--old-valid-hours", "0"}, 1);
    expect_refused({"partner", "suspend", "nobody"}, 1);
    expect_refused({"partner", "resume", "nobody"}, 1);
    // Not an id at all: the argument is wrong (2), as for partner add.
    expect_refused({"partner", "suspend", "bad id"}, 2);
    expect_refused({"partner", "resume", "bad id"}, 2);
    expect_refused({"partner", "rotate-secret", "bad id"}, 2);
    expect_refused({"token", "create", "--role", "partner", "--partner", "nobody"}, 1);
}

TEST_F(Coalitionctl, RotationHoursOutsideZeroTo24AreRefused) {
    one_line_output({"partner", "add", "rotator", "--name", "Rotator"});
    for (const char* hours : {"25", "-1", "abc", "1.5", ""}) {
        expect_refused({"partner", "rotate-secret", "rotator", "--old-valid-hours", hours}, 2);
    }
    const std::string secret =
        one_line_output({"partner", "rotate-secret", "rotator", "--old-valid-hours", "0"});
    EXPECT_EQ(secret.rfind("whsec_", 0), 0u) << secret;
    EXPECT_EQ(count("SELECT count(*) FROM partner_secrets WHERE partner_id = 'rotator' AND "
                    "(valid_until IS NULL OR valid_until > now())"),
              1);
}

TEST_F(Coalitionctl, TokenRefusals) {
    expect_refused({"token", "create", "--role", "admin"}, 2);
    expect_refused({"token", "create", "--role", "partner"}, 2);
    expect_refused({"token", "create", "--role", "operator", "--partner", "grocer"}, 2);
    expect_refused({"token", "create", "--role", "partner", "--partner", "bad id"}, 2);
}

TEST_F(Coalitionctl, ProgramRefusals) {
    expect_refused({"program", "set", "colour", "blue"}, 2);
    expect_refused({"program", "set", "version", "9"}, 2);
    expect_refused({"program", "set", "currency", "eur"}, 2);
    expect_refused({"program", "set", "point_value", "0"}, 2);
    expect_refused({"program", "set", "point_value", "ten"}, 2);
    expect_refused({"program", "set", "issue_fee", "-5"}, 2);
    expect_refused({"program", "set", "validity_months", "1201"}, 2);
    expect_refused({"program", "set", "timezone", "Mars/Olympus_Mons"}, 2);
    // Listed by the zone database, but not a place's time.
    for (const char* zone :
         {"localtime", "posixrules", "Factory", "posix/Europe/Paris", "right/UTC"}) {
        expect_refused({"program", "set", "timezone", zone}, 2);
    }
    expect_refused({"program", "show", "extra"}, 2);
}

TEST_F(Coalitionctl, SettingsProblems) {
    expect_refused({"partner", "list"}, 2, {{"COALITION_DB", testing::kUnset}});
    expect_refused({"partner", "list"}, 2, {{"COALITION_DB", ""}});
    expect_refused({"partner", "list"}, 2, {{"COALITION_DB_CONNECT_TIMEOUT_S", "zero"}});
    // Not a libpq connection string: a setting to fix (2), not a database that is down (1).
    expect_refused({"partner", "list"}, 2, {{"COALITION_DB", "nonsense"}});
    expect_refused({"program", "show"}, 2, {{"COALITION_DB", "host='unterminated"}});
    expect_refused({"--config", "/a.json", "--config", "/b.json", "partner", "list"}, 2);
    expect_refused({"--config", "/nonexistent/coalition.json", "partner", "list"}, 2);
    expect_refused({"partner", "add", "grocer", "--name", "G"}, 2,
                   {{"COALITION_CONFIG", "/nonexistent/coalition.json"}});
}

TEST_F(Coalitionctl, UnreachableDatabaseExits1) {
    const EnvOverrides unreachable = {{"COALITION_DB", "host=/nonexistent port=1"}};
    expect_refused({"partner", "list"}, 1, unreachable);
    expect_refused({"partner", "add", "grocer", "--name", "G"}, 1, unreachable);
    expect_refused({"program", "show"}, 1, unreachable);
    expect_refused({"migrate"}, 1, unreachable);
    expect_refused({"token", "create", "--role", "operator"}, 1, unreachable);
}

// ---------------------------------------------------------------- successes

TEST_F(Coalitionctl, HelpGoesToStdout) {
    for (const char* command : {"help", "--help"}) {
        const CommandResult result = ctl({command}, {{"COALITION_DB", testing::kUnset}});
        EXPECT_EQ(result.exit_code, 0);
        EXPECT_NE(result.out.find("partner add ID --name NAME"), std::string::npos);
        EXPECT_NE(result.out.find("COALITION_DB"), std::string::npos);
        EXPECT_EQ(result.err, "");
    }
}

TEST_F(Coalitionctl, PartnerAddPrintsOnlyTheSecret) {
    const std::string secret = one_line_output({"partner", "add", "grocer", "--name", "Grocer"});
    EXPECT_TRUE(partners::secret_key(secret).has_value()) << secret;
    EXPECT_EQ(count("SELECT count(*) FROM partner_secrets WHERE partner_id = 'grocer'"), 1);

    const std::string given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    EXPECT_EQ(one_line_output({"partner", "add", "fuel", "--name", "Fuel Station", "--earn-rate=7",
                               "--secret", given}),
              given);
    EXPECT_EQ(count("SELECT earn_rate FROM partners WHERE id = 'fuel'"), 7);
}

TEST_F(Coalitionctl, RotateSuspendResumeAndList) {
    const std::string first = one_line_output({"partner", "add", "airline", "--name", "Air"});
    const std::string second = one_line_output({"partner", "rotate-secret", "airline"});
    EXPECT_NE(first, second);
    EXPECT_TRUE(partners::secret_key(second).has_value());
    EXPECT_EQ(count("SELECT count(*) FROM partner_secrets WHERE partner_id = 'airline'"
                    " AND valid_until > now() + interval '23 hours'"),
              1);

    CommandResult result = ctl({"partner", "suspend", "airline"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(count("SELECT count(*) FROM partners WHERE id = 'airline' AND status = 'suspended'"),
              1);

    result = ctl({"partner", "list"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    bool seen = false;
    for (const auto& line : lines_of(result.out)) {
        const auto partner = nlohmann::json::parse(line);
        ASSERT_TRUE(partner.is_object());
        EXPECT_FALSE(partner.contains("secret"));
        EXPECT_EQ(line.find("whsec_"), std::string::npos);
        if (partner["id"] == "airline") {
            seen = true;
            EXPECT_EQ(partner["name"], "Air");
            EXPECT_EQ(partner["status"], "suspended");
            EXPECT_EQ(partner["earn_rate"], 1);
        }
    }
    EXPECT_TRUE(seen);

    result = ctl({"partner", "resume", "airline"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(count("SELECT count(*) FROM partners WHERE id = 'airline' AND status = 'active'"), 1);
}

TEST_F(Coalitionctl, TokenCreatePrintsOnlyTheTokenAndStoresItsHash) {
    const std::string token = one_line_output({"token", "create", "--role", "operator"});
    EXPECT_TRUE(partners::is_well_formed_token(token)) << token;
    const std::string hex = crypto::sha256_hex(token);
    EXPECT_EQ(count("SELECT count(*) FROM api_tokens WHERE role = 'operator' AND token_sha256 ="
                    " decode('" +
                    hex + "', 'hex')"),
              1);

    one_line_output({"partner", "add", "bakery", "--name", "Bakery"});
    const std::string bound =
        one_line_output({"token", "create", "--role", "partner", "--partner", "bakery"});
    EXPECT_TRUE(partners::is_well_formed_token(bound));
    EXPECT_EQ(count("SELECT count(*) FROM api_tokens WHERE partner_id = 'bakery'"), 1);
}

// A leaked token is revoked by naming it: revoked once (exit 0), then unknown (exit 1); a token
// nobody issued is unknown too; the other tokens stay active.
TEST_F(Coalitionctl, TokenRevokeStopsThatTokenOnly) {
    const std::string leaked = one_line_output({"token", "create", "--role", "operator"});
    const std::string kept = one_line_output({"token", "create", "--role", "operator"});
    EXPECT_EQ(one_line_output({"token", "revoke", leaked}), "revoked");
    EXPECT_EQ(count("SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL AND "
                    "token_sha256 = decode('" +
                    crypto::sha256_hex(leaked) + "', 'hex')"),
              1);
    expect_refused({"token", "revoke", leaked}, 1);
    expect_refused({"token", "revoke", "coal_nobody_issued_this"}, 1);
    expect_refused({"token", "revoke"}, 2);
    expect_refused({"token", "revoke", kept, kept}, 2);
    EXPECT_EQ(count("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL AND "
                    "token_sha256 = decode('" +
                    crypto::sha256_hex(kept) + "', 'hex')"),
              1);
}

// Tokens nobody can present (lost, or held by someone who left) are found with token list and
// revoked by id. The list shows every token, revoked ones too, and never a token itself.
TEST_F(Coalitionctl, TokenListShowsEveryTokenAndRevokeByIdStopsOne) {
    one_line_output({"partner", "add", "kiosk", "--name", "Kiosk"});
    const std::string lost = one_line_output({"token", "create", "--role", "operator"});
    const std::string kept =
        one_line_output({"token", "create", "--role", "partner", "--partner", "kiosk"});
    const auto id_of = [](const std::string& token) {
        return count("SELECT id FROM api_tokens WHERE token_sha256 = decode('" +
                     crypto::sha256_hex(token) + "', 'hex')");
    };
    const auto listed = [this]() {
        const CommandResult result = ctl({"token", "list"});
        EXPECT_EQ(result.exit_code, 0) << result.err;
        std::map<std::int64_t, nlohmann::json> by_id;
        for (const auto& line : lines_of(result.out)) {
            EXPECT_EQ(line.find("coal_"), std::string::npos) << line;
            auto token = nlohmann::json::parse(line);
            EXPECT_EQ(token.size(), 5u) << line;
            EXPECT_TRUE(std::regex_match(token["created_at"].get<std::string>(),
                                         std::regex("[0-9-]{10}T[0-9:]{8}\\.[0-9]{6}Z")))
                << line;
            by_id[token["id"].get<std::int64_t>()] = token;
        }
        EXPECT_EQ(static_cast<std::int64_t>(by_id.size()),
                  count("SELECT count(*) FROM api_tokens"));
        return by_id;
    };
    auto tokens = listed();
    const auto& lost_entry = tokens[id_of(lost)];
    EXPECT_EQ(lost_entry["role"], "operator");
    EXPECT_TRUE(lost_entry["partner_id"].is_null());
    EXPECT_TRUE(lost_entry["revoked_at"].is_null());
    EXPECT_EQ(tokens[id_of(kept)]["role"], "partner");
    EXPECT_EQ(tokens[id_of(kept)]["partner_id"], "kiosk");
    const std::string lost_id = std::to_string(id_of(lost));

    for (const auto& bad : std::vector<std::vector<std::string>>{
             {"token", "revoke", "--id", "0"},
             {"token", "revoke", "--id", "-1"},
             {"token", "revoke", "--id", "x"},
             {"token", "revoke", "--id="},
             {"token", "revoke", "--id", lost_id, lost},
             {"token", "revoke", "--id", lost_id, "--id", lost_id},
             {"token", "list", "all"}}) {
        expect_refused(bad, 2);
    }
    expect_refused({"token", "revoke", "--id", "999999"}, 1);

    EXPECT_EQ(one_line_output({"token", "revoke", "--id", lost_id}), "revoked");
    tokens = listed();
    EXPECT_TRUE(tokens[id_of(lost)]["revoked_at"].is_string());
    EXPECT_TRUE(tokens[id_of(kept)]["revoked_at"].is_null());
    expect_refused({"token", "revoke", "--id", lost_id}, 1);  // revoked already
    expect_refused({"token", "revoke", lost}, 1);             // by the token too
}

TEST_F(Coalitionctl, ProgramShowAndSet) {
    auto shown = nlohmann::json::parse(one_line_output({"program", "show"}));
    for (const auto& key : {"version", "currency", "point_value", "issue_fee", "validity_months",
                            "timezone", "effective_from"}) {
        EXPECT_TRUE(shown.contains(key)) << key;
    }
    const auto version = shown["version"].get<std::int64_t>();
    const auto set =
        nlohmann::json::parse(one_line_output({"program", "set", "timezone", "America/New_York"}));
    EXPECT_EQ(set["timezone"], "America/New_York");
    EXPECT_EQ(set["version"].get<std::int64_t>(), version + 1);
    one_line_output({"program", "set", "point_value", "25000"});
    shown = nlohmann::json::parse(one_line_output({"program", "show"}));
    EXPECT_EQ(shown["point_value"], 25000);
    EXPECT_EQ(shown["timezone"], "America/New_York");
    EXPECT_EQ(shown["version"].get<std::int64_t>(), version + 2);
}

TEST_F(Coalitionctl, ConfigFileBeforeTheCommand) {
    const std::string path = "/tmp/coalitionctl-test-" + std::to_string(getpid()) + ".json";
    std::ofstream(path) << nlohmann::json{{"db", db_->conninfo()}}.dump();
    const CommandResult result =
        ctl({"--config", path, "program", "show"}, {{"COALITION_DB", testing::kUnset}});
    std::remove(path.c_str());
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_TRUE(nlohmann::json::parse(result.out).is_object());
}

TEST(CoalitionctlMigrate, AppliesOnceThenReportsUpToDate) {
    TestDatabase db("coalitionctl_migrate", /*migrated=*/false);
    const EnvOverrides env = {{"COALITION_DB", db.conninfo()},
                              {"COALITION_CONFIG", testing::kUnset}};
    const std::string ctl = testing::bin_path("coalitionctl");
    CommandResult result = testing::run_command({ctl, "migrate"}, env);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.out.find("applied 0001_initial.sql"), std::string::npos) << result.out;
    result =
        testing::run_command({ctl, "migrate", "--dir", testing::source_path("migrations")}, env);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out.find("applied 0"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("up to date"), std::string::npos) << result.out;
    // A --dir that cannot serve is a bad argument.
    result = testing::run_command({ctl, "migrate", "--dir", "/nonexistent"}, env);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_EQ(lines_of(result.err).size(), 1u);
}

// Every command but `migrate` refuses a schema that lacks a migration it was built with, as the
// server refuses claims, and writes nothing (found by review: `partner add` and `program set`
// went through, `check` failed with raw SQL errors). `migrate` then brings it up to date.
TEST(CoalitionctlMigrate, OtherCommandsRefuseASchemaBehindTheBinary) {
    TestDatabase db("coalitionctl_behind", /*migrated=*/false);
    auto migrations = storage::embedded_migrations();
    const auto newest = migrations.back().name;
    {
        pqxx::connection connection(db.conninfo());
        storage::migrate(connection, {migrations.begin(), migrations.end() - 1});
    }
    const EnvOverrides env = {{"COALITION_DB", db.conninfo()},
                              {"COALITION_CONFIG", testing::kUnset}};
    const std::string ctl = testing::bin_path("coalitionctl");
    const auto count = [&](const std::string& table) {
        pqxx::connection connection(db.conninfo());
        pqxx::nontransaction tx(connection);
        return tx.exec1("SELECT count(*) FROM " + table)[0].as<int>();
    };
    const std::vector<std::vector<std::string>> commands = {
        {"program", "show"},
        {"program", "set", "point_value", "5000"},
        {"partner", "add", "late", "--name", "Late"},
        {"token", "create", "--role", "operator"},
        {"check"},
        {"settle", "2026-01-01"}};
    for (const auto& command : commands) {
        std::vector<std::string> argv{ctl};
        argv.insert(argv.end(), command.begin(), command.end());
        const CommandResult result = testing::run_command(argv, env);
        SCOPED_TRACE(command[0] + " " + command[1 % command.size()]);
        EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
        EXPECT_EQ(result.out, "");
        ASSERT_EQ(lines_of(result.err).size(), 1u) << result.err;
        EXPECT_NE(result.err.find("the database schema lacks migration " + newest +
                                  ": run coalitionctl migrate"),
                  std::string::npos)
            << result.err;
    }
    EXPECT_EQ(count("partners"), 0);
    EXPECT_EQ(count("api_tokens"), 0);
    EXPECT_EQ(count("program_settings"), 1);
    EXPECT_EQ(count("settlement_runs"), 0);

    const CommandResult migrated = testing::run_command({ctl, "migrate"}, env);
    EXPECT_EQ(migrated.exit_code, 0) << migrated.err;
    EXPECT_EQ(migrated.out, "applied " + newest + "\n");
    const CommandResult added =
        testing::run_command({ctl, "partner", "add", "late", "--name", "Late"}, env);
    EXPECT_EQ(added.exit_code, 0) << added.err;
    EXPECT_EQ(count("partners"), 1);
}

}  // namespace
}  // namespace coalition
