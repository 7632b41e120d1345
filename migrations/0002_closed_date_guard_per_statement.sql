-- The guard that refuses rows into a closed settlement date (0001: forbid_closed_date, one
-- plpgsql call and one look-up per inserted row) now runs once per INSERT statement over its
-- transition table. Group commit inserts hundreds of claims, lots and slices per statement, and
-- the per-row calls were a measurable share of booking. The guarantee is unchanged: a statement
-- inserting any row whose settlement_date has a run fails as a whole with restrict_violation,
-- so nothing of it is stored. (Bookings also hold the date's shared advisory lock, which a
-- close takes exclusively; this guard is the last line behind that lock.)
CREATE FUNCTION forbid_closed_date_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    closed date;
BEGIN
    SELECT i.settlement_date INTO closed
    FROM inserted i JOIN settlement_runs r ON r.settlement_date = i.settlement_date
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'settlement date % is closed: % into % refused',
            closed, TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER claims_not_into_closed_date ON claims;
CREATE TRIGGER claims_not_into_closed_date AFTER INSERT ON claims
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION forbid_closed_date_rows();

DROP TRIGGER lots_not_into_closed_date ON lots;
CREATE TRIGGER lots_not_into_closed_date AFTER INSERT ON lots
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION forbid_closed_date_rows();

DROP TRIGGER slices_not_into_closed_date ON slices;
CREATE TRIGGER slices_not_into_closed_date AFTER INSERT ON slices
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION forbid_closed_date_rows();

DROP TRIGGER lot_expiries_not_into_closed_date ON lot_expiries;
CREATE TRIGGER lot_expiries_not_into_closed_date AFTER INSERT ON lot_expiries
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION forbid_closed_date_rows();

DROP FUNCTION forbid_closed_date();
