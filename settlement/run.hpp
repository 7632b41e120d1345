#pragma once
// The data of one settlement date: what the storage layer reads from SQL aggregates
// (SettlementInput) and the netted result (SettlementRun), the shape of contract §3.
// Plain values only; compute_settlement_run (netting.hpp) turns one into the other.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/money.hpp"

namespace coalition::settlement {

// The central counterparty's name in instructions. A partner may not carry this id, or its
// instructions could not be told from the operator's (compute_settlement_run refuses it).
inline constexpr std::string_view kOperatorId = "operator";

enum class RunStatus { provisional, closed };
std::string_view to_string(RunStatus status);
std::optional<RunStatus> parse_run_status(std::string_view text);

// slices.kind in the schema.
enum class SliceKind { burn, burn_reversal };
std::string_view to_string(SliceKind kind);
std::optional<SliceKind> parse_slice_kind(std::string_view text);

// YYYY-MM-DD, digits only, naming a real calendar day in a year PostgreSQL's date holds (not
// year 0, which std::chrono allows): the day, or nullopt.
std::optional<std::chrono::year_month_day> parse_settlement_date(std::string_view text);
bool is_settlement_date(std::string_view text);
// The schema's entity_id alphabet ([A-Za-z0-9._-]{1,64}), minus kOperatorId. The alphabet is
// also why statement CSV cells never need quoting.
bool is_partner_id(std::string_view text);
// Three capital letters, as the schema's program_settings.currency.
bool is_currency_code(std::string_view text);

// Slices of the date, as rows or as `GROUP BY issuer_id, redeemer_id, kind` sums: both work,
// lines with the same key are added up. A burn makes the issuer owe the redeemer; a burn
// reversal is its opposite (the redeemer owes the issuer). issuer == redeemer is an own
// redemption: reported in points, nothing is owed.
struct SliceLine {
    std::string issuer_id;
    std::string redeemer_id;
    SliceKind kind = SliceKind::burn;
    Points points;  // > 0
    Micros amount;  // >= 0; the slices' own point_value, which may differ from the one in force
};

// One figure per partner; several lines for the same partner are added up.
struct PartnerPoints {
    std::string partner_id;
    Points points;  // >= 0
};
struct PartnerMicros {
    std::string partner_id;
    Micros amount;  // >= 0
};

struct SettlementInput {
    std::string date;  // YYYY-MM-DD, the settlement date
    RunStatus status = RunStatus::provisional;
    std::string currency = "EUR";            // ISO 4217 code, three capital letters
    std::optional<int> minor_unit_exponent;  // nullopt: minor_unit_exponent(currency)
    Micros point_value{10000};               // in force for the date; shown, not used to price
    // Partners that get a line even without activity (e.g. every partner, so each has a
    // statement). Partners named only in the lines below take part too.
    std::vector<std::string> partner_ids;
    std::vector<SliceLine> slices;
    std::vector<PartnerMicros> fees;                // issuance fees of lots accepted on the date
    std::vector<PartnerPoints> points_issued;       // points of lots accepted on the date
    std::vector<PartnerPoints> points_expired;      // lot_expiries of the date (breakage)
    std::vector<PartnerPoints> points_outstanding;  // unspent, unexpired points at the date's end
    std::int64_t claims = 0;                        // claims accepted on the date
};

// ---- The run: contract §3, every amount already rounded to minor units. --------------------

struct Participant {
    std::string partner_id;
    MinorUnits received;  // owed to it by other partners
    MinorUnits paid;      // owed by it to other partners
    MinorUnits fees;      // its issuance fees, owed to the operator
    MinorUnits net;       // round(exact received - paid - fees), see netting.hpp
    friend bool operator==(const Participant&, const Participant&) = default;
};

struct OperatorLine {
    MinorUnits fees;      // round(exact sum of all fees)
    MinorUnits rounding;  // the residue that makes all nets sum to exactly 0
    MinorUnits net;       // fees + rounding
    friend bool operator==(const OperatorLine&, const OperatorLine&) = default;
};

// A cell of the gross matrix: `from` owes `to`. Never netted against the opposite cell.
struct Obligation {
    std::string from;
    std::string to;
    Points points;
    MinorUnits amount;
    friend bool operator==(const Obligation&, const Obligation&) = default;
};

// A payment to make: a partner to the operator or the operator to a partner; amount > 0.
struct Instruction {
    std::string from;
    std::string to;
    MinorUnits amount;
    friend bool operator==(const Instruction&, const Instruction&) = default;
};

struct Totals {
    std::int64_t claims = 0;
    Points points_issued;
    Points points_redeemed;  // burns minus burn reversals of the date, own redemptions included
    Points own_redemptions;  // the same, issuer == redeemer only
    Points points_expired;
    friend bool operator==(const Totals&, const Totals&) = default;
};

// Informational lines of one partner, for its statement. Not part of the run's JSON (the
// contract fixes that shape), so a run read back from JSON has none: statements of a closed
// date are stored on their own when it closes.
struct PartnerInformation {
    std::string partner_id;
    Points own_redemptions;  // as Totals: burns minus reversals, issuer == redeemer == partner
    Points points_issued;
    Points points_expired;  // breakage
    Points points_outstanding;
    friend bool operator==(const PartnerInformation&, const PartnerInformation&) = default;
};

struct SettlementRun {
    std::string date;
    RunStatus status = RunStatus::provisional;
    std::string currency;
    Micros point_value;
    std::vector<Participant> participants;  // sorted by partner_id
    OperatorLine operator_line;
    std::vector<Obligation> obligations;    // sorted by (from, to)
    std::vector<Instruction> instructions;  // sorted by partner id
    Totals totals;
    std::vector<PartnerInformation> information;  // sorted by partner_id; empty after parsing
    friend bool operator==(const SettlementRun&, const SettlementRun&) = default;
};

}  // namespace coalition::settlement
