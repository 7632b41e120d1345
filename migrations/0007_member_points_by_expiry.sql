-- A member's balance is the points its lots still hold that have not expired, less its debt:
-- Σ points_remaining of its lots with expires_on on or after today. Summing the lots costs every
-- claim one index entry and one row per open lot, and a regular shopper holds dozens of lots,
-- up to hundreds over a 36-month validity (docs/performance.md, "Members with many open lots").
--
-- expires_on is always the last day of a month, so a member's lots fall on at most
-- validity_months + 1 dates that still count. This table keeps, for each member and expiry
-- date, the sum of points_remaining of the member's lots expiring that day; the balance sums
-- the rows dated today or later, as many as the months of validity, whatever the history.
-- Expiry needs no bookkeeping here: an expired date's row simply stops being summed.
--
-- The table is derived, never written by the application: statement-level triggers on lots
-- keep it, so every path that inserts or changes a lot keeps it, in the same statement.
-- Writing it directly is refused, and `coalitionctl check` proves it equals the lots.
-- No foreign key: each row is a sum of lots, whose own key proves the member exists.
-- No lot may be written between the fill below and the triggers that keep the totals from then
-- on: this lock waits for bookings in flight and holds new ones until the migration commits.
LOCK TABLE lots IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE member_points (
    member_id  entity_id NOT NULL,
    expires_on date      NOT NULL,
    points     bigint    NOT NULL CHECK (points >= 0),
    PRIMARY KEY (member_id, expires_on)
) WITH (fillfactor = 80);  -- room on the page, so that the totals' updates stay HOT

INSERT INTO member_points (member_id, expires_on, points)
SELECT member_id, expires_on, sum(points_remaining) FROM lots GROUP BY member_id, expires_on;

-- New lots add their points to their member's total for their date. Rows are written in key
-- order, so two statements never wait on each other's rows in opposite orders.
CREATE FUNCTION member_points_add_lots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_points AS total (member_id, expires_on, points)
    SELECT member_id, expires_on, sum(points_remaining) FROM inserted
    GROUP BY member_id, expires_on ORDER BY member_id, expires_on
    ON CONFLICT (member_id, expires_on) DO UPDATE SET points = total.points + EXCLUDED.points;
    RETURN NULL;
END $$;

-- Changed lots move their totals by what they gained or lost. A lot never changes member or
-- expiry date (refused below), so every total that moves already exists.
CREATE FUNCTION member_points_change_lots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE member_points AS total SET points = total.points + moved.change
    FROM (SELECT member_id, expires_on, sum(change) AS change
          FROM (SELECT member_id, expires_on, points_remaining AS change FROM after_change
                UNION ALL
                SELECT member_id, expires_on, -points_remaining FROM before_change) AS rows
          GROUP BY member_id, expires_on HAVING sum(change) <> 0) AS moved
    WHERE total.member_id = moved.member_id AND total.expires_on = moved.expires_on;
    RETURN NULL;
END $$;

CREATE TRIGGER lots_add_member_points AFTER INSERT ON lots
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION member_points_add_lots();
CREATE TRIGGER lots_change_member_points AFTER UPDATE ON lots
    REFERENCING OLD TABLE AS before_change NEW TABLE AS after_change
    FOR EACH STATEMENT EXECUTE FUNCTION member_points_change_lots();

-- Fires only for an UPDATE that names these columns; the booking path never does.
CREATE FUNCTION forbid_lot_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a lot never changes member or expiry date: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER lots_never_move BEFORE UPDATE OF member_id, expires_on ON lots
    FOR EACH ROW
    WHEN (OLD.member_id IS DISTINCT FROM NEW.member_id
          OR OLD.expires_on IS DISTINCT FROM NEW.expires_on)
    EXECUTE FUNCTION forbid_lot_move();

-- Only the triggers above write the totals (they run at trigger depth 1 or more).
CREATE FUNCTION forbid_direct_member_points() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'member_points is kept by the triggers on lots: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER member_points_kept_by_lots BEFORE INSERT OR UPDATE OR DELETE ON member_points
    FOR EACH ROW WHEN (pg_trigger_depth() < 1) EXECUTE FUNCTION forbid_direct_member_points();
CREATE TRIGGER member_points_no_truncate BEFORE TRUNCATE ON member_points
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_direct_member_points();
