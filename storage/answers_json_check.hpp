#pragma once
// For coalitionctl check: the rows of a table of stored answers (claims, refused_claims) whose
// response_body is not JSON at all. Such an answer (a hand edit, a restore from a damaged dump)
// would be replayed to the partner's retries for ever, and makes every statement that reads the
// answers as JSON fail at its first cast without naming the row.
#include <pqxx/transaction_base>

#include <functional>
#include <string>
#include <vector>

namespace coalition::storage {

// Runs `read` on `tx` under a savepoint: true if it ran, false if it failed on data that does
// not cast (SQLSTATE class 22, e.g. an answer that is not JSON), which leaves `tx` usable; other
// failures are thrown. `read` must use exec_params (or exec_prepared): libpqxx 6.4's exec()
// aborts the whole transaction on any error.
bool runs_on_castable_data(pqxx::dbtransaction& tx,
                           const std::function<void(pqxx::transaction_base&)>& read);

// The name (`name_sql`, an expression over the table's columns) of every row of `table` whose
// response_body does not cast to jsonb. Casts a range of heap blocks at a time, under a
// savepoint, and a range that fails row by row: a table with no such row costs one pass.
std::vector<std::string> answers_not_json(pqxx::dbtransaction& tx, const std::string& table,
                                          const std::string& name_sql);

}  // namespace coalition::storage
