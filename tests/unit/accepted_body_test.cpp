// The body of every booked claim's answer (storage::booking_steps::accepted_body) is written
// with JsonText; it must stay byte for byte what nlohmann's dump() of the same object gave, for
// any webhook id and member id a partner may send: stored bodies are replayed to retries, and
// partners may compare them.
#include "storage/booking_steps.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace coalition::storage::booking_steps {
namespace {

using namespace std::chrono;

std::string as_nlohmann_dumps(const BookingInput& input, std::string_view type,
                              const std::string& member_id, Points points, Points balance,
                              const std::string& date) {
    const nlohmann::json body = {
        {"claim_id", input.webhook_id}, {"status", "accepted"},     {"type", type},
        {"member_id", member_id},       {"points", points.value()}, {"balance", balance.value()},
        {"settlement_date", date}};
    return body.dump();
}

TEST(AcceptedBody, IsByteForByteWhatNlohmannWrote) {
    const year_month_day date{year(2026), month(11), day(23)};
    for (const std::string& webhook_id : {std::string("msg_2Kq9"), std::string("q\"\\'-1"),
                                          std::string("!~{}[],:"), std::string(128, 'w')}) {
        for (const std::string& member_id : {std::string("M-1"), std::string("a.B_9-z")}) {
            for (const auto& [type, points, balance] :
                 {std::tuple{"earn", 500, 820}, std::tuple{"burn", 1, -250},
                  std::tuple{"reversal", 10'000'000, 0}}) {
                BookingInput input;
                input.webhook_id = webhook_id;
                EXPECT_EQ(
                    accepted_body(input, type, member_id, Points(points), Points(balance), date),
                    as_nlohmann_dumps(input, type, member_id, Points(points), Points(balance),
                                      "2026-11-23"))
                    << webhook_id << " " << type;
            }
        }
    }
}

}  // namespace
}  // namespace coalition::storage::booking_steps
