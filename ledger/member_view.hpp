#pragma once
// What GET /v1/members/{id} shows: the balance, the debt, open lots and when points expire.
#include <span>
#include <vector>

#include "ledger/lot.hpp"

namespace coalition::ledger {

struct OpenLot {
    LotId lot_id = 0;
    PartnerId issuer;
    Points points{0};
    Date expires_on{};

    friend bool operator==(const OpenLot&, const OpenLot&) = default;
};

struct ExpiringPoints {
    Date on{};
    Points points{0};

    friend bool operator==(const ExpiringPoints&, const ExpiringPoints&) = default;
};

struct MemberView {
    Points balance{0};  // Σ open − debt; negative while in debt beyond what is open
    Points debt{0};
    std::vector<OpenLot> lots;             // open lots holding points, in FIFO order
    std::vector<ExpiringPoints> expiring;  // open points per expires_on, ascending
};

// Throws LedgerBug on invalid lots or a negative debt.
MemberView member_view(std::span<const Lot> lots, Points debt, Date today);

}  // namespace coalition::ledger
