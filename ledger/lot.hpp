#pragma once
// The ledger's view of a member's points, as the storage layer loads them under the member's row
// lock: plain values mirroring the `lots` and `slices` tables of migrations/0001_initial.sql.
#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "core/money.hpp"

namespace coalition::ledger {

using Date = std::chrono::year_month_day;
using LotId = std::int64_t;
using SliceId = std::int64_t;
using PartnerId = std::string;  // partners.id: the entity_id text, not a surrogate number

// One row of `lots`.
struct Lot {
    LotId id = 0;
    PartnerId issuer;
    Points issued{0};       // points_issued
    Points debt_repaid{0};  // the part of the earn that paid earlier debt, never spendable
    Points remaining{0};    // points_remaining
    std::int64_t accepted_at_us = 0;  // acceptance time, microseconds since the Unix epoch
    Date expires_on{};
    bool reversed = false;  // reversed_by_claim_id IS NOT NULL

    friend bool operator==(const Lot&, const Lot&) = default;
};

// Throws LedgerBug unless the lot satisfies the table's CHECK constraints: issued > 0,
// debt_repaid >= 0, remaining >= 0, debt_repaid + remaining <= issued, reversed => remaining = 0.
void check_lot(const Lot& lot);

// The most points the lot may ever hold again: what the earn put in it.
Points spendable_capacity(const Lot& lot);

// A lot counts in the balance through expires_on inclusive, not from the next day, and never
// once its earn was reversed.
bool is_open(const Lot& lot, Date today);

// FIFO order of consumption: earliest expiry, then earliest acceptance, then lowest id
// (the order of the lots_open_fifo index).
bool fifo_before(const Lot& a, const Lot& b);

// Σ remaining of open lots − debt. Negative while the debt exceeds what is open. The debt counts
// against spending: a member cannot spend points that are already owed back to the program.
Points balance(std::span<const Lot> lots, Points debt, Date today);

// Throws LedgerBug on a negative debt, an invalid lot, or a lot id listed twice.
void check_member(std::span<const Lot> lots, Points debt);

}  // namespace coalition::ledger
