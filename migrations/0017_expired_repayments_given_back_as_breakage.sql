-- Points a burn reversal returns to a lot whose earn was refunded give back, beyond the member's
-- debt, the later earns' repayments of that debt (migration 0015). A repaying lot that had
-- expired by then was skipped: the points went on to the refunded issuer, as a new lot the
-- member could spend when the refunded lot was still valid. Had the burn never happened, the
-- repaying earn's points would have stayed in its lot and expired with it: they are now
-- breakage of the repaying issuer, on the reversal's date, in a row that names the repaying lot
-- here (its lot_id is the refunded lot the points came back to, as for the rest of what that
-- reversal's slice returned). A lot gives back at most what it repaid, lots and breakage
-- together, and a refund of it does not make debt of what it gave back as breakage
-- (ledger::plan_earn_reversal); `coalitionctl check` proves both.
ALTER TABLE lot_expiries ADD COLUMN restores_lot_id bigint REFERENCES lots (id),
    ADD CONSTRAINT lot_expiries_restores_only_returned
        CHECK (restores_lot_id IS NULL OR claim_id IS NOT NULL);
-- A lot's own row, and one row per reversal, lot returned to and repayment given back.
ALTER TABLE lot_expiries DROP CONSTRAINT lot_expiries_lot_id_claim_id_key,
    ADD CONSTRAINT lot_expiries_one_per_lot_claim_and_repayment
        UNIQUE NULLS NOT DISTINCT (lot_id, claim_id, restores_lot_id);
-- What a repaying lot gave back already, summed at each such reversal and at its refund.
CREATE INDEX lot_expiries_restoring ON lot_expiries (restores_lot_id)
    WHERE restores_lot_id IS NOT NULL;
