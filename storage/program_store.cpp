#include "storage/program_store.hpp"

#include "settlement/rounding.hpp"
#include "storage/sql_time.hpp"

#include <pqxx/pqxx>

#include <charconv>

namespace coalition::storage {
namespace {

constexpr const char* kSelectCurrentSql =
    "SELECT version, currency, point_value, issue_fee, validity_months, timezone,"
    " " SQL_UTC_INSTANT("effective_from") " FROM program_settings ORDER BY version DESC LIMIT 1";
// Self-conflicting but compatible with readers and with claims referencing a version: two
// concurrent changes queue up instead of both copying the same old row.
constexpr const char* kLockSql = "LOCK TABLE program_settings IN SHARE ROW EXCLUSIVE MODE";
// Waits for the bookings in flight, which hold it shared since they read the program in force,
// and holds new ones until this change commits: a claim is priced by the row in force when it
// was accepted, and no booking can miss a row stamped before its claims' acceptance.
// effective_from is stamped after it (clock_timestamp() at the insert).
// Bounded: while it waits, new bookings queue behind it, so a booking in flight that is itself
// stuck (on a member's row lock, behind a close) would stall every booking. After
// kBookingsWaitMax the change gives up, changes nothing, and asks to be tried again.
constexpr const char* kBookingsWaitMax = "2s";
constexpr const char* kLockBookingsSql =
    "SELECT pg_advisory_xact_lock(" PROGRAM_CHANGE_LOCK_KEYS ")";
constexpr const char* kAnyClaimSql = "SELECT EXISTS (SELECT 1 FROM claims)";
constexpr const char* kTimezoneExistsSql =
    "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)";
// Today in the zone $1 at the host's time $2 (the clock claims are dated by, as a close's
// "has the date ended" is); the last closed settlement date on or after it; and the last date
// after it that claims or breakage rows already have (each NULL if none). Both maxima are read
// from the settlement_date indexes.
constexpr const char* kDatesAheadSql =
    "WITH today AS (SELECT ($2::timestamptz AT TIME ZONE $1)::date AS day) "
    "SELECT to_char(day, 'YYYY-MM-DD'), "
    "  (SELECT to_char(max(settlement_date), 'YYYY-MM-DD') FROM settlement_runs "
    "   WHERE settlement_date >= day), "
    "  (SELECT to_char(max(booked), 'YYYY-MM-DD') FROM ("
    "     SELECT max(settlement_date) AS booked FROM claims "
    "     UNION ALL SELECT max(settlement_date) FROM lot_expiries) AS last "
    "   WHERE booked > day) "
    "FROM today";
constexpr const char* kInsertSql =
    "INSERT INTO program_settings (currency, point_value, issue_fee, validity_months, timezone)"
    " VALUES ($1, $2, $3, $4, $5)";

// 1,000 major units a point: a claim's amount (at most 10^7 points) stays below 10^16 micro-units,
// and a day's sums stay inside int64 up to 922 claims of 10^7 points at that price. At 10^12,
// the bound until 2026-11-23, one burn of 9.3 million points overflowed (a 500 for a valid
// claim) and a day's sums could too (a date that never closes).
constexpr std::int64_t kMoneyPerPointMax = 1'000'000'000;
constexpr std::size_t kTimezoneMaxLength = 64;

ProgramSettingError invalid(const std::string& reason) {
    return ProgramSettingError(ProgramSettingError::Kind::invalid, reason);
}

std::int64_t parse_bounded(std::string_view key, std::string_view text, std::int64_t min,
                           std::int64_t max) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        throw invalid(std::string(key) + ": expected an integer, got '" + std::string(text) + "'");
    }
    if (value < min || value > max) {
        throw invalid(std::string(key) + ": " + std::string(text) + " is outside " +
                      std::to_string(min) + ".." + std::to_string(max));
    }
    return value;
}

// A code ISO 4217 lists with a minor unit: the statements round to it (settlement/rounding).
// Three capital letters alone would let in XAU (gold) or XXX (no currency), which have none,
// and codes ISO 4217 does not list.
bool is_currency_code(std::string_view text) {
    return settlement::iso4217_minor_unit_exponent(text).has_value();
}

// IANA names are ASCII letters, digits and "/_+-"; anything else cannot name a zone.
bool is_timezone_syntax(std::string_view text) {
    if (text.empty() || text.size() > kTimezoneMaxLength) return false;
    for (char c : text) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '+' || c == '-';
        if (!ok) return false;
    }
    return true;
}

// Names the zone database lists that are not a place's time: `localtime` follows whatever the
// database host's /etc/localtime says (settlement dates would move with a host change, past
// every check a `timezone` change makes), `posixrules` and `Factory` are internals, `right/`
// counts leap seconds, and `posix/` duplicates the place names under a directory distributions
// may drop.
bool is_place_zone(std::string_view name) {
    return name != "localtime" && name != "posixrules" && name != "Factory" &&
           !name.starts_with("posix/") && !name.starts_with("right/");
}

