-- Checks every stored claim id against the rule migration 0009 added NOT VALID (1–128 printable
-- ASCII characters). VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE on `claims`: bookings
-- insert on while the table is read. Every stored id passed the narrower rule 0009 replaced,
-- so this cannot fail; it makes the constraint an invariant of every row, as data-model.md says.
ALTER TABLE claims VALIDATE CONSTRAINT claims_webhook_id_printable_ascii;
