#include "settlement/netting.hpp"

#include <map>
#include <string>
#include <utility>

#include "settlement/invariants.hpp"
#include "settlement/rounding.hpp"

namespace coalition::settlement {
namespace {

// Exact figures of one partner while netting.
struct PartnerAccount {
    Micros received;
    Micros paid;
    Micros fees;
    Points own_redemptions;
    Points points_issued;
    Points points_expired;
    Points points_outstanding;
};

struct MatrixCell {
    Points points;
    Micros amount;
};

class Netting {
  public:
    explicit Netting(const SettlementInput& input) : input_(input) {
        if (!is_settlement_date(input.date)) fail("date must be a calendar day as YYYY-MM-DD");
        if (!is_currency_code(input.currency)) fail("currency must be three capital letters");
        exponent_ = input.minor_unit_exponent.value_or(minor_unit_exponent(input.currency));
        if (exponent_ < 0 || exponent_ > kMinorUnitExponentMax) {
            fail("minor unit exponent must be within 0..6");
        }
        if (input.point_value <= Micros(0)) fail("point_value must be positive");
        if (input.claims < 0) fail("claims must not be negative");
    }

    SettlementRun run() {
        for (const auto& partner_id : input_.partner_ids) account(partner_id);
        for (const auto& slice : input_.slices) add_slice(slice);
        for (const auto& line : input_.fees) {
            require_not_negative(line.amount, "fees");
            account(line.partner_id).fees += line.amount;
        }
        for (const auto& line : input_.points_issued) {
            require_not_negative(line.points, "points_issued");
            account(line.partner_id).points_issued += line.points;
        }
        for (const auto& line : input_.points_expired) {
            require_not_negative(line.points, "points_expired");
            account(line.partner_id).points_expired += line.points;
        }
        for (const auto& line : input_.points_outstanding) {
            require_not_negative(line.points, "points_outstanding");
            account(line.partner_id).points_outstanding += line.points;
        }

        SettlementRun run;
        run.date = input_.date;
        run.status = input_.status;
        run.currency = input_.currency;
        run.point_value = input_.point_value;
        fill_participants(run);
        fill_obligations(run);
        fill_instructions(run);
        run.totals.claims = input_.claims;
        run.totals.points_redeemed = points_redeemed_;
        for (const auto& info : run.information) {
            run.totals.points_issued += info.points_issued;
            run.totals.own_redemptions += info.own_redemptions;
            run.totals.points_expired += info.points_expired;
        }
        return run;
    }

  private:
    [[noreturn]] static void fail(const std::string& reason) { throw SettlementInputError(reason); }

    template <typename Tag>
    static void require_not_negative(Quantity<Tag> value, const char* what) {
        if (value < Quantity<Tag>(0)) fail(std::string(what) + " must not be negative");
    }

    PartnerAccount& account(const std::string& partner_id) {
        if (!is_partner_id(partner_id)) {
            fail("partner id '" + partner_id + "' is not a valid partner id");
        }
        return accounts_[partner_id];
    }

    void add_slice(const SliceLine& slice) {
        if (slice.points <= Points(0)) fail("slice points must be positive");
        require_not_negative(slice.amount, "slice amount");
        const bool reversal = slice.kind == SliceKind::burn_reversal;
        points_redeemed_ += reversal ? -slice.points : slice.points;
        if (slice.issuer_id == slice.redeemer_id) {
            // Own redemption: the partner would owe itself, so nothing is owed; points reported.
            auto& own = account(slice.issuer_id).own_redemptions;
            own += reversal ? -slice.points : slice.points;
            return;
        }
        const std::string& from = reversal ? slice.redeemer_id : slice.issuer_id;
        const std::string& to = reversal ? slice.issuer_id : slice.redeemer_id;
        account(from).paid += slice.amount;
        account(to).received += slice.amount;
        auto& cell = matrix_[{from, to}];
        cell.points += slice.points;
        cell.amount += slice.amount;
    }

    void fill_participants(SettlementRun& run) const {
        Micros fees_exact;
        MinorUnits nets_minor;
        for (const auto& [partner_id, exact] : accounts_) {
            const Micros net_exact = exact.received - exact.paid - exact.fees;
            Participant participant{partner_id, round(exact.received), round(exact.paid),
                                    round(exact.fees), round(net_exact)};
            fees_exact += exact.fees;
            nets_minor += participant.net;
            run.participants.push_back(std::move(participant));
            run.information.push_back(PartnerInformation{partner_id, exact.own_redemptions,
                                                         exact.points_issued, exact.points_expired,
                                                         exact.points_outstanding});
        }
        run.operator_line.fees = round(fees_exact);
        run.operator_line.rounding = -(nets_minor + run.operator_line.fees);
        run.operator_line.net = run.operator_line.fees + run.operator_line.rounding;
    }

    void fill_obligations(SettlementRun& run) const {
        for (const auto& [key, cell] : matrix_) {
            run.obligations.push_back(
                Obligation{key.first, key.second, cell.points, round(cell.amount)});
        }
    }

    static void fill_instructions(SettlementRun& run) {
        // Participants are in id order, and each has at most one instruction.
        for (const auto& participant : run.participants) {
            if (participant.net < MinorUnits(0)) {
                run.instructions.push_back(Instruction{participant.partner_id,
                                                       std::string(kOperatorId), -participant.net});
            } else if (participant.net > MinorUnits(0)) {
                run.instructions.push_back(
                    Instruction{std::string(kOperatorId), participant.partner_id, participant.net});
            }
        }
    }

    MinorUnits round(Micros exact) const { return round_half_even_to_minor(exact, exponent_); }

    const SettlementInput& input_;
    int exponent_ = 2;
    std::map<std::string, PartnerAccount> accounts_;  // ordered: the run's order is by id
    std::map<std::pair<std::string, std::string>, MatrixCell> matrix_;
    Points points_redeemed_;
};

}  // namespace

SettlementRun compute_settlement_run(const SettlementInput& input) {
    SettlementRun run = Netting(input).run();
    require_run_invariants(run);
    return run;
}

}  // namespace coalition::settlement
