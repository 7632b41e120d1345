#include "tests/support/program_history.hpp"

#include "storage/program_store.hpp"

#include <pqxx/pqxx>

namespace coalition::testing {

void set_program_since_2000(pqxx::transaction_base& tx, std::string_view key,
                            std::string_view value) {
    storage::set_program_setting(tx, key, value);
    // A copy of the new row, stamped in the past: the newest version whose effective_from is at
    // or before a claim's acceptance is the one in force for it.
    tx.exec(
        "INSERT INTO program_settings (effective_from, currency, point_value, issue_fee, "
        "  validity_months, timezone) "
        "SELECT TIMESTAMPTZ '2000-01-01 00:00:00+00', currency, point_value, issue_fee, "
        "  validity_months, timezone FROM program_settings ORDER BY version DESC LIMIT 1");
}

}  // namespace coalition::testing
