// docs/finance.md copies the CSV columns' description from settlement/statement_csv.hpp, which
// is what the code is written to. Finance teams read the copy: it must not drift from the source.
#include "tests/support/process.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace coalition {
namespace {

std::string read_source(const std::string& relative) {
    std::ifstream in(testing::source_path(relative));
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The block between the header's "---- Statement CSV columns" line and its closing rule, each
// line without its leading "// ".
std::string columns_block_of_the_header() {
    std::istringstream in(read_source("settlement/statement_csv.hpp"));
    std::string block;
    bool inside = false;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("// ---- Statement CSV columns", 0) == 0) {
            inside = true;
            continue;
        }
        if (!inside) continue;
        if (line.rfind("// ----", 0) == 0) break;
        block += (line.rfind("// ", 0) == 0 ? line.substr(3) : line.substr(2)) + "\n";
    }
    return block;
}

TEST(StatementCsvDocs, FinanceGuideCopiesTheColumnsOfTheHeaderWordForWord) {
    const std::string block = columns_block_of_the_header();
    ASSERT_GT(block.size(), 500u) << "the header's block was not found";
    const std::string guide = read_source("docs/finance.md");
    EXPECT_NE(guide.find("```\n" + block + "```\n"), std::string::npos)
        << "docs/finance.md no longer holds this block as it stands in statement_csv.hpp:\n"
        << block;
}

}  // namespace
}  // namespace coalition
