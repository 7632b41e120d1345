#pragma once
// Tests build history by booking claims with accepted_at in the past (January 2025, say), and a
// claim is priced and dated by the program in force when it was accepted (migration 0008). A
// setting changed now would not apply to those claims, so tests change settings through this:
// as `coalitionctl program set` does, then in force since 2000-01-01 for every claim a test
// books, until the next call.
#include <string_view>

namespace pqxx {
class transaction_base;
}

namespace coalition::testing {

void set_program_since_2000(pqxx::transaction_base& tx, std::string_view key,
                            std::string_view value);

}  // namespace coalition::testing
