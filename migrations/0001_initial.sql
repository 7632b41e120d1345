-- The whole ledger of the coalition program. Invariants live here as constraints and triggers,
-- so that no code path (ours, an operator's psql session, a future bug) can store a wrong state.
-- docs/data-model.md explains each table and which constraint keeps which invariant.

-- Identifiers that appear in URLs, certificates and statements share one alphabet.
CREATE DOMAIN entity_id AS text
    CHECK (VALUE ~ '^[A-Za-z0-9._-]{1,64}$');

-- Append-only tables raise on UPDATE/DELETE: history is never rewritten.
CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

------------------------------------------------------------------------------------------------
-- Program settings: every change is a new row (the history); the row with the highest version
-- is in force. Claims record the version they were priced at, so a price change applies only to
-- claims accepted after it.
CREATE TABLE program_settings (
    version         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    effective_from  timestamptz NOT NULL DEFAULT clock_timestamp(),
    currency        char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    point_value     bigint      NOT NULL CHECK (point_value > 0),          -- micro-units per point
    issue_fee       bigint      NOT NULL CHECK (issue_fee >= 0),           -- micro-units per point
    validity_months integer     NOT NULL CHECK (validity_months BETWEEN 1 AND 1200),
    timezone        text        NOT NULL CHECK (timezone <> ''),
    changed_by      text        NOT NULL DEFAULT current_user
);
CREATE TRIGGER program_settings_append_only BEFORE UPDATE OR DELETE ON program_settings
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
INSERT INTO program_settings (currency, point_value, issue_fee, validity_months, timezone)
VALUES ('EUR', 10000, 0, 36, 'UTC');

------------------------------------------------------------------------------------------------
-- Partners and their webhook secrets.
CREATE TABLE partners (
    -- "operator" names the central counterparty in runs and instructions, never a partner.
    id           entity_id   PRIMARY KEY CHECK (id <> 'operator'),
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    earn_rate    bigint      NOT NULL DEFAULT 1 CHECK (earn_rate BETWEEN 1 AND 1000000),
    status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    suspended_at timestamptz,
    CHECK ((status = 'suspended') = (suspended_at IS NOT NULL))
);

-- HMAC is symmetric, so the secret itself must be kept (unlike API tokens). A rotation closes the
-- current row's window 24 hours ahead and opens a new row; both verify until the window ends.
CREATE TABLE partner_secrets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partner_id  entity_id   NOT NULL REFERENCES partners (id),
    secret      text        NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/]{4,}={0,2}$'),
    valid_from  timestamptz NOT NULL DEFAULT now(),
    valid_until timestamptz,  -- NULL: the current secret
    CHECK (valid_until IS NULL OR valid_until > valid_from)
);
CREATE UNIQUE INDEX partner_secrets_one_current ON partner_secrets (partner_id)
    WHERE valid_until IS NULL;

------------------------------------------------------------------------------------------------
-- API tokens for the read side: only the SHA-256 of a token is stored.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_sha256 bytea       NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
    role         text        NOT NULL CHECK (role IN ('operator', 'partner')),
    partner_id   entity_id   REFERENCES partners (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CHECK ((role = 'partner') = (partner_id IS NOT NULL))
);

