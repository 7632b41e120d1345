#pragma once
// Step 5 of a group-commit batch (storage/claim_batch.cpp): what the batch decided, written by
// one statement. That statement draws the claim, lot and slice ids from their sequences before
// it writes, so that rows can name rows of the same batch; placeholders of the decisions become
// those ids.
#include "storage/batch_state.hpp"

#include <pqxx/connection>
#include <pqxx/transaction>

namespace coalition::storage::batch {

void prepare_write_statements(pqxx::connection& connection);

// Writes claims, lots, lot updates, slices and debts; throws std::logic_error when the database
// wrote other rows than were decided (a lot changed under the member lock).
void write_decisions(pqxx::work& tx, const Batch& batch);

}  // namespace coalition::storage::batch
