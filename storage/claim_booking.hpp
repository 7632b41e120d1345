#pragma once
// Booking one validated claim exactly once, in one transaction:
//   1. idempotency: the key's advisory lock is taken first, so two attempts of one claim are
//      decided one after the other; then the (partner, webhook-id) already stored (accepted or
//      refused) → replay its response if the body hash matches, else 409;
//   2. the member row is locked (SELECT … FOR UPDATE) before its lots are read, so every claim
//      of one member — across threads and server processes — is serialised and no burn can
//      overdraw;
//   3. the ledger's pure rules decide; a refusal (422) changes nothing but keeps its answer
//      (refused_claims) for the claim's retries;
//   4. claim, lots, slices, debt and breakage rows are written and committed together.
#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "partners/claim_request.hpp"

#include <pqxx/connection>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace coalition::storage {

struct BookingInput {
    std::string partner_id;
    std::string webhook_id;
    crypto::Bytes request_sha256;  // of the raw body: tells a replay from a conflicting reuse
    partners::ClaimRequest request;
    std::int64_t accepted_at_us = 0;  // the server's clock when the claim was taken
};

struct BookingResult {
    int status = 0;
    std::string body;       // the JSON answered (for a replay: exactly the stored one)
    bool replayed = false;  // answer with Idempotent-Replayed: true
    std::optional<ApiError> error;  // set for 409 / 422; body is then empty
};

// The claim's settlement date is closed (or a later date is), and is still today on this
// host's clock: another host, its clock ahead, closed it by hand (`coalitionctl settle`) or by
// its daily job, or booked the expiry of a lot the claim would change at that date's end. Nothing
// of the claim is stored; it can be booked once this host's clock has passed the date's end (the
// caller answers 503 with Retry-After, not 500: the partner's retry will do).
class SettlementDateClosedAhead : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The claim was accepted under a program whose currency has since been replaced (a currency
// changes only while no claim exists: the claims taken in the moments before a program's first
// change of currency, still queued when it committed). Booked under that program it would put
// amounts of two currencies into one date. Nothing of it is stored; the caller answers 503, and
// the partner's retry is accepted, and validated, under the new program.
class ProgramCurrencyReplaced : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Throws pqxx errors when the database fails (the caller answers 503: nothing was committed, or
// — pqxx::in_doubt_error — the outcome is unknown and the partner's retry resolves it), and
// SettlementDateClosedAhead, ProgramCurrencyReplaced.
BookingResult book_claim(pqxx::connection& connection, const BookingInput& input);

// The answer already stored for (partner, webhook-id), read only: its replay if `input`'s body
// hash matches, else the 409; nullopt when none is stored. For a partner that may no longer
// book (suspended) but whose retries of claims booked before must still get their answers.
std::optional<BookingResult> stored_outcome(pqxx::connection& connection,
                                            const BookingInput& input);

}  // namespace coalition::storage
