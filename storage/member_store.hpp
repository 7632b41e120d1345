#pragma once
// The member read model: balance, debt, open lots and the expiring schedule, derived from lots
// on every read so that an expired lot never counts, whether or not any job has run.
#include "ledger/member_view.hpp"

#include <pqxx/connection>

#include <cstdint>
#include <optional>
#include <string>

namespace coalition::storage {

// nullopt when no such member. `now_us` is the server's clock; "today" is its date in the
// program's time zone.
std::optional<ledger::MemberView> read_member(pqxx::connection& connection,
                                              const std::string& member_id, std::int64_t now_us);

}  // namespace coalition::storage
