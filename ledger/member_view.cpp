#include "ledger/member_view.hpp"

#include <algorithm>

namespace coalition::ledger {

MemberView member_view(std::span<const Lot> lots, Points debt, Date today) {
    check_member(lots, debt);
    std::vector<const Lot*> open;
    for (const Lot& lot : lots) {
        if (is_open(lot, today) && lot.remaining > Points(0)) open.push_back(&lot);
    }
    std::sort(open.begin(), open.end(),
              [](const Lot* a, const Lot* b) { return fifo_before(*a, *b); });

    MemberView view;
    view.debt = debt;
    view.balance = balance(lots, debt, today);
    for (const Lot* lot : open) {
        view.lots.push_back(OpenLot{lot->id, lot->issuer, lot->remaining, lot->expires_on});
        // FIFO order sorts by expires_on first, so equal dates are adjacent.
        if (view.expiring.empty() || view.expiring.back().on != lot->expires_on) {
            view.expiring.push_back(ExpiringPoints{lot->expires_on, Points(0)});
        }
        view.expiring.back().points += lot->remaining;
    }
    return view;
}

}  // namespace coalition::ledger
