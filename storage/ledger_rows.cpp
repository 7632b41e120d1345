#include "storage/ledger_rows.hpp"

#include <pqxx/pqxx>

namespace coalition::storage {
namespace {

constexpr const char* kOpenLots =
    "SELECT " LOT_COLUMNS " FROM lots "
    "WHERE member_id = $1 AND is_open AND expires_on >= $2::date "
    "ORDER BY expires_on, accepted_at, id";

}  // namespace

ledger::Lot lot_from_row(const pqxx::row& row) {
    ledger::Lot lot;
    lot.id = row[0].as<std::int64_t>();
    lot.issuer = row[1].as<std::string>();
    lot.issued = Points(row[2].as<std::int64_t>());
    lot.debt_repaid = Points(row[3].as<std::int64_t>());
    lot.remaining = Points(row[4].as<std::int64_t>());
    lot.accepted_at_us = row[5].as<std::int64_t>();
    lot.expires_on = parse_date(row[6].as<std::string>());
    lot.reversed = row[7].as<bool>();
    return lot;
}

ledger::Slice burn_slice_from_row(const pqxx::row& row, pqxx::row::size_type first) {
    ledger::Slice slice;
    slice.id = row[first].as<std::int64_t>();
    slice.kind = ledger::SliceKind::burn;
    slice.lot_id = row[first + 1].as<std::int64_t>();
    slice.issuer = row[first + 2].as<std::string>();
    slice.redeemer = row[first + 3].as<std::string>();
    slice.points = Points(row[first + 4].as<std::int64_t>());
    slice.point_value = Micros(row[first + 5].as<std::int64_t>());
    slice.amount = Micros(row[first + 6].as<std::int64_t>());
    return slice;
}

std::vector<ledger::Lot> lots_from_result(const pqxx::result& result) {
    std::vector<ledger::Lot> lots;
    lots.reserve(result.size());
    for (const auto& row : result) lots.push_back(lot_from_row(row));
    return lots;
}

std::vector<ledger::Lot> load_open_lots(pqxx::transaction_base& tx, const std::string& member_id,
                                        Date today) {
    return lots_from_result(tx.exec_params(kOpenLots, member_id, date_literal(today)));
}

std::string int_array_literal(const std::vector<std::int64_t>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i != 0) out += ',';
        out += std::to_string(values[i]);
    }
    return out + "}";
}

}  // namespace coalition::storage
