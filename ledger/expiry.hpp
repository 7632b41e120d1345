#pragma once
// When a lot stops counting.
#include "ledger/lot.hpp"

namespace coalition::ledger {

// validity_months is bounded like program_settings.validity_months.
inline constexpr int kValidityMonthsMin = 1;
inline constexpr int kValidityMonthsMax = 1200;

// The last day of the calendar month `validity_months` after the month of `accepted_on`
// (2023-01-15, 36 → 2026-01-31; 2024-02-29, 12 → 2025-02-28). Counting whole calendar months
// rather than days makes the expiry independent of the day of the month the member earned on.
// Throws LedgerBug on an invalid date or a validity outside [1, 1200].
Date expires_on(Date accepted_on, int validity_months);

// The settlement date whose breakage a lot's expiry belongs to: the day after expires_on.
Date breakage_date(Date expires_on);

}  // namespace coalition::ledger
