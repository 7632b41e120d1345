-- Two holes in the tables' own guards, which hold for what no code path does but an operator's
-- psql session or a future bug could (data-model.md, "Invariants the database enforces").

-- 1. A closed date's statements were append-only but not closed: a row added after the close
-- (a partner's statement stored twice, or a partner the run does not name) made every read of
-- that date's run and statements fail its integrity check. The close stores its run and then
-- its statements in one transaction; a run this transaction wrote is that close in progress,
-- one committed before it is a closed date.
CREATE FUNCTION forbid_statement_of_closed_date() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    closed date;
BEGIN
    SELECT r.settlement_date INTO closed
    FROM settlement_runs r JOIN (SELECT DISTINCT settlement_date FROM inserted) AS i
         USING (settlement_date)
    WHERE r.xmin <> pg_current_xact_id()::xid
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'settlement date % is closed: INSERT into settlement_statements refused',
            closed USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER settlement_statements_of_closed_date AFTER INSERT ON settlement_statements
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_statement_of_closed_date();

-- 2. A lot's origin never changes: who issued it, for which claim, how many points, the fee
-- and the date they count on. Changing any of them would move issuance, fees or debts between
-- dates or partners (into a closed date too: the closed-date guard checks inserts). Bookings
-- change only points_remaining and reversed_by_claim_id (and is_open, generated from it); the
-- trigger fires only for an UPDATE that names one of these columns, so they pay nothing for it.
CREATE FUNCTION forbid_lot_origin_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a lot''s origin never changes (lot %): UPDATE refused', OLD.id
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER lots_origin_fixed
    BEFORE UPDATE OF id, issuer_id, claim_id, reissued_from_lot_id, points_issued, debt_repaid,
                     fee_micros, accepted_at, settlement_date
    ON lots FOR EACH ROW
    WHEN (OLD.id IS DISTINCT FROM NEW.id
          OR OLD.issuer_id IS DISTINCT FROM NEW.issuer_id
          OR OLD.claim_id IS DISTINCT FROM NEW.claim_id
          OR OLD.reissued_from_lot_id IS DISTINCT FROM NEW.reissued_from_lot_id
          OR OLD.points_issued IS DISTINCT FROM NEW.points_issued
          OR OLD.debt_repaid IS DISTINCT FROM NEW.debt_repaid
          OR OLD.fee_micros IS DISTINCT FROM NEW.fee_micros
          OR OLD.accepted_at IS DISTINCT FROM NEW.accepted_at
          OR OLD.settlement_date IS DISTINCT FROM NEW.settlement_date)
    EXECUTE FUNCTION forbid_lot_origin_change();

-- A reversed lot stays reversed, by the same claim.
CREATE FUNCTION forbid_lot_unreversal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lot % is reversed by claim %: UPDATE refused', OLD.id,
        OLD.reversed_by_claim_id USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER lots_stay_reversed BEFORE UPDATE OF reversed_by_claim_id ON lots
    FOR EACH ROW
    WHEN (OLD.reversed_by_claim_id IS NOT NULL
          AND OLD.reversed_by_claim_id IS DISTINCT FROM NEW.reversed_by_claim_id)
    EXECUTE FUNCTION forbid_lot_unreversal();
