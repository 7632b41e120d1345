-- CONTRACT.md §2 makes a claim id "1–128 printable ASCII characters". Printable ASCII is
-- 0x20–0x7E: the space is one of them. Until now the rule (server and this check) was 0x21–0x7E,
-- so a partner whose ids hold a space ("till 7/receipt 88812") had every claim refused with 401.
--
-- The rule only widens: every stored id already satisfies the new check. It is added NOT VALID,
-- before the old one is dropped, so no moment and no new row escapes either rule, and without
-- reading the table under this migration's lock: ADD CONSTRAINT with its check of every row
-- would hold `claims` ACCESS EXCLUSIVE (every booking waiting) for as long as that read takes,
-- and `claims` only grows. Migration 0011 validates it under a lock that lets bookings go on.
-- A leading or trailing space cannot travel in an HTTP header (RFC 9110 strips it from field
-- values), so such an id never arrives as signed; the server refuses it with 401.
ALTER TABLE claims ADD CONSTRAINT claims_webhook_id_printable_ascii
    CHECK (webhook_id ~ '^[\x20-\x7e]+$' AND length(webhook_id) <= 128) NOT VALID;
ALTER TABLE claims DROP CONSTRAINT claims_webhook_id_shape;
