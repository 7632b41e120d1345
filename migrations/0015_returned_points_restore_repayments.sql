-- Points a burn reversal returns to a lot whose earn was reversed go first to the member's
-- debt; the rest was reissued under the reversed lot's issuer. When later earns had already
-- paid that debt, that gave the refunded issuer a new liability while the issuer whose earn
-- repaid the debt, and stands, was liable for none of its points: which partner owed what
-- depended on the order of the same claims. Such points now give back those repayments first
-- (ledger/reversal.hpp): a reissued lot of the repaying lot's issuer and expiry, which names
-- that lot here. A lot gives back at most what it repaid (`coalitionctl check`).
ALTER TABLE lots ADD COLUMN restores_lot_id bigint REFERENCES lots (id),
    ADD CONSTRAINT lots_restores_only_as_reissue
        CHECK (restores_lot_id IS NULL OR reissued_from_lot_id IS NOT NULL);
-- One lot per earn, and one reissue per reversal, reversed lot and repayment given back.
ALTER TABLE lots DROP CONSTRAINT lots_claim_id_reissued_from_lot_id_key,
    ADD CONSTRAINT lots_one_per_earn_and_reissue
        UNIQUE NULLS NOT DISTINCT (claim_id, reissued_from_lot_id, restores_lot_id);
-- What a repaying lot gave back already, summed at each such reversal; and a member's repaying
-- lots, which such a reversal reads under the member's lock (most hold no points any more, so
-- lots_open_fifo does not have them: without this, a scan of every lot). debt_repaid never
-- changes, so lot updates stay HOT.
CREATE INDEX lots_restoring ON lots (restores_lot_id) WHERE restores_lot_id IS NOT NULL;
CREATE INDEX lots_repaying_debt ON lots (member_id) WHERE debt_repaid > 0;
-- Part of the lot's origin (migration 0013).
CREATE TRIGGER lots_restoration_fixed BEFORE UPDATE OF restores_lot_id ON lots FOR EACH ROW
    WHEN (OLD.restores_lot_id IS DISTINCT FROM NEW.restores_lot_id)
    EXECUTE FUNCTION forbid_lot_origin_change();
