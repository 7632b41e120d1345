-- A price change applies to claims accepted after it only (CONTRACT.md §1). Until now a booking
-- priced its claims with the newest program_settings row when the booking ran: a claim accepted
-- a few milliseconds before a change, still waiting for its batch, was priced (and, for a time
-- zone change, dated) by the new row, although its accepted_at precedes that row's
-- effective_from.
--
-- program_in_force_at(t) is the row in force at t: the newest whose effective_from is at or
-- before t, or, for a t before every row (a server clock behind the database's), the first row:
-- the program's settings since it began.
--
-- It reads after taking the program's advisory lock, shared; a change takes it exclusive before
-- it stamps effective_from (storage/program_store.cpp). So a change waits for the bookings that
-- may have read the rows before it, and a booking that starts during a change waits for the
-- change to commit and then sees its row. VOLATILE plpgsql, so that its SELECT takes a snapshot
-- of its own after the lock: a booking statement that waited on the lock would otherwise read
-- with the snapshot it took before the change committed.
-- The lock keys: a class of our own (6190879; a settlement date's lock is class 6190878), key 0.
CREATE FUNCTION program_in_force_at(accepted_at timestamptz)
RETURNS SETOF program_settings LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(6190879, 0);
    RETURN QUERY
        SELECT * FROM program_settings
        WHERE effective_from <= accepted_at
           OR version = (SELECT min(version) FROM program_settings)
        ORDER BY version DESC LIMIT 1;
END $$;
