#include "storage/answers_json_check.hpp"

#include <pqxx/pqxx>

namespace coalition::storage {
namespace {

constexpr std::int64_t kBlocksPerRange = 256;  // 2 MB of heap, a few thousand answers

}  // namespace

bool runs_on_castable_data(pqxx::dbtransaction& tx,
                           const std::function<void(pqxx::transaction_base&)>& read) {
    // Plain SAVEPOINT statements: with libpqxx 6.4's subtransaction, a failed read left the
    // transaction around it aborted (LedgerCheck.NamesAStoredAnswerThatIsNotJson).
    tx.exec("SAVEPOINT cast_check");
    try {
        read(tx);
    } catch (const pqxx::sql_error& e) {
        if (e.sqlstate().rfind("22", 0) != 0) throw;
        tx.exec("ROLLBACK TO SAVEPOINT cast_check");
        return false;
    }
    tx.exec("RELEASE SAVEPOINT cast_check");
    return true;
}

std::vector<std::string> answers_not_json(pqxx::dbtransaction& tx, const std::string& table,
                                          const std::string& name_sql) {
    // By ranges of heap blocks (a TID range scan each, no sort): the rows of the snapshot stay
    // where they are, both tables being append-only.
    const std::string blocks_sql =
        "SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::bigint";
    const std::string range_casts_sql = "SELECT count(response_body::jsonb) FROM " + table +
                                        " WHERE ctid >= $1::tid AND ctid < $2::tid";
    const std::string range_rows_sql = "SELECT ctid::text, " + name_sql + " FROM " + table +
                                       " WHERE ctid >= $1::tid AND ctid < $2::tid";
    const std::string row_casts_sql =
        "SELECT count(response_body::jsonb) FROM " + table + " WHERE ctid = $1::tid";
    const auto blocks = tx.exec_params1(blocks_sql, table)[0].as<std::int64_t>();
    std::vector<std::string> out;
    for (std::int64_t first = 0; first < blocks; first += kBlocksPerRange) {
        const auto from = "(" + std::to_string(first) + ",0)";
        const auto to = "(" + std::to_string(first + kBlocksPerRange) + ",0)";
        const auto casts = [&](pqxx::transaction_base& t) {
            t.exec_params(range_casts_sql, from, to);
        };
        if (runs_on_castable_data(tx, casts)) continue;
        for (const auto& row : tx.exec_params(range_rows_sql, from, to)) {
            const auto ctid = row[0].as<std::string>();
            const auto cast = [&](pqxx::transaction_base& t) {
                t.exec_params(row_casts_sql, ctid);
            };
            if (!runs_on_castable_data(tx, cast)) out.push_back(row[1].as<std::string>());
        }
    }
    return out;
}

}  // namespace coalition::storage
