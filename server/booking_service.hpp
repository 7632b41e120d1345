#pragma once
// The one component every claim is booked through: handlers hand it a validated claim and get
// the outcome back asynchronously. Today it books each claim in its own transaction on the
// database pool; grouping many claims per transaction (group commit) changes this component
// only.
#include "storage/claim_booking.hpp"

#include <functional>
#include <variant>

namespace coalition::server {

class DatabasePool;
class Logger;

// The database could not be reached or the commit's outcome is unknown: answer 503 (nothing is
// half-booked; a retry with the same webhook-id is replayed or booked).
struct BookingUnavailable {};
// An unexpected failure (a bug or a broken invariant): answer 500 and log.
struct BookingFailed {
    std::string reason;
};

using BookingOutcome = std::variant<storage::BookingResult, BookingUnavailable, BookingFailed>;

class BookingService {
public:
    BookingService(DatabasePool& database, Logger& logger) : database_(database), logger_(logger) {}

    // `done` is called exactly once, on a database thread.
    void submit(storage::BookingInput input, std::function<void(BookingOutcome)> done);

private:
    DatabasePool& database_;
    Logger& logger_;
};

}  // namespace coalition::server
