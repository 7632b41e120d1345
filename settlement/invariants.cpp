#include "settlement/invariants.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace coalition::settlement {
namespace {

using Violation = std::optional<std::string>;

std::int64_t magnitude(MinorUnits value) {
    return value < MinorUnits(0) ? (-value).value() : value.value();
}

// |rounded - sum of rounded parts| can be explained by rounding `roundings` figures once each.
bool within_rounding(MinorUnits difference, std::size_t roundings) {
    return checked_mul(magnitude(difference), 2) <= static_cast<std::int64_t>(roundings);
}

std::string_view instruction_partner(const Instruction& instruction) {
    return instruction.from == kOperatorId ? instruction.to : instruction.from;
}

Violation check_header(const SettlementRun& run) {
    if (!is_settlement_date(run.date)) return "date is not YYYY-MM-DD";
    if (!parse_run_status(to_string(run.status))) return "status is unknown";
    if (!is_currency_code(run.currency)) return "currency is not three capital letters";
    if (run.point_value <= Micros(0)) return "point_value is not positive";
    return std::nullopt;
}

Violation check_participants(const SettlementRun& run) {
    MinorUnits nets;
    MinorUnits fees;
    for (std::size_t i = 0; i < run.participants.size(); ++i) {
        const auto& participant = run.participants[i];
        if (!is_partner_id(participant.partner_id)) {
            return "participant '" + participant.partner_id + "' is not a valid partner id";
        }
        if (i > 0 && !(run.participants[i - 1].partner_id < participant.partner_id)) {
            return "participants are not sorted and unique at '" + participant.partner_id + "'";
        }
        if (participant.received < MinorUnits(0) || participant.paid < MinorUnits(0) ||
            participant.fees < MinorUnits(0)) {
            return "participant '" + participant.partner_id + "' has a negative gross figure";
        }
        const MinorUnits parts = participant.received - participant.paid - participant.fees;
        if (!within_rounding(participant.net - parts, 4)) {
            return "participant '" + participant.partner_id +
                   "' net is further from received - paid - fees than rounding explains";
        }
        nets += participant.net;
        fees += participant.fees;
    }
    const auto& op = run.operator_line;
    if (op.net != op.fees + op.rounding) return "operator net != fees + rounding";
    if (nets + op.net != MinorUnits(0)) return "zero sum broken: nets do not sum to 0";
    const std::size_t roundings = run.participants.size() + 1;
    if (!within_rounding(op.rounding, roundings)) return "operator rounding is too large";
    if (!within_rounding(op.fees - fees, roundings)) {
        return "operator fees differ from the partners' fees by more than rounding";
    }
    return std::nullopt;
}

// Participants are sorted and unique (check_participants), so each has an index; the sums are
// kept per index. A run can hold ~1 million obligations: a hash look-up per side, not a
// search of ordered maps by string (that was most of a full-size close's checks).
Violation check_obligations(const SettlementRun& run) {
    struct Gross {
        MinorUnits amount;
        std::size_t cells = 0;
    };
    std::unordered_map<std::string_view, std::size_t> index_of;
    index_of.reserve(run.participants.size());
    for (std::size_t i = 0; i < run.participants.size(); ++i) {
        index_of.emplace(run.participants[i].partner_id, i);
    }
    std::vector<Gross> received(run.participants.size());
    std::vector<Gross> paid(run.participants.size());
    for (std::size_t i = 0; i < run.obligations.size(); ++i) {
        const auto& obligation = run.obligations[i];
        const auto from = index_of.find(obligation.from);
        const auto to = index_of.find(obligation.to);
        if (from == index_of.end() || to == index_of.end()) {
            return "obligation " + obligation.from + " -> " + obligation.to +
                   " names a non-participant";
        }
        if (from == to) return "obligation of a partner to itself";
        if (i > 0) {
            const auto& previous = run.obligations[i - 1];
            if (!(std::tie(previous.from, previous.to) <
                  std::tie(obligation.from, obligation.to))) {
                return "obligations are not sorted and unique by (from, to)";
            }
        }
        if (obligation.points <= Points(0) || obligation.amount < MinorUnits(0)) {
            return "obligation " + obligation.from + " -> " + obligation.to + " is not positive";
        }
        auto& in = received[to->second];
        in.amount += obligation.amount;
        ++in.cells;
        auto& out = paid[from->second];
        out.amount += obligation.amount;
        ++out.cells;
    }
    for (std::size_t i = 0; i < run.participants.size(); ++i) {
        const auto& participant = run.participants[i];
        if (!within_rounding(participant.received - received[i].amount, received[i].cells + 1) ||
            !within_rounding(participant.paid - paid[i].amount, paid[i].cells + 1)) {
            return "participant '" + participant.partner_id +
                   "' gross figures do not match its obligations";
        }
    }
    return std::nullopt;
}

Violation check_instructions(const SettlementRun& run) {
    std::size_t next = 0;
    MinorUnits to_operator;
    MinorUnits from_operator;
    for (const auto& participant : run.participants) {
        if (participant.net == MinorUnits(0)) continue;
        if (next >= run.instructions.size()) {
            return "no instruction for '" + participant.partner_id + "'";
        }
        const auto& instruction = run.instructions[next++];
        const bool pays = participant.net < MinorUnits(0);
        const Instruction expected =
            pays ? Instruction{participant.partner_id, std::string(kOperatorId), -participant.net}
                 : Instruction{std::string(kOperatorId), participant.partner_id, participant.net};
        if (!(instruction == expected)) {
            return "instruction for '" + std::string(instruction_partner(instruction)) +
                   "' does not settle the net of '" + participant.partner_id + "'";
        }
        (pays ? to_operator : from_operator) += instruction.amount;
    }
    if (next != run.instructions.size()) return "an instruction settles no net";
    if (to_operator - from_operator != run.operator_line.net) {
        return "instructions do not balance to the operator net";
    }
    return std::nullopt;
}

Violation check_totals(const SettlementRun& run) {
    const auto& totals = run.totals;
    if (totals.claims < 0 || totals.points_issued < Points(0) ||
        totals.points_expired < Points(0)) {
        return "totals are negative";
    }
    if (run.information.empty()) return std::nullopt;
    if (run.information.size() != run.participants.size()) {
        return "informational lines do not match participants";
    }
    Points issued;
    Points own;
    Points expired;
    for (std::size_t i = 0; i < run.information.size(); ++i) {
        const auto& info = run.information[i];
        if (info.partner_id != run.participants[i].partner_id) {
            return "informational line '" + info.partner_id + "' out of participant order";
        }
        if (info.points_issued < Points(0) || info.points_expired < Points(0) ||
            info.points_outstanding < Points(0)) {
            return "informational line '" + info.partner_id + "' is negative";
        }
        issued += info.points_issued;
        own += info.own_redemptions;
        expired += info.points_expired;
    }
    if (issued != totals.points_issued || own != totals.own_redemptions ||
        expired != totals.points_expired) {
        return "informational lines do not sum to totals";
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> check_run_invariants(const SettlementRun& run) {
    try {
        if (auto violation = check_header(run)) return violation;
        if (auto violation = check_participants(run)) return violation;
        if (auto violation = check_obligations(run)) return violation;
        if (auto violation = check_instructions(run)) return violation;
        return check_totals(run);
    } catch (const ArithmeticOverflow&) {
        // A run whose figures overflow when summed cannot be a run we produced.
        return "figures overflow int64 when summed";
    }
}

void require_run_invariants(const SettlementRun& run) {
    if (auto violation = check_run_invariants(run)) {
        throw RunInvariantViolation("settlement run " + run.date + ": " + *violation);
    }
}

}  // namespace coalition::settlement
