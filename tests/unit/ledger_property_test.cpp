// Randomized, seeded and bounded: thousands of earn / burn / reversal / passing-day sequences
// against the ledger's pure rules, checking the invariants after every step. A failure prints
// the seed and step so it can be replayed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "ledger/burn.hpp"
#include "ledger/earn.hpp"
#include "ledger/expiry.hpp"
#include "ledger/member_view.hpp"
#include "ledger/reversal.hpp"

namespace coalition::ledger {
namespace {

constexpr int kSequences = 2'000;
constexpr int kStepsPerSequence = 40;
constexpr std::uint64_t kSeed = 20261122;
constexpr Micros kPointValue{10'000};
const std::vector<PartnerId> kPartners = {"grocer", "fuel", "airline"};

// How often each interesting branch ran, so the test fails if the random walk stops reaching one.
struct Coverage {
    int burns = 0;
    int refusals = 0;
    int burns_in_debt = 0;
    int burn_reversals = 0;
    int double_reversals = 0;
    int earn_reversals = 0;
    int returned_as_breakage = 0;
    int reissues = 0;
    int repayments_given_back = 0;    // reissues restoring a repaying lot
    int refunds_taking_restored = 0;  // earn reversals emptying restoring lots that held points
};

class Simulation {
  public:
    Simulation(std::uint64_t seed, Coverage& coverage) : random_(seed), coverage_(coverage) {}

    void step() {
        switch (pick(0, 9)) {
            case 0:
            case 1:
            case 2:
                earn();
                break;
            case 3:
            case 4:
            case 5:
                burn();
                break;
            case 6:
                reverse_burn();
                break;
            case 7:
                reverse_earn();
                break;
            default:
                pass_days();
                break;
        }
        check_invariants();
    }

  private:
    std::int64_t pick(std::int64_t low, std::int64_t high) {
        return std::uniform_int_distribution<std::int64_t>(low, high)(random_);
    }
    const PartnerId& any_partner() { return kPartners[static_cast<std::size_t>(pick(0, 2))]; }

    void earn() {
        const EarnOutcome outcome = apply_earn(debt_, Points(pick(1, 200)));
        expected_debt_ -= outcome.debt_repaid;
        // Coarse acceptance times make ties on accepted_at frequent, so the id tiebreak runs.
        lots_.push_back(make_lot(next_lot_id_++, any_partner(), outcome, pick(0, 3), today_,
                                 static_cast<int>(pick(1, 3))));
        origin_[lots_.back().id].claim = next_claim_id_++;
        debt_ = outcome.new_debt;
    }

    // What storage reads for a burn reversal (ledger::DebtRepayments): the earn reversal of each
    // reversed lot the burn touched, and the standing earns that repaid debt, less what lots
    // restoring them were given already.
    DebtRepayments repayments_for(const BurnRecord& record) {
        DebtRepayments out;
        for (const Slice& slice : record.slices) {
            if (find(slice.lot_id).reversed)
                out.reversed_by[slice.lot_id] = origin_[slice.lot_id].reversed_by;
        }
        if (out.reversed_by.empty()) return out;
        for (const Lot& lot : lots_) {
            const Origin& origin = origin_[lot.id];
            if (lot.debt_repaid == Points(0) || lot.reversed || origin.reissue) continue;
            Points restorable = lot.debt_repaid;
            for (const Lot& other : lots_) {
                if (origin_[other.id].restores == lot.id) restorable -= other.issued;
            }
            out.lots.push_back(
                Repayment{lot.id, origin.claim, lot.issuer, lot.expires_on, restorable});
        }
        return out;
    }

    Lot& find(LotId id) {
        auto it =
            std::find_if(lots_.begin(), lots_.end(), [&](const Lot& lot) { return lot.id == id; });
        EXPECT_NE(it, lots_.end());
        return *it;
    }

    void burn() {
        const Points points(pick(1, 300));
        const Points before = balance(lots_, debt_, today_);
        auto result = plan_burn(lots_, debt_, points, any_partner(), kPointValue, today_);
        ++next_claim_id_;
        if (!result.ok()) {
            ASSERT_EQ(result.error(), ErrorCode::insufficient_points);
            ASSERT_LT(before, points);
            ++coverage_.refusals;
            return;
        }
        ASSERT_GE(before, points) << "a burn succeeded beyond the balance";
        ++coverage_.burns;
        if (debt_ > Points(0)) ++coverage_.burns_in_debt;
        const BurnOutcome& out = result.value();
        Points sliced{0};
        for (const Slice& slice : out.slices) sliced += slice.points;
        ASSERT_EQ(sliced, points);
        check_fifo(out);
        apply_lot_updates(lots_, out.lot_updates);
        ASSERT_EQ(balance(lots_, debt_, today_), out.balance_after);

        BurnRecord record{out.slices, false};
        for (Slice& slice : record.slices) {
            slice.id = next_slice_id_++;
            consumed_[slice.lot_id] += slice.points;
        }
        burns_.push_back(std::move(record));
    }

    // Every lot before the last one touched in FIFO order was emptied, and no open lot with
    // points sorts before a touched one without being touched itself.
    void check_fifo(const BurnOutcome& out) {
        std::vector<const Lot*> touched;
        for (const Slice& slice : out.slices) {
            auto it = std::find_if(lots_.begin(), lots_.end(),
                                   [&](const Lot& lot) { return lot.id == slice.lot_id; });
            ASSERT_NE(it, lots_.end());
            ASSERT_TRUE(is_open(*it, today_)) << "a burn touched an expired or reversed lot";
            touched.push_back(&*it);
        }
        for (std::size_t i = 0; i + 1 < touched.size(); ++i) {
            ASSERT_EQ(out.slices[i].points, touched[i]->remaining);
            ASSERT_TRUE(fifo_before(*touched[i], *touched[i + 1]));
        }
        const Lot& last = *touched.back();
        for (const Lot& lot : lots_) {
            if (!is_open(lot, today_) || lot.remaining == Points(0)) continue;
            if (!fifo_before(lot, last)) continue;
            ASSERT_TRUE(std::find(touched.begin(), touched.end(), &lot) != touched.end())
                << "lot " << lot.id << " was skipped out of FIFO order";
        }
    }

    void reverse_burn() {
        if (burns_.empty()) return;
        BurnRecord& record = burns_[static_cast<std::size_t>(pick(0, std::ssize(burns_) - 1))];
        auto result = plan_burn_reversal(record, lots_, debt_, today_, repayments_for(record));
        const auto claim = next_claim_id_++;
        if (record.reversed) {
            ASSERT_FALSE(result.ok());
            ASSERT_EQ(result.error(), ErrorCode::already_reversed);
            ++coverage_.double_reversals;
            return;
        }
        ASSERT_TRUE(result.ok());
        const BurnReversalOutcome& out = result.value();
        ++coverage_.burn_reversals;
        coverage_.returned_as_breakage += static_cast<int>(out.breakage.size());
        coverage_.reissues += static_cast<int>(out.reissues.size());
        Points original{0};
        for (const Slice& slice : record.slices) original += slice.points;
        ASSERT_EQ(out.points, original);
        ASSERT_EQ(out.slices.size(), record.slices.size());
        for (std::size_t i = 0; i < out.slices.size(); ++i) {
            ASSERT_EQ(out.slices[i].points, record.slices[i].points);
            ASSERT_EQ(out.slices[i].amount, record.slices[i].amount);
            ASSERT_EQ(out.slices[i].debtor(), record.slices[i].creditor());
        }
        for (const LotUpdate& update : out.lot_updates) {
            consumed_[update.lot_id] -= update.remaining_after - update.remaining_before;
        }
        apply_lot_updates(lots_, out.lot_updates);
        expected_debt_ -= out.debt_repaid;
        debt_ = out.new_debt;
        for (const Reissue& reissue : out.reissues) {
            Lot lot;
            lot.id = next_lot_id_++;
            lot.issuer = reissue.issuer;
            lot.issued = reissue.points;
            lot.remaining = reissue.points;
            lot.accepted_at_us = pick(0, 3);
            lot.expires_on = reissue.expires_on;
            lots_.push_back(lot);
            origin_[lot.id] = Origin{claim, 0, reissue.restores_lot_id, true};
            if (reissue.restores_lot_id != 0) {
                ++coverage_.repayments_given_back;
                const Lot& restored = find(reissue.restores_lot_id);
                ASSERT_FALSE(restored.reversed) << "a refunded earn's repayment given back";
                ASSERT_EQ(lot.issuer, restored.issuer);
                ASSERT_EQ(lot.expires_on, restored.expires_on);
            }
        }
        ASSERT_EQ(balance(lots_, debt_, today_), out.balance_after);
        record.reversed = true;
    }

    void reverse_earn() {
        std::vector<LotId> earns;
        for (const Lot& lot : lots_) {
            if (!origin_[lot.id].reissue) earns.push_back(lot.id);
        }
        if (earns.empty()) return;
        Lot& lot = find(earns[static_cast<std::size_t>(pick(0, std::ssize(earns) - 1))]);
        std::vector<Lot> restoring;
        for (const Lot& other : lots_) {
            if (origin_[other.id].restores == lot.id) restoring.push_back(other);
        }
        auto result = plan_earn_reversal(lot, debt_, today_, restoring);
        const auto claim = next_claim_id_++;
        if (lot.reversed) {
            ASSERT_FALSE(result.ok());
            ASSERT_EQ(result.error(), ErrorCode::already_reversed);
            return;
        }
        ASSERT_TRUE(result.ok());
        const EarnReversalOutcome& out = result.value();
        ASSERT_EQ(out.points_removed + out.debt_added, lot.issued);
        ASSERT_EQ(out.restoring_updates.size(), restoring.size());
        ++coverage_.earn_reversals;
        expected_debt_ += out.debt_added;
        std::vector<LotUpdate> emptied = out.restoring_updates;
        emptied.push_back(out.lot_update);
        for (const LotUpdate& update : emptied) {
            Lot& held = find(update.lot_id);
            ASSERT_EQ(update.remaining_before, held.remaining);
            ASSERT_EQ(update.remaining_after, Points(0));
            if (held.id != lot.id && held.remaining > Points(0))
                ++coverage_.refunds_taking_restored;
            removed_[held.id] += held.remaining;
            held.remaining = Points(0);
            held.reversed = true;
            origin_[held.id].reversed_by = claim;
        }
        debt_ = out.new_debt;
    }

    void pass_days() {
        today_ = Date(std::chrono::sys_days(today_) + std::chrono::days(pick(0, 40)));
    }

    void check_invariants() {
        ASSERT_GE(debt_, Points(0));
        ASSERT_EQ(debt_, expected_debt_) << "debt drifted from what the decisions reported";
        Points open{0};
        std::map<LotId, Points> given_back;  // per repaying lot, by the lots restoring it
        for (const Lot& lot : lots_) {
            ASSERT_NO_THROW(check_lot(lot));
            ASSERT_GE(lot.remaining, Points(0));
            ASSERT_LE(lot.remaining, lot.issued - lot.debt_repaid);
            // Every point an earn put in is still there, was burnt (net of reversals), repaid
            // debt, or was removed by the earn's reversal.
            ASSERT_EQ(lot.issued,
                      lot.remaining + lot.debt_repaid + consumed_[lot.id] + removed_[lot.id]);
            if (is_open(lot, today_)) open += lot.remaining;
            // A lot giving back a repayment goes with the repaying lot: reversed with it, and
            // never given more than it repaid.
            const Origin& origin = origin_[lot.id];
            if (origin.restores != 0) {
                const Lot& restored = find(origin.restores);
                ASSERT_EQ(lot.reversed, restored.reversed);
                ASSERT_EQ(origin.reversed_by, origin_[restored.id].reversed_by);
                given_back[origin.restores] += lot.issued;
            }
        }
        for (const auto& [id, given] : given_back) ASSERT_LE(given, find(id).debt_repaid);
        ASSERT_EQ(balance(lots_, debt_, today_), open - debt_);
        const MemberView view = member_view(lots_, debt_, today_);
        Points listed{0};
        for (const OpenLot& lot : view.lots) listed += lot.points;
        Points expiring{0};
        for (const ExpiringPoints& entry : view.expiring) expiring += entry.points;
        ASSERT_EQ(listed, open);
        ASSERT_EQ(expiring, open);
        ASSERT_EQ(view.balance, open - debt_);
    }

    std::mt19937_64 random_;
    Coverage& coverage_;
    Date today_{std::chrono::year{2025}, std::chrono::January, std::chrono::day{1}};
    std::vector<Lot> lots_;
    Points debt_{0};
    Points expected_debt_{0};
    std::vector<BurnRecord> burns_;
    std::map<LotId, Points> consumed_;
    std::map<LotId, Points> removed_;
    // Per lot: the claim that made it, the earn reversal that marked it, the repaying lot it
    // restores (reissues only).
    struct Origin {
        std::int64_t claim = 0;
        std::int64_t reversed_by = 0;
        LotId restores = 0;
        bool reissue = false;
    };
    std::map<LotId, Origin> origin_;
    std::int64_t next_claim_id_ = 1;
    LotId next_lot_id_ = 1;
    SliceId next_slice_id_ = 1;
};

TEST(LedgerProperty, InvariantsHoldAcrossRandomSequences) {
    Coverage coverage;
    for (int sequence = 0; sequence < kSequences; ++sequence) {
        Simulation simulation(kSeed + static_cast<std::uint64_t>(sequence), coverage);
        for (int step = 0; step < kStepsPerSequence; ++step) {
            SCOPED_TRACE(testing::Message() << "sequence " << sequence << " step " << step);
            simulation.step();
            if (testing::Test::HasFatalFailure()) return;
        }
    }
    EXPECT_GT(coverage.burns, 1000);
    EXPECT_GT(coverage.refusals, 1000);
    EXPECT_GT(coverage.burns_in_debt, 100);
    EXPECT_GT(coverage.burn_reversals, 1000);
    EXPECT_GT(coverage.double_reversals, 100);
    EXPECT_GT(coverage.earn_reversals, 1000);
    EXPECT_GT(coverage.returned_as_breakage, 100);
    EXPECT_GT(coverage.reissues, 10);
    EXPECT_GT(coverage.repayments_given_back, 10);
    EXPECT_GT(coverage.refunds_taking_restored, 10);
    std::printf(
        "burns %d, refused %d, in debt %d, burn reversals %d (double %d), earn reversals "
        "%d, returned as breakage %d, reissues %d (repayments given back %d, taken by refunds "
        "%d)\n",
        coverage.burns, coverage.refusals, coverage.burns_in_debt, coverage.burn_reversals,
        coverage.double_reversals, coverage.earn_reversals, coverage.returned_as_breakage,
        coverage.reissues, coverage.repayments_given_back, coverage.refunds_taking_restored);
}

}  // namespace
}  // namespace coalition::ledger
