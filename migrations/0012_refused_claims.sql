-- A claim the ledger refused keeps its webhook-id, as an accepted one does (contract §2: the same
-- id and body get the original response again, with Idempotent-Replayed). Until now only
-- accepted claims were stored, so a refusal sent again was decided again: a burn refused for
-- insufficient points at the till, paid another way, was booked when a queue resent it after
-- the member had earned, taking points the member never spent.
--
-- Only the ledger's decisions are kept (422: insufficient_points, unknown_member,
-- reversal_target_not_found, already_reversed): what a refusal answered, nothing else. No member,
-- lot, slice or obligation changes; a request refused before the ledger (400, 401, 403, 413, 415,
-- 429, 503) is not a decision and keeps nothing.
--
-- A key is in one table at most: every booking takes the key's advisory lock before it looks the
-- key up in claims, then here (storage/booking_steps.hpp), so two attempts of one claim are
-- decided one after the other, also when no member lock is common to them (a reversal racing
-- its target's earn, a burn racing its member's first earn).
CREATE TABLE refused_claims (
    partner_id      entity_id   NOT NULL REFERENCES partners (id),
    webhook_id      text        NOT NULL
        CHECK (webhook_id ~ '^[\x20-\x7e]+$' AND length(webhook_id) <= 128),
    request_sha256  bytea       NOT NULL CHECK (octet_length(request_sha256) = 32),
    response_status smallint    NOT NULL CHECK (response_status = 422),
    response_body   text        NOT NULL,
    refused_at      timestamptz NOT NULL,
    PRIMARY KEY (partner_id, webhook_id)
);
CREATE TRIGGER refused_claims_append_only BEFORE UPDATE OR DELETE ON refused_claims
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER refused_claims_no_truncate BEFORE TRUNCATE ON refused_claims
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
