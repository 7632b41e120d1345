#pragma once
// Group commit: many validated claims booked in one transaction, with a fixed number of
// set-based statements whatever the batch size. Each claim gets exactly the answer it would get
// if the batch's claims were booked one after another in this order: every earn and burn in
// batch order, then every reversal in batch order, except that a reversal meeting an expired lot
// or a member the batch does not hold comes last, and with it the same member's later reversals
// and the reversals of it (the claims of a batch were in flight together, so any order is one the
// partners could have seen).
//
//   1. one statement reads the program, takes the shared lock on the settlement date (as one
//      claim does) and then enrols the members of new earns, in id order;
//   2. every member the batch touches is locked with SELECT … FOR UPDATE in id order
//      (COLLATE "C"): two batches enrol and lock common members in the same order, so they
//      wait for each other but never deadlock;
//   3. under those locks the idempotency keys and the open lots of all those members are read
//      (one statement), and — if the batch has reversals — the claims they name with those
//      claims' lots and slices (two or three statements);
//   4. the ledger's pure rules decide each claim in memory, against the member's state as the
//      earlier claims of the batch left it. A business refusal (422), a replay (the stored
//      answer) or a conflict (409) is that claim's answer and stores nothing; its neighbours go
//      on;
//   5. claims, lots, lot updates, slices and debts are written by one statement of
//      data-modifying CTEs, which first draws the new rows' ids: the rows travel as JSON array
//      parameters expanded by json_to_recordset;
//   6. a reversal that meets an expired lot (its breakage needs the one-claim path's
//      statements) is booked by that path, in the same transaction, after the writes; then
//      everything commits at once.
//
// Every statement is prepared once per connection.
#include "storage/claim_booking.hpp"

#include <pqxx/connection>

#include <span>
#include <stdexcept>
#include <vector>

namespace coalition::storage {

// The batch cannot be booked as one transaction for a reason that is not a failure: its claims
// fall on two settlement dates (around midnight) or on both sides of a program change, or a
// race made a member enrolment unnecessary (or, were there such a hole, a burn or reversal met a
// member whose lots the batch did not read), or a lot it changes had its expiry booked by a claim
// of a later date meanwhile. Nothing was stored; book the claims one by one.
class BatchNeedsSingleBookings : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Results in the order of `inputs`. Throws BatchNeedsSingleBookings as above, and pqxx errors
// when the database fails (nothing was committed, or — pqxx::in_doubt_error — the outcome is
// unknown); a unique_violation means another process booked one of the same keys meanwhile:
// booking the claims one by one resolves it.
std::vector<BookingResult> book_claims(pqxx::connection& connection,
                                       std::span<const BookingInput> inputs);

}  // namespace coalition::storage
