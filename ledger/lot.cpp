#include "ledger/lot.hpp"

#include <unordered_set>

#include "ledger/result.hpp"

namespace coalition::ledger {

void check_lot(const Lot& lot) {
    require(lot.issued > Points(0), "lot: points_issued must be > 0");
    require(lot.debt_repaid >= Points(0), "lot: debt_repaid must be >= 0");
    require(lot.remaining >= Points(0), "lot: points_remaining must be >= 0");
    require(lot.debt_repaid + lot.remaining <= lot.issued,
            "lot: debt_repaid + points_remaining must be <= points_issued");
    require(!lot.reversed || lot.remaining == Points(0), "lot: a reversed lot must be empty");
    require(lot.expires_on.ok(), "lot: expires_on must be a valid date");
}

Points spendable_capacity(const Lot& lot) { return lot.issued - lot.debt_repaid; }

bool is_open(const Lot& lot, Date today) {
    return !lot.reversed && std::chrono::sys_days(today) <= std::chrono::sys_days(lot.expires_on);
}

bool fifo_before(const Lot& a, const Lot& b) {
    if (a.expires_on != b.expires_on) return a.expires_on < b.expires_on;
    if (a.accepted_at_us != b.accepted_at_us) return a.accepted_at_us < b.accepted_at_us;
    return a.id < b.id;
}

Points balance(std::span<const Lot> lots, Points debt, Date today) {
    Points open{0};
    for (const Lot& lot : lots) {
        if (is_open(lot, today)) open += lot.remaining;
    }
    return open - debt;
}

void check_member(std::span<const Lot> lots, Points debt) {
    require(debt >= Points(0), "member: debt must be >= 0");
    std::unordered_set<LotId> seen;
    for (const Lot& lot : lots) {
        check_lot(lot);
        require(seen.insert(lot.id).second, "member: a lot is listed twice");
    }
}

}  // namespace coalition::ledger
