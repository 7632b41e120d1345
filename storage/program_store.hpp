#pragma once
// The program settings aggregate: an append-only history of rows in program_settings, the one
// with the highest version in force. A change copies the current row with one value replaced,
// so claims keep pointing at the version they were priced at.
#include "core/money.hpp"
#include "storage/sql_time.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

// The keys of the program's advisory lock (migration 0008): program_in_force_at takes it shared
// in every booking, a change exclusive before it writes its row.
#define PROGRAM_CHANGE_LOCK_KEYS "6190879, 0"

namespace pqxx {
class transaction_base;
}

namespace coalition::storage {

struct ProgramSettings {
    std::int64_t version = 0;
    std::string currency;  // ISO 4217, e.g. "EUR"
    Micros point_value;    // micro-units per point
    Micros issue_fee;      // micro-units per point, owed by the issuer to the operator
    int validity_months = 0;
    std::string timezone;        // IANA name
    std::string effective_from;  // RFC 3339 in UTC, microseconds
};

class ProgramSettingError : public std::runtime_error {
  public:
    enum class Kind {
        invalid,   // unknown key or a value out of its domain: the caller must fix the input
        conflict,  // valid, but refused in the current state (currency once claims exist)
    };
    ProgramSettingError(Kind kind, const std::string& reason)
        : std::runtime_error(reason), kind_(kind) {}
    Kind kind() const { return kind_; }

  private:
    Kind kind_;
};

// The keys set_program_setting accepts, in a fixed order (for help texts).
inline constexpr std::string_view kProgramSettingKeys[] = {"currency", "point_value", "issue_fee",
                                                           "validity_months", "timezone"};

// Checks what can be checked without a database (key known, value syntax and range); throws
// ProgramSettingError(invalid). Whether a timezone exists needs the database.
void validate_program_setting(std::string_view key, std::string_view value);

ProgramSettings current_program(pqxx::transaction_base& tx);

// Appends a new version with `key` set to `value` and returns it. Throws ProgramSettingError.
// Concurrent changes are serialised, so none is lost. `now_us` is the host's clock, the one
// claims are dated by: a time zone change is judged against today there.
ProgramSettings set_program_setting(pqxx::transaction_base& tx, std::string_view key,
                                    std::string_view value,
                                    std::int64_t now_us = now_unix_micros());

}  // namespace coalition::storage
