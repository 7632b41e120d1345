#pragma once
// The run as contract §3's JSON, field for field, and back. Amounts are JSON integers (minor
// units; point_value in micro-units), never floating point.
//
// run_to_json_text is canonical (contract field order, compact, no spaces): hash that text for
// settlement_runs.run_sha256. jsonb reorders keys, so after reading a run back, parse it and
// re-serialise it before comparing hashes.
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "settlement/run.hpp"

namespace coalition::settlement {

// The JSON is not a run: missing, extra or mistyped field, bad status... what() says where.
class RunFormatError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The contract's fields only: informational lines are statement matter (statement.hpp).
std::string run_to_json_text(const SettlementRun& run);

// Strict: every contract field present with its type, no other field. The result has no
// informational lines. Does not check invariants: call check_run_invariants on it.
SettlementRun run_from_json(const nlohmann::json& json);
SettlementRun run_from_json_text(std::string_view text);

// One partner's informational lines, the part of its statement a run's JSON does not carry:
// {"partner_id","own_redemptions","points_issued","points_expired","points_outstanding"}.
// A closed date stores these beside its run (settlement_statements) and derives every
// statement from the two (build_statement), instead of storing each obligation again in both
// partners' statements. Strict, as run_from_json: throws RunFormatError.
std::string information_to_json_text(const PartnerInformation& information);
PartnerInformation information_from_json(const nlohmann::json& json);

}  // namespace coalition::settlement
