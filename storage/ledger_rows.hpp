#pragma once
// Reading ledger rows into the ledger's types. Shared by booking and member look-ups so that a
// lot is read the same way everywhere.
#include "ledger/lot.hpp"
#include "ledger/slice.hpp"
#include "storage/sql_time.hpp"

#include <pqxx/row>
#include <pqxx/transaction_base>

#include <cstdint>
#include <string>
#include <vector>

// The columns every lot query selects, in the order row_to_lot reads them. A macro so that it can
// be spliced into the named SQL constants at compile time.
#define LOT_COLUMNS                                                                    \
    "id, issuer_id, points_issued, debt_repaid, points_remaining, "                    \
    "(extract(epoch FROM accepted_at) * 1000000)::bigint, expires_on::text, "         \
    "reversed_by_claim_id IS NOT NULL"

namespace coalition::storage {

// A member's lots that hold points and have not expired by `today`, in FIFO order.
std::vector<ledger::Lot> load_open_lots(pqxx::transaction_base& tx, const std::string& member_id,
                                        Date today);

// Runs `sql` (selecting LOT_COLUMNS) with one parameter.
template <typename Parameter>
std::vector<ledger::Lot> load_lots(pqxx::transaction_base& tx, const char* sql,
                                   const Parameter& parameter);

std::vector<ledger::Lot> lots_from_result(const pqxx::result& result);
// One row whose first columns are LOT_COLUMNS.
ledger::Lot lot_from_row(const pqxx::row& row);

// The columns every burn-slice query selects, in the order burn_slice_from_row reads them.
#define BURN_SLICE_COLUMNS "id, lot_id, issuer_id, redeemer_id, points, point_value, amount_micros"
// A burn slice from BURN_SLICE_COLUMNS starting at column `first`.
ledger::Slice burn_slice_from_row(const pqxx::row& row, pqxx::row::size_type first = 0);

// "{1,2,3}": a bigint[] literal for `= ANY($1::bigint[])`.
std::string int_array_literal(const std::vector<std::int64_t>& values);

template <typename Parameter>
std::vector<ledger::Lot> load_lots(pqxx::transaction_base& tx, const char* sql,
                                   const Parameter& parameter) {
    return lots_from_result(tx.exec_params(sql, parameter));
}

}  // namespace coalition::storage
