#include "ledger/breakage.hpp"

#include <algorithm>
#include <map>

#include "ledger/expiry.hpp"
#include "ledger/result.hpp"

namespace coalition::ledger {

std::vector<LotExpiry> expiries_on(std::span<const Lot> lots, Date settlement_date) {
    require(settlement_date.ok(), "expiries_on: invalid settlement date");
    std::vector<LotExpiry> out;
    for (const Lot& lot : lots) {
        check_lot(lot);
        if (lot.remaining > Points(0) && breakage_date(lot.expires_on) == settlement_date) {
            out.push_back(LotExpiry{lot.id, lot.issuer, lot.remaining, settlement_date});
        }
    }
    std::sort(out.begin(), out.end(),
              [](const LotExpiry& a, const LotExpiry& b) { return a.lot_id < b.lot_id; });
    return out;
}

std::vector<IssuerPoints> breakage_by_issuer(std::span<const LotExpiry> expiries) {
    std::map<PartnerId, Points> per_issuer;
    for (const LotExpiry& expiry : expiries) {
        require(expiry.points > Points(0), "breakage_by_issuer: points must be > 0");
        per_issuer[expiry.issuer] += expiry.points;
    }
    std::vector<IssuerPoints> out;
    out.reserve(per_issuer.size());
    for (const auto& [issuer, points] : per_issuer) out.push_back(IssuerPoints{issuer, points});
    return out;
}

std::vector<IssuerPoints> breakage_on(std::span<const Lot> lots, Date settlement_date) {
    const std::vector<LotExpiry> expiries = expiries_on(lots, settlement_date);
    return breakage_by_issuer(expiries);
}

std::optional<LotExpiry> expiry_snapshot(const Lot& lot, Date today) {
    check_lot(lot);
    if (lot.reversed || is_open(lot, today) || lot.remaining == Points(0)) return std::nullopt;
    return LotExpiry{lot.id, lot.issuer, lot.remaining, breakage_date(lot.expires_on)};
}

}  // namespace coalition::ledger
