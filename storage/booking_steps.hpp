#pragma once
// Steps of booking that the one-claim path (claim_booking.cpp) and the group-commit path
// (claim_batch.cpp) share, so that both answer with the same bytes and refuse with the same
// codes. Internal to storage/.
#include "core/money.hpp"
#include "storage/claim_booking.hpp"
#include "storage/sql_time.hpp"

#include <pqxx/transaction>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace coalition::storage::booking_steps {

// The program in force and the claim's settlement date in the program's time zone.
struct Program {
    std::int64_t version = 0;
    Micros point_value{0};
    Micros issue_fee{0};
    int validity_months = 0;
    Date settlement_date{};
    std::string currency;  // ISO 4217
    // The newest version's currency, read under the program's lock: unlike `currency` above,
    // what a claim booked now must be in (ProgramCurrencyReplaced).
    std::string current_currency;
};

// The answer (400, never kept) to an earn whose purchase is not in `program`'s currency, which
// validation checked against the server's snapshot of the program: a change of currency (made
// only while no claim exists) reaches that snapshot up to a refresh interval late.
std::optional<BookingResult> purchase_in_other_currency(const BookingInput& input,
                                                        const Program& program);

Program program_at(pqxx::work& tx, const std::string& accepted_at);

// The lock of claim ids (partner, webhook-id), taken by every booking of a key before it looks
// the key up, so that two attempts of one claim are decided one after the other and the second
// finds the first's answer. Member locks alone do not serialise them: a reversal before its
// target commits and a burn for a member not enrolled yet are refused under no member's lock,
// while another attempt may book them (then the key would hold a 422 and a 201). Keys are locked
// in the order of their lock key, so two batches with common keys cannot deadlock; and before
// the program's, the date's and the members' locks, in every path. $1: keys as keys_json gives.
#define LOCK_CLAIM_KEYS_SELECT(keys)                                      \
    "SELECT count(pg_advisory_xact_lock(6190880, lock_key)) FROM ("       \
    "  SELECT hashtext(k.partner_id || '/' || k.webhook_id) AS lock_key " \
    "  FROM json_to_recordset(" keys                                      \
    "::json) AS k(partner_id text, webhook_id text) "                     \
    "  ORDER BY 1 OFFSET 0) AS keys"
inline constexpr const char* kLockClaimKeysSql = LOCK_CLAIM_KEYS_SELECT("$1");

// The condition under which a claim of date `date` may change lot `lot` (an alias of lots): a
// lot still valid on that date with any expiry row — its own, or points a reversal returned to
// it after it expired (its own row is not written when it expired empty) — is booked as expired
// already, by a claim of a later date booked first by another server process just after a
// midnight, and must not change: that expiry counted its points as breakage. A lot that expired
// before the date passes without a probe (its expiry is the claim's own to book, first); any
// other costs one look-up in lot_expiries' (lot_id, claim_id) index, which holds a row or two
// per expired lot.
#define LOT_EXPIRY_NOT_BOOKED(lot, date)            \
    "(" lot ".expires_on < " date                   \
    " OR NOT EXISTS (SELECT 1 FROM lot_expiries e " \
    "WHERE e.lot_id = " lot ".id))"

// A refused claim's answer; its body is the error body a refusal is answered (and replayed) with.
BookingResult refusal(ErrorCode code, std::string message, std::string field = {});

// Whether `result` is a refusal the ledger decided (not a replay, not a 409): it is kept.
bool is_ledger_refusal(const BookingResult& result);

// Keeps refused claims' answers in refused_claims, so that a retry gets the same refusal; one
// statement for any number of them.
struct Refused {
    const BookingInput* input;
    const BookingResult* result;
};
void store_refusals(pqxx::work& tx, const std::vector<Refused>& refused);

// The 201 body of an accepted claim; stored with it and answered again on a replay.
std::string accepted_body(const BookingInput& input, std::string_view type,
                          const std::string& member_id, Points points, Points balance, Date date);

// The answer to a claim whose (partner, webhook-id) is already booked: the stored response if
// the body hash matches, else 409 idempotency_conflict. The hashes compare in constant time.
BookingResult replay_or_conflict(const BookingInput& input, const crypto::Bytes& stored_sha256,
                                 int stored_status, std::string stored_body);

// The claim's date ended, for part of the ledger it would change, while it waited to be booked
// (nothing of it is stored). book_claim accepts it again at the time now is.
class DateOverWhileWaiting : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A lot the claim would change, still valid on the claim's date, has had its expiry booked by a
// claim of a later date (LOT_EXPIRY_NOT_BOOKED): claims of one member are booked in the order
// their member's lock is granted, which two server processes can make differ from their
// acceptance order just after a midnight. Booked on its own date the claim would change points
// already counted as breakage.
class LotExpiredWhileWaiting : public DateOverWhileWaiting {
  public:
    using DateOverWhileWaiting::DateOverWhileWaiting;
};

// Whether any of `lot_ids` is still valid on `date` and has an expiry row, which
// LOT_EXPIRY_NOT_BOOKED forbids changing: tells a guarded lot update that failed on its expiry
// from a lost update.
bool lot_expiry_booked(pqxx::work& tx, const std::vector<std::int64_t>& lot_ids, Date date);

// Takes the lock that writing lot_expiries takes, before a booking that will write it writes
// claims: a close's writers barrier locks lot_expiries first, then claims, lots and slices, and
// a reversal holding claims while it waits for lot_expiries would close a cycle with it.
void lock_expiries_before_claims(pqxx::work& tx);

// The stored answer of the claim's key, if any: its replay, or 409 for another body. Every
// path calls it once, under the key's lock (taken first), before it decides anything.
std::optional<BookingResult> prior_outcome(pqxx::transaction_base& tx, const BookingInput& input);

// Books a reversal inside `tx` whose key prior_outcome found free: locks the reversed claim's
// member (a no-op when `tx` holds that lock already), decides and writes. A refusal writes
// nothing, so `tx` can go on with other claims.
BookingResult book_reversal(pqxx::work& tx, const BookingInput& input, const Program& program,
                            const std::string& accepted_at);

}  // namespace coalition::storage::booking_steps
