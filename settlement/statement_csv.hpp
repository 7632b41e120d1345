#pragma once
// A partner statement as CSV (RFC 4180: comma separated, CRLF line ends, one header row).
//
// ---- Statement CSV columns (docs/finance copies this block) --------------------------------
//   date          settlement date, YYYY-MM-DD (same on every row)
//   status        provisional | closed (same on every row)
//   currency      ISO 4217 code (same on every row)
//   point_value   micro-units (10^-6 of the currency's major unit) per point in force
//                 (same on every row)
//   partner_id    the partner the statement is for (same on every row)
//   line_type     what the row is, one of:
//     received             amount_minor: owed to the partner by other partners
//     paid                 amount_minor: owed by the partner to other partners (positive)
//     fees                 amount_minor: the partner's issuance fees, owed to the operator
//     rounding_difference  amount_minor: net - (received - paid - fees), from rounding each
//                          figure once; at most 2 minor units either way, usually 0
//     net                  amount_minor: received - paid - fees + rounding_difference;
//                          negative: the partner pays the operator
//     obligation           from, to, points, amount_minor: one cell of the gross matrix,
//                          `from` owes `to`; one row per counterparty and direction
//     own_redemptions      points: redeemed at the partner from its own points (nothing owed);
//                          burns minus reversals, so it can be negative
//     points_issued        points: issued by the partner on the date
//     points_expired       points: the partner's breakage of the date
//     points_outstanding   points: the partner's points still spendable at the date's end
//     instruction          from, to, amount_minor: the payment that settles the net (absent
//                          when the net is 0); the operator appears as "operator"
//   from, to      partner ids or "operator"; empty where the line_type names none
//   points        integer points; empty where the line_type has none
//   amount_minor  integer minor units of the currency (cents for EUR); empty where none
// Rows come in this order: received, paid, fees, rounding_difference, net, obligations sorted
// by (from, to), own_redemptions, points_issued, points_expired, points_outstanding,
// instruction. Every row but obligation and instruction appears exactly once.
// --------------------------------------------------------------------------------------------
#include <string>
#include <string_view>

#include "settlement/statement.hpp"

namespace coalition::settlement {

inline constexpr std::string_view kStatementCsvHeader =
    "date,status,currency,point_value,partner_id,line_type,from,to,points,amount_minor";

std::string statement_to_csv(const PartnerStatement& statement);

// Parses what statement_to_csv writes (LF line ends accepted too); throws
// StatementFormatError on anything else.
PartnerStatement statement_from_csv(std::string_view csv);

}  // namespace coalition::settlement