ProgramSettings read_row(const pqxx::row& row) {
    ProgramSettings out;
    out.version = row[0].as<std::int64_t>();
    out.currency = row[1].as<std::string>();
    out.point_value = Micros(row[2].as<std::int64_t>());
    out.issue_fee = Micros(row[3].as<std::int64_t>());
    out.validity_months = row[4].as<int>();
    out.timezone = row[5].as<std::string>();
    out.effective_from = row[6].as<std::string>();
    return out;
}

}  // namespace

void validate_program_setting(std::string_view key, std::string_view value) {
    if (key == "currency") {
        if (!is_currency_code(value)) {
            throw invalid(
                "currency: expected an ISO 4217 code of a currency with a minor unit "
                "(EUR, USD, JPY...), got '" +
                std::string(value) + "'");
        }
    } else if (key == "point_value") {
        parse_bounded(key, value, 1, kMoneyPerPointMax);
    } else if (key == "issue_fee") {
        parse_bounded(key, value, 0, kMoneyPerPointMax);
    } else if (key == "validity_months") {
        parse_bounded(key, value, 1, 1200);
    } else if (key == "timezone") {
        if (!is_timezone_syntax(value) || !is_place_zone(value)) {
            throw invalid("timezone: '" + std::string(value) + "' is not an IANA time zone name");
        }
    } else {
        throw invalid("unknown program setting '" + std::string(key) +
                      "' (currency, point_value, issue_fee, validity_months, timezone)");
    }
}

ProgramSettings current_program(pqxx::transaction_base& tx) {
    const auto result = tx.exec(kSelectCurrentSql);
    // 0001_initial.sql inserts the defaults and the table is append-only, so a row always exists.
    if (result.empty()) throw std::logic_error("program_settings is empty");
    return read_row(result[0]);
}

ProgramSettings set_program_setting(pqxx::transaction_base& tx, std::string_view key,
                                    std::string_view value, std::int64_t now_us) {
    validate_program_setting(key, value);
    // A zone PostgreSQL does not know is a bad argument: said before the locks below, which
    // would hold bookings back for nothing (or report a typo as a conflict to retry).
    if (key == "timezone" &&
        !tx.exec_params(kTimezoneExistsSql, std::string(value))[0][0].as<bool>()) {
        throw invalid("timezone: '" + std::string(value) + "' is not a known time zone");
    }
    tx.exec(kLockSql);
    tx.exec(std::string("SET LOCAL lock_timeout = '") + kBookingsWaitMax + "'");
    try {
        tx.exec(kLockBookingsSql);
    } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() != "55P03") throw;  // lock_not_available
        throw ProgramSettingError(ProgramSettingError::Kind::conflict,
                                  std::string("bookings in flight did not finish within ") +
                                      kBookingsWaitMax + "; nothing changed, try again");
    }
    tx.exec("SET LOCAL lock_timeout TO DEFAULT");
    ProgramSettings next = current_program(tx);
    if (key == "currency") {
        // Clearing nets amounts of one currency; a run cannot mix two.
        if (value != next.currency && tx.exec(kAnyClaimSql)[0][0].as<bool>()) {
            throw ProgramSettingError(ProgramSettingError::Kind::conflict,
                                      "currency cannot change once claims exist");
        }
        next.currency = std::string(value);
    } else if (key == "point_value") {
        next.point_value = Micros(parse_bounded(key, value, 1, kMoneyPerPointMax));
    } else if (key == "issue_fee") {
        next.issue_fee = Micros(parse_bounded(key, value, 0, kMoneyPerPointMax));
    } else if (key == "validity_months") {
        next.validity_months = static_cast<int>(parse_bounded(key, value, 1, 1200));
    } else if (key == "timezone") {
        // Claims accepted after the change are dated in the new zone. Refused while that puts
        // them on a date already closed (moving west past a close: every claim refused for
        // hours), or before dates claims or breakage already have (moving west past midnight:
        // a lot that expired on the later date would be valid again on the earlier one, its
        // points both redeemed and counted as breakage). The change can be made once that date
        // has come in the new zone.
        const auto ahead =
            tx.exec_params1(kDatesAheadSql, std::string(value), timestamp_literal(now_us));
        const auto refuse = [&](const std::string& because) {
            throw ProgramSettingError(ProgramSettingError::Kind::conflict,
                                      "timezone: it is " + ahead[0].as<std::string>() + " in " +
                                          std::string(value) + ", and " + because);
        };
        if (!ahead[1].is_null()) {
            refuse("settlement date " + ahead[1].as<std::string>() +
                   " is already closed; claims accepted now would fall on a closed date");
        }
        if (!ahead[2].is_null()) {
            refuse("claims or breakage are already dated " + ahead[2].as<std::string>() +
                   "; the date would go back. Make the change once it is that date there");
        }
        next.timezone = std::string(value);
    }
    tx.exec_params(kInsertSql, next.currency, next.point_value.value(), next.issue_fee.value(),
                   next.validity_months, next.timezone);
    return current_program(tx);
}

}  // namespace coalition::storage
