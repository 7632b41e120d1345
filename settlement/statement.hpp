#pragma once
// One partner's statement of one date: its net line, its obligations with each counterparty
// both ways, its informational lines and its instruction. Built from a computed run; stored
// as JSON beside the run when a date closes (settlement_statements), served as JSON or CSV
// (statement_csv.hpp). JSON and CSV carry the same figures and each parses back to the same
// PartnerStatement.
//
// JSON:
//   {"date": "2026-11-21", "status": "closed", "currency": "EUR", "point_value": 10000,
//    "partner_id": "grocer",
//    "net": {"received_minor": 0, "paid_minor": 1500, "fees_minor": 0,
//            "rounding_difference_minor": 0, "net_minor": -1500},
//    "obligations": [{"from": "grocer", "to": "fuel", "points": 1500, "amount_minor": 1500}],
//    "own_redemptions": 0, "points_issued": 0, "points_expired": 0, "points_outstanding": 0,
//    "instruction": {"from": "grocer", "to": "operator", "amount_minor": 1500}}
// "instruction" is null when the net is 0. received - paid - fees + rounding_difference = net
// holds exactly; rounding_difference is non-zero only when rounding each figure once (see
// netting.hpp) left the rounded parts off the rounded net, by at most 2 minor units.
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "settlement/run.hpp"

namespace coalition::settlement {

// The JSON or CSV is not a statement; what() says where.
class StatementFormatError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct PartnerStatement {
    std::string date;
    RunStatus status = RunStatus::provisional;
    std::string currency;
    Micros point_value;
    std::string partner_id;
    MinorUnits received;
    MinorUnits paid;
    MinorUnits fees;
    MinorUnits rounding_difference;  // net - (received - paid - fees)
    MinorUnits net;
    std::vector<Obligation> obligations;  // the run's cells with the partner on either side
    Points own_redemptions;
    Points points_issued;
    Points points_expired;  // breakage
    Points points_outstanding;
    std::optional<Instruction> instruction;
    friend bool operator==(const PartnerStatement&, const PartnerStatement&) = default;
};

// nullopt when the partner does not take part in the run. Throws std::logic_error when the
// run has no informational lines (a run parsed from JSON): build statements from the
// computed run, or read the stored ones.
std::optional<PartnerStatement> build_statement(const SettlementRun& run,
                                                std::string_view partner_id);
// The statement of a partner that takes no part in the run: the run's date, status, currency
// and point value, every figure 0, no obligation, no instruction. What a partner with nothing
// on a date is owed and owes, said rather than left to a 404 that also means "no such partner".
PartnerStatement statement_of_no_part(const SettlementRun& run, std::string_view partner_id);
// Every participant's statement, equal to build_statement for each, in one pass over the
// obligations (build_statement scans them all for one partner). Same precondition.
std::map<std::string, PartnerStatement> build_statements(const SettlementRun& run);

std::string statement_to_json_text(const PartnerStatement& statement);
// Strict, as run_from_json: throws StatementFormatError.
PartnerStatement statement_from_json(const nlohmann::json& json);
PartnerStatement statement_from_json_text(std::string_view text);

}  // namespace coalition::settlement
