-- A burn reversal that gives back a repaying earn's repayment of debt credits its points as a
-- lot of that earn's issuer that names the earn's lot (restores_lot_id, migration 0015). When
-- that earn is refunded afterwards, its reversal made the whole repayment debt again and left
-- the given-back lot standing: the refunded issuer stayed liable for those points, and the next
-- earn, of another partner, paid the debt instead of holding them (so a burn of them billed the
-- refunded issuer). What such lots hold is the earn's own: its reversal now empties them and
-- marks them reversed by the same claim, and adds to the debt only what is gone from the earn
-- and from them (ledger::plan_earn_reversal).
--
-- So one claim may now mark several lots reversed: the earn's own lot, still at most one (the
-- second column is 0 for it), and the lots restoring it (their own ids there). Its first column
-- is reversed_by_claim_id alone, as before, so look-ups by the reversal (the close's outstanding
-- points) still use it. `coalitionctl check` proves that each restoring lot marked reversed
-- names the lot that claim reversed.
CREATE UNIQUE INDEX lots_reversed_with_their_restorations
    ON lots (reversed_by_claim_id, (CASE WHEN restores_lot_id IS NULL THEN 0 ELSE id END))
    WHERE reversed_by_claim_id IS NOT NULL;
DROP INDEX lots_reversed_at_most_once;
-- Only a lot of an earn, or a lot restoring one, is ever reversed: the other reissued lots
-- belong to the issuer of a lot that was refunded already.
ALTER TABLE lots ADD CONSTRAINT lots_reversed_only_earns_and_restorations
    CHECK (reversed_by_claim_id IS NULL OR reissued_from_lot_id IS NULL
           OR restores_lot_id IS NOT NULL);
