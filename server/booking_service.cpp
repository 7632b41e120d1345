#include "server/booking_service.hpp"

#include "server/db_pool.hpp"
#include "server/logger.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/except>

#include <memory>

namespace coalition::server {

void BookingService::submit(storage::BookingInput input, std::function<void(BookingOutcome)> done) {
    auto shared_input = std::make_shared<storage::BookingInput>(std::move(input));
    auto result = std::make_shared<storage::BookingResult>();
    database_.submit(
        [shared_input, result](pqxx::connection& connection) {
            *result = storage::book_claim(connection, *shared_input);
        },
        [this, shared_input, result, done = std::move(done)](std::exception_ptr failure) {
            if (!failure) return done(std::move(*result));
            try {
                std::rethrow_exception(failure);
            } catch (const DatabaseUnavailable& e) {
                logger_.log(LogLevel::warn, "claim not booked: database unavailable",
                            {{"partner_id", shared_input->partner_id}, {"error", e.what()}});
                done(BookingUnavailable{});
            } catch (const pqxx::sql_error& e) {
                // Serialization or lock failures are transient; anything else is a defect, but
                // in both cases nothing was committed.
                const std::string state = e.sqlstate();
                const bool transient = state.rfind("40", 0) == 0 || state == "55P03" ||
                                       state.rfind("08", 0) == 0 || state.rfind("57", 0) == 0;
                logger_.log(transient ? LogLevel::warn : LogLevel::error, "claim not booked",
                            {{"partner_id", shared_input->partner_id}, {"sqlstate", state},
                             {"error", e.what()}});
                if (transient) return done(BookingUnavailable{});
                done(BookingFailed{e.what()});
            } catch (const std::exception& e) {
                logger_.log(LogLevel::error, "claim not booked",
                            {{"partner_id", shared_input->partner_id}, {"error", e.what()}});
                done(BookingFailed{e.what()});
            }
        });
}

}  // namespace coalition::server
