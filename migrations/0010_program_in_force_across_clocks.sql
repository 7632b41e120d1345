-- A claim is priced by the program in force when it was accepted (migration 0008). Its
-- acceptance time is the server host's clock (CONTRACT.md §1), but a change's effective_from is
-- stamped by the database's: compared as they are, a change never applied on a server whose
-- clock is behind the database's (a server run under faketime in the past, as the contract
-- invites for tests, priced every claim by the first program version whatever `program set`
-- did), and applied early on one whose clock is ahead.
--
-- program_in_force_at(accepted_at, sent_at) reads the acceptance on the database's clock: the
-- caller passes its own clock's time when it sent the statement (sent_at), and the distance
-- from that to statement_timestamp() (when the database received it) is the skew between the
-- two clocks plus the statement's transit. So the claim was accepted at accepted_at plus that
-- distance, on the database's clock, at most the transit (well under a millisecond on one host)
-- late: a claim accepted after a change always gets it; one accepted within that transit
-- before it may get it too. Everything else is as in 0008: the shared lock first, then a
-- snapshot of its own.
--
-- The comparison is made in exact seconds since the epoch. Written with timestamptz arithmetic
-- (accepted_at + (statement_timestamp() - sent_at)) it would not be exact: the difference of
-- two timestamptz is an interval of whole days plus a time, and adding whole days follows the
-- calendar of the session's TimeZone, so across a daylight-saving change the mapped acceptance
-- would move by an hour.
--
-- The one-argument function stays for a server binary older than this migration.
CREATE FUNCTION program_in_force_at(accepted_at timestamptz, sent_at timestamptz)
RETURNS SETOF program_settings LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(6190879, 0);
    RETURN QUERY
        SELECT * FROM program_settings
        WHERE extract(epoch FROM effective_from)
              <= extract(epoch FROM accepted_at) + extract(epoch FROM statement_timestamp())
                 - extract(epoch FROM sent_at)
           OR version = (SELECT min(version) FROM program_settings)
        ORDER BY version DESC LIMIT 1;
END $$;
