// The connection string the programs connect with: COALITION_DB plus the connect timeout, and,
// unless COALITION_DB chooses its own, keepalives and a TCP user timeout that bound how long a
// query waits on a database host that vanished without a word. Read back with libpq's parser.
#include "storage/database.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>
#include <string>

namespace coalition::storage {
namespace {

// Every keyword the string sets, as libpq reads it (the last occurrence wins).
std::map<std::string, std::string> parsed(const std::string& conninfo) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
    EXPECT_NE(options, nullptr) << conninfo << ": " << (error ? error : "");
    PQfreemem(error);
    std::map<std::string, std::string> out;
    if (options == nullptr) return out;
    for (auto* option = options; option->keyword != nullptr; ++option) {
        if (option->val != nullptr) out[option->keyword] = option->val;
    }
    PQconninfoFree(options);
    return out;
}

TEST(Conninfo, AddsTheTimeoutAndTheDeadPeerBounds) {
    for (const std::string db :
         {"host=/run/pg dbname=coalition", "postgresql://db.example/coalition",
          "postgresql://db.example/coalition?sslmode=require"}) {
        const auto options = parsed(conninfo_with_timeout(db, 7));
        EXPECT_EQ(options.at("connect_timeout"), "7") << db;
        EXPECT_EQ(options.at("keepalives_idle"), std::to_string(kDeadPeerKeepalivesIdleS)) << db;
        EXPECT_EQ(options.at("keepalives_interval"), std::to_string(kDeadPeerKeepalivesIntervalS));
        EXPECT_EQ(options.at("keepalives_count"), std::to_string(kDeadPeerKeepalivesCount));
        EXPECT_EQ(options.at("tcp_user_timeout"), std::to_string(kDeadPeerTcpUserTimeoutMs));
        EXPECT_EQ(options.at("dbname"), "coalition") << db;
    }
    EXPECT_EQ(parsed(conninfo_with_timeout("postgresql://h/d?sslmode=require", 3)).at("sslmode"),
              "require");
}

TEST(Conninfo, TheOperatorsOwnKeepaliveSettingsAreKept) {
    const auto options = parsed(conninfo_with_timeout("host=h keepalives_idle=5", 3));
    EXPECT_EQ(options.at("keepalives_idle"), "5");
    EXPECT_EQ(options.count("tcp_user_timeout"), 0u);
    EXPECT_EQ(parsed(conninfo_with_timeout("host=h keepalives=0", 3)).count("keepalives_idle"), 0u);
    // A service file may set them: left to it.
    EXPECT_EQ(parsed(conninfo_with_timeout("service=ledger", 3)).count("keepalives_idle"), 0u);
}

TEST(Conninfo, AMalformedStringIsASettingsError) {
    EXPECT_THROW(check_conninfo("nonsense"), SettingsError);
    EXPECT_THROW(check_conninfo("host='unterminated"), SettingsError);
    // libpq's reason quotes the fragment it stumbled on, here the tail of a password.
    try {
        check_conninfo("host=db user=c password=ab cd");
        ADD_FAILURE() << "accepted";
    } catch (const SettingsError& e) {
        EXPECT_EQ(std::string(e.what()).find("cd"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("missing \"…\" in connection info string"),
                  std::string::npos)
            << e.what();
    }
    // A quote inside the password is an ordinary character to libpq, quoted as it is.
    try {
        check_conninfo("host=db user=c password=ab cd\"ef");
        ADD_FAILURE() << "accepted";
    } catch (const SettingsError& e) {
        EXPECT_EQ(std::string(e.what()).find("ef"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(check_conninfo("host=/run/pg dbname=coalition"));
    EXPECT_NO_THROW(check_conninfo("postgresql://db.example/coalition"));
}

}  // namespace
}  // namespace coalition::storage
