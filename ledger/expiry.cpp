#include "ledger/expiry.hpp"

#include "ledger/result.hpp"

namespace coalition::ledger {

Date expires_on(Date accepted_on, int validity_months) {
    using namespace std::chrono;
    require(accepted_on.ok(), "expires_on: invalid acceptance date");
    require(validity_months >= kValidityMonthsMin && validity_months <= kValidityMonthsMax,
            "expires_on: validity_months out of range");
    const year_month expiry_month =
        year_month(accepted_on.year(), accepted_on.month()) + months(validity_months);
    return Date(expiry_month / last);
}

Date breakage_date(Date expires_on) {
    return Date(std::chrono::sys_days(expires_on) + std::chrono::days(1));
}

}  // namespace coalition::ledger
