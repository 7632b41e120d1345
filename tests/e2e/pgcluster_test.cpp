// scripts/lib/pgcluster.sh, the development and test cluster: `destroy` removes, and `init`
// takes over (chown, mode 700), only a directory that holds nothing but a cluster's own files.
// A slip such as `pgcluster.sh var 55432 destroy` wiped var/ (certificates, demo credentials)
// and `init` on a directory of other files chowned it to the cluster user (found by review).
#include "tests/support/process.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace coalition::testing {
namespace {

namespace fs = std::filesystem;

class PgCluster : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("coalition-pgcluster-test-" + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "mine" / "sub");
        std::ofstream(dir_ / "mine" / "sub" / "keep.txt") << "keep\n";
        std::ofstream(dir_ / "mine" / ".hidden") << "keep\n";
    }
    void TearDown() override { fs::remove_all(dir_); }

    CommandResult pgcluster(const fs::path& datadir, const std::string& verb) {
        // A port no test cluster uses; neither verb below gets as far as starting anything.
        return run_command(
            {source_path("scripts/lib/pgcluster.sh"), datadir.string(), "55499", verb}, {}, 60000);
    }

    fs::path dir_;
};

TEST_F(PgCluster, DestroyRefusesADirectoryOfOtherFiles) {
    const auto result = pgcluster(dir_ / "mine", "destroy");
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_THAT(result.err, ::testing::HasSubstr("not removed"));
    EXPECT_TRUE(fs::exists(dir_ / "mine" / "sub" / "keep.txt"));
    EXPECT_TRUE(fs::exists(dir_ / "mine" / ".hidden"));
}

TEST_F(PgCluster, InitRefusesADirectoryOfOtherFilesAndLeavesItsOwnerAndMode) {
    const auto before = fs::status(dir_ / "mine").permissions();
    const auto result = pgcluster(dir_ / "mine", "init");
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_THAT(result.err, ::testing::HasSubstr("new or empty directory"));
    EXPECT_EQ(fs::status(dir_ / "mine").permissions(), before);
    EXPECT_FALSE(fs::exists(dir_ / "mine" / "data"));
}

TEST_F(PgCluster, DestroyOfAnEmptyOrMissingDirectoryIsFine) {
    fs::create_directories(dir_ / "empty");
    EXPECT_EQ(pgcluster(dir_ / "empty", "destroy").exit_code, 0);
    EXPECT_FALSE(fs::exists(dir_ / "empty"));
    EXPECT_EQ(pgcluster(dir_ / "missing", "destroy").exit_code, 0);
}

// A postmaster keeps every descriptor it inherits for as long as it runs. scripts/test holds its
// run's lock on one: a cluster an e2e test restarts would hold it too, and a run killed hard
// would then leave the next one refused until someone found and stopped that postmaster.
TEST_F(PgCluster, AStartedClusterKeepsNoDescriptorOfItsCaller) {
    const fs::path held = dir_ / "held-by-the-caller";
    const int fd = ::open(held.c_str(), O_WRONLY | O_CREAT, 0600);  // inherited: no O_CLOEXEC
    ASSERT_GE(fd, 0);
    const fs::path cluster = dir_ / "cluster";
    ASSERT_EQ(pgcluster(cluster, "init").exit_code, 0);
    const auto started = pgcluster(cluster, "start");
    ::close(fd);
    ASSERT_EQ(started.exit_code, 0) << started.err;

    std::string postmaster;
    std::getline(std::ifstream(cluster / "data" / "postmaster.pid"), postmaster);
    const fs::path descriptors = fs::path("/proc") / postmaster / "fd";
    ASSERT_TRUE(fs::exists(descriptors)) << postmaster;
    int seen = 0;
    for (const auto& entry : fs::directory_iterator(descriptors)) {
        std::error_code unreadable;  // a descriptor closed while we look
        const fs::path target = fs::read_symlink(entry.path(), unreadable);
        EXPECT_NE(target, held) << "descriptor " << entry.path().filename();
        ++seen;
    }
    EXPECT_GT(seen, 2);  // its own log and sockets: the listing was readable
    EXPECT_EQ(pgcluster(cluster, "stop").exit_code, 0);
    EXPECT_EQ(pgcluster(cluster, "destroy").exit_code, 0);
}

}  // namespace
}  // namespace coalition::testing
