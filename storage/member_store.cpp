#include "storage/member_store.hpp"

#include "storage/database.hpp"
#include "storage/ledger_rows.hpp"
#include "storage/sql_time.hpp"

#include <pqxx/pqxx>

namespace coalition::storage {
namespace {

constexpr const char* kMemberAndToday =
    "SELECT m.debt, ($2::timestamptz AT TIME ZONE p.timezone)::date::text "
    "FROM members m, (SELECT timezone FROM program_settings ORDER BY version DESC LIMIT 1) p "
    "WHERE m.id = $1";

}  // namespace

std::optional<ledger::MemberView> read_member(pqxx::connection& connection,
                                              const std::string& member_id, std::int64_t now_us) {
    // One snapshot for the member row and its lots (repeatable read: a read_transaction is read
    // committed, a snapshot per statement), so a booking that commits between the two reads
    // cannot pair the debt before it with the lots after it: a balance that never existed.
    SnapshotTransaction tx(connection);
    const auto rows = tx.exec_params(kMemberAndToday, member_id, timestamp_literal(now_us));
    if (rows.empty()) return std::nullopt;
    const Points debt(rows[0][0].as<std::int64_t>());
    const Date today = parse_date(rows[0][1].as<std::string>());
    const auto lots = load_open_lots(tx, member_id, today);
    return ledger::member_view(lots, debt, today);
}

}  // namespace coalition::storage