------------------------------------------------------------------------------------------------
-- Members. The balance is derived (open, unexpired lots minus debt), never stored, so expiry
-- needs no job to be correct. The member row is the lock that serialises a member's claims.
CREATE TABLE members (
    id          entity_id   PRIMARY KEY,
    debt        bigint      NOT NULL DEFAULT 0 CHECK (debt >= 0),
    enrolled_by entity_id   NOT NULL REFERENCES partners (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

------------------------------------------------------------------------------------------------
-- Settlement runs: one per closed date, stored once and never changed.
CREATE TABLE settlement_runs (
    settlement_date date        PRIMARY KEY,
    closed_at       timestamptz NOT NULL DEFAULT now(),
    settings_version bigint     NOT NULL REFERENCES program_settings (version),
    currency        char(3)     NOT NULL,
    run             jsonb       NOT NULL,
    run_sha256      bytea       NOT NULL CHECK (octet_length(run_sha256) = 32)
);
CREATE TRIGGER settlement_runs_append_only BEFORE UPDATE OR DELETE ON settlement_runs
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE TABLE settlement_statements (
    settlement_date date      NOT NULL REFERENCES settlement_runs (settlement_date),
    partner_id      entity_id NOT NULL REFERENCES partners (id),
    net_minor       bigint    NOT NULL,
    statement       jsonb     NOT NULL,
    PRIMARY KEY (settlement_date, partner_id)
);
CREATE TRIGGER settlement_statements_append_only BEFORE UPDATE OR DELETE ON settlement_statements
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER settlement_tables_no_truncate BEFORE TRUNCATE ON settlement_runs
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER settlement_statements_no_truncate BEFORE TRUNCATE ON settlement_statements
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- Nothing may be booked into a date that is closed: its run would no longer match its rows.
CREATE FUNCTION forbid_closed_date() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM settlement_runs WHERE settlement_date = NEW.settlement_date) THEN
        RAISE EXCEPTION 'settlement date % is closed: % into % refused',
            NEW.settlement_date, TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

------------------------------------------------------------------------------------------------
-- Claims: every accepted earn, burn and reversal, append-only. The stored response is what an
-- idempotent replay returns; request_sha256 tells a replay from a conflicting reuse of the id.
-- Refused claims are not stored: a refusal changes nothing.
CREATE TABLE claims (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partner_id        entity_id   NOT NULL REFERENCES partners (id),
    webhook_id        text        NOT NULL CHECK (webhook_id ~ '^[\x21-\x7e]{1,128}$'),
    request_sha256    bytea       NOT NULL CHECK (octet_length(request_sha256) = 32),
    type              text        NOT NULL CHECK (type IN ('earn', 'burn', 'reversal')),
    member_id         entity_id   NOT NULL REFERENCES members (id),
    points            bigint      NOT NULL CHECK (points BETWEEN 1 AND 10000000),
    -- A reversal names its target with the target's partner, type and member, so the foreign
    -- key below proves it reverses an earn or burn of the same partner and member.
    reverses_claim_id bigint,
    reverses_type     text CHECK (reverses_type IN ('earn', 'burn')),
    accepted_at       timestamptz NOT NULL,
    settlement_date   date        NOT NULL,
    settings_version  bigint      NOT NULL REFERENCES program_settings (version),
    occurred_at       timestamptz,
    reference         text CHECK (length(reference) <= 128),
    purchase_amount_minor bigint CHECK (purchase_amount_minor >= 0),
    response_status   smallint    NOT NULL CHECK (response_status BETWEEN 200 AND 299),
    response_body     text        NOT NULL,
    UNIQUE (partner_id, webhook_id),                  -- a claim id is unique per partner, for ever
    UNIQUE (partner_id, id, type, member_id),
    UNIQUE (reverses_claim_id),                       -- a claim is reversed at most once
    FOREIGN KEY (partner_id, reverses_claim_id, reverses_type, member_id)
        REFERENCES claims (partner_id, id, type, member_id),
    CHECK ((type = 'reversal') = (reverses_claim_id IS NOT NULL)),
    CHECK ((reverses_claim_id IS NULL) = (reverses_type IS NULL))
);
CREATE INDEX claims_by_settlement_date ON claims (settlement_date);
CREATE INDEX claims_by_member ON claims (member_id);
CREATE TRIGGER claims_append_only BEFORE UPDATE OR DELETE ON claims
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER claims_not_into_closed_date BEFORE INSERT ON claims
    FOR EACH ROW EXECUTE FUNCTION forbid_closed_date();

------------------------------------------------------------------------------------------------
-- Lots: the points one earn issued to one member. Burns take from points_remaining; an earn
-- first repays debt (debt_repaid), so remaining never exceeds issued minus that.
-- A lot can also be *reissued* by a burn reversal whose points cannot go back to their own lot
-- because that lot's earn was reversed meanwhile (see docs/data-model.md): such a lot names the
-- reversal as its claim and the lot it replaces, carries no fee and is not new issuance.
CREATE TABLE lots (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id            entity_id   NOT NULL REFERENCES members (id),
    issuer_id            entity_id   NOT NULL REFERENCES partners (id),
    claim_id             bigint      NOT NULL REFERENCES claims (id),
    reissued_from_lot_id bigint      REFERENCES lots (id),
    points_issued        bigint      NOT NULL CHECK (points_issued > 0),
    debt_repaid          bigint      NOT NULL DEFAULT 0 CHECK (debt_repaid >= 0),
    points_remaining     bigint      NOT NULL CHECK (points_remaining >= 0),
    fee_micros           bigint      NOT NULL CHECK (fee_micros >= 0),  -- issuance fee owed to operator
    accepted_at          timestamptz NOT NULL,
    settlement_date      date        NOT NULL,
    expires_on           date        NOT NULL CHECK (expires_on >= settlement_date),
    reversed_by_claim_id bigint UNIQUE REFERENCES claims (id),
    UNIQUE NULLS NOT DISTINCT (claim_id, reissued_from_lot_id),  -- one lot per earn
    CHECK (debt_repaid + points_remaining <= points_issued),
    CHECK (reversed_by_claim_id IS NULL OR points_remaining = 0),
    CHECK (reissued_from_lot_id IS NULL OR fee_micros = 0)
);
-- FIFO order of a member's open lots: earliest expiry, then acceptance, then id.
CREATE INDEX lots_open_fifo ON lots (member_id, expires_on, accepted_at, id)
    WHERE points_remaining > 0;
CREATE INDEX lots_by_settlement_date ON lots (settlement_date);
CREATE INDEX lots_by_expiry ON lots (expires_on) WHERE points_remaining > 0;
CREATE TRIGGER lots_not_into_closed_date BEFORE INSERT ON lots
    FOR EACH ROW EXECUTE FUNCTION forbid_closed_date();

------------------------------------------------------------------------------------------------
-- Slices: the part of one burn (or of its reversal) that touched one lot. A burn slice makes
-- the lot's issuer owe the redeemer amount_micros; a reversal slice is its exact opposite, at
-- the original price, on the reversal's own settlement date.
CREATE TABLE slices (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    claim_id          bigint    NOT NULL REFERENCES claims (id),
    lot_id            bigint    NOT NULL REFERENCES lots (id),
    kind              text      NOT NULL CHECK (kind IN ('burn', 'burn_reversal')),
    reverses_slice_id bigint    UNIQUE REFERENCES slices (id),
    issuer_id         entity_id NOT NULL REFERENCES partners (id),
    redeemer_id       entity_id NOT NULL REFERENCES partners (id),
    points            bigint    NOT NULL CHECK (points > 0),
    point_value       bigint    NOT NULL CHECK (point_value > 0),
    amount_micros     bigint    NOT NULL,
    settlement_date   date      NOT NULL,
    CHECK (amount_micros = points * point_value),
    CHECK ((kind = 'burn_reversal') = (reverses_slice_id IS NOT NULL)),
    UNIQUE (claim_id, lot_id)
);
CREATE INDEX slices_by_settlement_date ON slices (settlement_date);
CREATE INDEX slices_by_lot ON slices (lot_id);
CREATE TRIGGER slices_append_only BEFORE UPDATE OR DELETE ON slices
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER slices_not_into_closed_date BEFORE INSERT ON slices
    FOR EACH ROW EXECUTE FUNCTION forbid_closed_date();

------------------------------------------------------------------------------------------------
-- Breakage: points that expired unspent, booked to their issuer. A lot's expiry row (claim_id
-- NULL) is written once, on the settlement date after expires_on, holding what remained at the
-- end of expires_on; nothing may change an expired lot before that row exists, so it is never
-- counted twice. Points a burn reversal returns to an already expired lot are breakage of the
-- reversal's date, one row per (lot, reversal claim).
CREATE TABLE lot_expiries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lot_id          bigint    NOT NULL REFERENCES lots (id),
    claim_id        bigint    REFERENCES claims (id),
    issuer_id       entity_id NOT NULL REFERENCES partners (id),
    points          bigint    NOT NULL CHECK (points > 0),
    settlement_date date      NOT NULL,
    UNIQUE NULLS NOT DISTINCT (lot_id, claim_id)
);
CREATE INDEX lot_expiries_by_settlement_date ON lot_expiries (settlement_date);
CREATE TRIGGER lot_expiries_append_only BEFORE UPDATE OR DELETE ON lot_expiries
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER lot_expiries_not_into_closed_date BEFORE INSERT ON lot_expiries
    FOR EACH ROW EXECUTE FUNCTION forbid_closed_date();

------------------------------------------------------------------------------------------------
-- History is never removed wholesale either: TRUNCATE is refused on every ledger table, and
-- rows of lots and members are never deleted (they are only updated under the member lock).
CREATE TRIGGER claims_no_truncate BEFORE TRUNCATE ON claims
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER slices_no_truncate BEFORE TRUNCATE ON slices
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER lot_expiries_no_truncate BEFORE TRUNCATE ON lot_expiries
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER lots_no_truncate BEFORE TRUNCATE ON lots
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER lots_no_delete BEFORE DELETE ON lots
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER members_no_truncate BEFORE TRUNCATE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER members_no_delete BEFORE DELETE ON members
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
