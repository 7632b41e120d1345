#pragma once
// The reversals of a group-commit batch, decided in memory like its earns and burns
// (storage/claim_batch.cpp). A reversal that finds an expired lot — whose breakage the one-claim
// path records with its own statements — is left to that path, after the batch's writes.
#include "storage/batch_state.hpp"

#include <pqxx/transaction>

namespace coalition::storage::batch {

// The statements below, prepared with the batch's others.
void prepare_reversal_statements(pqxx::connection& connection);

// Under the member locks: the stored claims the batch's reversals name, whether each was
// reversed already, the lot each stored earn created and the slices and lots of each stored
// burn (added to their member's lots).
void read_reversal_targets(pqxx::work& tx, Batch& batch);

// Decides every reversal of the batch, in batch order, after its earns and burns. Each gets its
// answer (booked, replayed, refused) or lands in batch.deferred.
void decide_reversals(Batch& batch);

}  // namespace coalition::storage::batch
