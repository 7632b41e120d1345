# The generation of bench/clearing.sh, sourced by it (its variables and helpers are set): the
# program, the partners, and the date's claims, lots, slices and members, all in SQL. Sets
# generation_ms. Split out so that BENCH_REUSE=1 can skip it.
# shellcheck shell=bash disable=SC2154

step "program: migrate, settings, $PARTNERS partners"
"$CTL" migrate >/dev/null
"$CTL" program set point_value "$POINT_VALUE" >/dev/null
"$CTL" program set issue_fee "$ISSUE_FEE" >/dev/null
"$CTL" program set validity_months "$VALIDITY_MONTHS" >/dev/null
settings_version="$(sql "SELECT max(version) FROM program_settings")"
[[ $(sql "SELECT timezone FROM program_settings WHERE version = $settings_version") == UTC ]] ||
    die "the program's time zone is not UTC: the generator places claims in UTC days"
started="$(now_ms)"
for ((i = 1; i <= PARTNERS; i++)); do
    printf -v partner_id "p%0${PARTNER_ID_WIDTH}d" "$i"
    "$CTL" partner add "$partner_id" --name "Bench partner $i" >/dev/null
done
info "$PARTNERS partners p$(printf "%0${PARTNER_ID_WIDTH}d" 1)… in $(seconds $(($(now_ms) - started))) s"

step "generate $DAY: $CLAIMS claims, $MEMBERS members, $PARTNERS partners ($REDEEMERS where \
members burn), $expiring lots expiring on the eve"
generation_started="$(now_ms)"

# A scratch schema for the plan; dropped once the ledger rows are written.
# The plan of every claim: its member, partner, kind and points, and what the booking path would
# have computed for it (balances, the lots a burn consumes). Rules, per member in time order:
#  - the first claim is an earn (it enrols the member);
#  - a burn follows an earn and takes 20–100 % of the points earned since the member's previous
#    burn, so the balance always covers it;
#  - 10 % of the members (with two or more claims) end on a reversal of their previous claim: a
#    burn reversal, or an earn reversal (no debt); when the previous claim is a burn, a third of
#    them reverse the earn before it instead, whose lot that burn may have partly spent (debt).
#    A reversal is a member's last claim, so nothing after it depends on it.
# Partners are drawn skewed (partner k with density ~ 1/sqrt(k)): a few big, a long tail;
# burns only at the first BENCH_REDEEMERS of them, drawn the same way.
# All of the date's lots expire on the same day, so FIFO order is acceptance order; a burn
# consumes the interval [burnt before, burnt after) of the line of the member's earned points,
# and its slices are that interval's overlaps with each lot's [earned before, earned after).
timed "plan (draws, kinds, points, balances)" generate_sql <<'SQL'
SET TimeZone = 'UTC';
SET work_mem = '1GB';
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
SELECT setseed(:seed) AS seeded \gset

CREATE UNLOGGED TABLE bench.draw AS
SELECT n::bigint AS n,
       1 + floor(random() * :members)::bigint AS member,
       random() AS r_partner,
       random() AS r_kind, random() AS r_amount, random() AS r_reversal
FROM generate_series(1, :claims) AS n;

CREATE UNLOGGED TABLE bench.kinds AS
SELECT n, member, r_amount, seq, cnt, type, r_reversal,
       -- A burn's partner is the redeemer: one of the first BENCH_REDEEMERS partners.
       1 + floor(CASE type WHEN 'burn' THEN :redeemers ELSE :partners END * r_partner ^ 2)::int
           AS partner
FROM (SELECT *,
             CASE WHEN seq = cnt AND cnt >= 2 AND r_reversal < 0.10 THEN 'reversal'
                  WHEN seq > 1 AND r_kind < 0.40 AND previous_r_kind >= 0.40 THEN 'burn'
                  ELSE 'earn' END AS type
FROM (SELECT d.*, row_number() OVER w AS seq, count(*) OVER (PARTITION BY member) AS cnt,
             lag(r_kind) OVER w AS previous_r_kind
      FROM bench.draw d WINDOW w AS (PARTITION BY member ORDER BY n)) numbered) typed;
DROP TABLE bench.draw;

-- e: an earn's points; g: burns before this claim; b: a burn's points.
CREATE UNLOGGED TABLE bench.plan AS
WITH earned AS (
    SELECT k.*,
           CASE type WHEN 'earn' THEN 1 + floor(500 * r_amount ^ 2)::bigint ELSE 0 END AS e,
           coalesce(sum((type = 'burn')::int) OVER (PARTITION BY member ORDER BY n
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS g
    FROM bench.kinds k
), burnt AS (
    SELECT earned.*,
           CASE type WHEN 'burn' THEN
               ceil((0.2 + 0.8 * r_amount) * sum(e) OVER (PARTITION BY member, g))::bigint
           ELSE 0 END AS b
    FROM earned
), running AS (
    SELECT burnt.*,
           sum(e) OVER w AS cum_e, sum(b) OVER w AS cum_b,
           lag(n, 1) OVER w AS n1, lag(type, 1) OVER w AS type1, lag(partner, 1) OVER w AS partner1,
           lag(e, 1) OVER w AS e1, lag(b, 1) OVER w AS b1,
           lag(n, 2) OVER w AS n2, lag(partner, 2) OVER w AS partner2, lag(e, 2) OVER w AS e2
    FROM burnt WINDOW w AS (PARTITION BY member ORDER BY n)
), targeted AS (
    SELECT running.*,
           type1 = 'burn' AND r_amount < 1.0 / 3 AS reverses_earn_before_burn
    FROM running
)
SELECT n, member, type, e, b, cum_e, cum_b,
       CASE WHEN type <> 'reversal' THEN partner
            WHEN reverses_earn_before_burn THEN partner2 ELSE partner1 END AS partner,
       CASE WHEN type <> 'reversal' THEN e + b
            WHEN reverses_earn_before_burn THEN e2 ELSE e1 + b1 END AS points,
       CASE WHEN type <> 'reversal' THEN NULL
            WHEN reverses_earn_before_burn THEN n2 ELSE n1 END AS target_n,
       CASE WHEN type <> 'reversal' THEN NULL
            WHEN reverses_earn_before_burn THEN 'earn' ELSE type1 END AS target_type,
       -- The balance the booking answered with: open points minus debt, after the claim.
       -- An earn reversal removes what is left of the lot and turns what was spent into debt:
       -- the balance drops by the lot's points issued. A burn reversal gives its points back.
       cum_e - cum_b + CASE WHEN type <> 'reversal' THEN 0
                            WHEN reverses_earn_before_burn THEN -e2
                            WHEN type1 = 'earn' THEN -e1 ELSE b1 END AS balance
FROM targeted;
DROP TABLE bench.kinds;
CREATE INDEX ON bench.plan (member, n);
ANALYZE bench.plan;

-- Per member: points burnt in all, and what its reversal (if any) undoes.
CREATE UNLOGGED TABLE bench.member_end AS
SELECT member, max(cum_b) AS burnt,
       max(points) FILTER (WHERE type = 'reversal' AND target_type = 'burn') AS burn_returned,
       max(target_n) FILTER (WHERE type = 'reversal' AND target_type = 'earn') AS reversed_earn_n,
       max(n) FILTER (WHERE type = 'reversal') AS reversal_n
FROM bench.plan GROUP BY member;
CREATE UNIQUE INDEX ON bench.member_end (member);

-- The old lots that expire on the eve of the date: accepted over the month VALIDITY + 1
-- months before it, never spent. Their claims are of those old dates, ids before the date's.
CREATE UNLOGGED TABLE bench.old AS
SELECT row_number() OVER (ORDER BY accepted_at) AS k, member, partner, points, accepted_at,
       sum(points) OVER (PARTITION BY member ORDER BY accepted_at) AS balance
FROM (SELECT 1 + floor(random() * :members)::bigint AS member,
             1 + floor(:partners * random() ^ 2)::int AS partner,
             1 + floor(500 * random() ^ 2)::bigint AS points,
             month_start + floor(random() * extract(day FROM month_start + interval '1 month'
                                                    - month_start) * 86400e6)
                           * interval '1 microsecond' AS accepted_at
      FROM generate_series(1, :expiring),
           (SELECT date_trunc('month', DATE :'day') - make_interval(months => :validity + 1)
                   AS month_start) old_month) drawn;
SQL

# Members, enrolled by the partner of their first claim, when it was accepted; the debt of those
# whose last claim reversed an earn already partly spent.
timed "members" generate_sql <<'SQL'
SET TimeZone = 'UTC';
INSERT INTO members (id, debt, enrolled_by, created_at)
SELECT 'C-' || m,
       coalesce(debt.points, 0),
       'p' || lpad(coalesce(first_old.partner, first_day.partner, 1)::text, :pwidth, '0'),
       coalesce(first_old.accepted_at,
                DATE :'day'
                + ((first_day.n - 1) * 86400000000 / :claims) * interval '1 microsecond',
                DATE :'day')
FROM generate_series(1, :members) AS m
LEFT JOIN (SELECT DISTINCT ON (member) member, partner, accepted_at FROM bench.old
           ORDER BY member, accepted_at) first_old ON first_old.member = m
LEFT JOIN (SELECT member, partner, n FROM bench.plan WHERE n IN (
               SELECT min(n) FROM bench.plan GROUP BY member)) first_day ON first_day.member = m
LEFT JOIN (SELECT p.member, p.e - (p.cum_e - greatest(p.cum_e - p.e, least(p.cum_e, me.burnt)))
                      AS points
           FROM bench.member_end me JOIN bench.plan p ON p.n = me.reversed_earn_n) debt
    ON debt.member = m
ORDER BY m;
SQL

# Claims: ids in acceptance order, the old ones first. accepted_at spreads the date's claims
# evenly over its 24 hours (UTC). Bodies as the server stores them: the request's SHA-256 and
# the JSON answer (nlohmann::json sorts its keys).
timed "claims" generate_sql <<'SQL'
SET TimeZone = 'UTC';
SET synchronous_commit = off;
INSERT INTO claims (id, partner_id, webhook_id, request_sha256, type, member_id, points,
                    reverses_claim_id, reverses_type, accepted_at, settlement_date,
                    settings_version, response_status, response_body)
OVERRIDING SYSTEM VALUE
SELECT k, partner_id, webhook_id,
       sha256(convert_to('{"type":"earn","member_id":"' || member_id || '","points":' || points
                         || '}', 'UTF8')),
       'earn', member_id, points, NULL, NULL, accepted_at, day, :settings_version, 201,
       '{"balance":' || balance || ',"claim_id":"' || webhook_id || '","member_id":"' || member_id
       || '","points":' || points || ',"settlement_date":"' || day
       || '","status":"accepted","type":"earn"}'
FROM (SELECT k, 'p' || lpad(partner::text, :pwidth, '0') AS partner_id,
             'clr-old-' || k AS webhook_id, 'C-' || member AS member_id, points, balance,
             accepted_at, (accepted_at AT TIME ZONE 'UTC')::date AS day
      FROM bench.old) old
ORDER BY k;

INSERT INTO claims (id, partner_id, webhook_id, request_sha256, type, member_id, points,
                    reverses_claim_id, reverses_type, accepted_at, settlement_date,
                    settings_version, response_status, response_body)
OVERRIDING SYSTEM VALUE
SELECT :expiring + n, partner_id, webhook_id,
       sha256(convert_to(CASE type
           WHEN 'reversal' THEN '{"type":"reversal","reverses":"clr-' || target_n || '"}'
           ELSE '{"type":"' || type || '","member_id":"' || member_id || '","points":' || points
                || '}' END, 'UTF8')),
       type, member_id, points, :expiring + target_n, target_type,
       DATE :'day' + ((n - 1) * 86400000000 / :claims) * interval '1 microsecond',
       DATE :'day', :settings_version, 201,
       '{"balance":' || balance || ',"claim_id":"' || webhook_id || '","member_id":"' || member_id
       || '","points":' || points || ',"settlement_date":"' || :'day'
       || '","status":"accepted","type":"' || type || '"}'
FROM (SELECT p.*, 'p' || lpad(partner::text, :pwidth, '0') AS partner_id,
             'clr-' || n AS webhook_id, 'C-' || member AS member_id
      FROM bench.plan p) plan
ORDER BY n;
SQL

# Lots: one per earn, as they stand after the date (ids in acceptance order, the old ones first;
# a date lot takes its claim's slot, so ids have gaps, as rolled-back bookings leave them).
# points_remaining = what no burn consumed, plus what a burn reversal gave back; an earn's
# reversal empties its lot and names itself.
timed "lots" generate_sql <<'SQL'
SET TimeZone = 'UTC';
SET synchronous_commit = off;
INSERT INTO lots (id, member_id, issuer_id, claim_id, reissued_from_lot_id, points_issued,
                  debt_repaid, points_remaining, fee_micros, accepted_at, settlement_date,
                  expires_on)
OVERRIDING SYSTEM VALUE
SELECT k, 'C-' || member, 'p' || lpad(partner::text, :pwidth, '0'), k, NULL, points, 0, points,
       points * :issue_fee, accepted_at, day,
       (date_trunc('month', day) + make_interval(months => :validity + 1) - interval '1 day')::date
FROM (SELECT *, (accepted_at AT TIME ZONE 'UTC')::date AS day FROM bench.old) old
ORDER BY k;

INSERT INTO lots (id, member_id, issuer_id, claim_id, reissued_from_lot_id, points_issued,
                  debt_repaid, points_remaining, fee_micros, accepted_at, settlement_date,
                  expires_on, reversed_by_claim_id)
OVERRIDING SYSTEM VALUE
SELECT :expiring + p.n, 'C-' || p.member, 'p' || lpad(p.partner::text, :pwidth, '0'),
       :expiring + p.n, NULL, p.e, 0,
       CASE WHEN p.n = me.reversed_earn_n THEN 0
            ELSE p.cum_e - greatest(p.cum_e - p.e,
                                    least(p.cum_e, me.burnt - coalesce(me.burn_returned, 0)))
       END,
       p.e * :issue_fee,
       DATE :'day' + ((p.n - 1) * 86400000000 / :claims) * interval '1 microsecond',
       DATE :'day',
       (date_trunc('month', DATE :'day') + make_interval(months => :validity + 1)
        - interval '1 day')::date,
       CASE WHEN p.n = me.reversed_earn_n THEN :expiring + me.reversal_n END
FROM bench.plan p JOIN bench.member_end me ON me.member = p.member
WHERE p.type = 'earn'
ORDER BY p.n;
SQL

# Slices: each burn's overlaps with the member's lots, in FIFO order; each burn reversal mirrors
# the slices of its burn. Ids in claim order, then lot order.
timed "slices" generate_sql <<'SQL'
SET TimeZone = 'UTC';
SET synchronous_commit = off;
SET work_mem = '1GB';
CREATE UNLOGGED TABLE bench.cut AS
SELECT burn.n AS burn_n, lot.n AS lot_n, burn.partner AS redeemer, lot.partner AS issuer,
       least(lot.cum_e, burn.cum_b) - greatest(lot.cum_e - lot.e, burn.cum_b - burn.b) AS points
FROM bench.plan burn
JOIN bench.plan lot ON lot.member = burn.member AND lot.type = 'earn' AND lot.n < burn.n
     AND lot.cum_e - lot.e < burn.cum_b AND burn.cum_b - burn.b < lot.cum_e
WHERE burn.type = 'burn';

CREATE UNLOGGED TABLE bench.slice AS
SELECT row_number() OVER (ORDER BY claim_n, lot_n) AS id, *
FROM (SELECT burn_n AS claim_n, lot_n, 'burn' AS kind, NULL::bigint AS burn_n, redeemer, issuer,
             points
      FROM bench.cut
      UNION ALL
      SELECT r.n, c.lot_n, 'burn_reversal', c.burn_n, c.redeemer, c.issuer, c.points
      FROM bench.plan r JOIN bench.cut c ON c.burn_n = r.target_n
      WHERE r.type = 'reversal' AND r.target_type = 'burn') cuts;
CREATE INDEX ON bench.slice (claim_n, lot_n);

INSERT INTO slices (id, claim_id, lot_id, kind, reverses_slice_id, issuer_id, redeemer_id,
                    points, point_value, amount_micros, settlement_date)
OVERRIDING SYSTEM VALUE
SELECT id, :expiring + claim_n, :expiring + lot_n, kind, NULL,
       'p' || lpad(issuer::text, :pwidth, '0'), 'p' || lpad(redeemer::text, :pwidth, '0'),
       points, :point_value, points * :point_value, DATE :'day'
FROM bench.slice WHERE kind = 'burn' ORDER BY id;

INSERT INTO slices (id, claim_id, lot_id, kind, reverses_slice_id, issuer_id, redeemer_id,
                    points, point_value, amount_micros, settlement_date)
OVERRIDING SYSTEM VALUE
SELECT r.id, :expiring + r.claim_n, :expiring + r.lot_n, r.kind, b.id,
       'p' || lpad(r.issuer::text, :pwidth, '0'), 'p' || lpad(r.redeemer::text, :pwidth, '0'),
       r.points, :point_value, r.points * :point_value, DATE :'day'
FROM bench.slice r JOIN bench.slice b ON b.claim_n = r.burn_n AND b.lot_n = r.lot_n
WHERE r.kind = 'burn_reversal' ORDER BY r.id;

-- The identities go on from the highest id, as if every row had taken its value from them.
SELECT setval(pg_get_serial_sequence('claims', 'id'), (SELECT max(id) FROM claims)) AS claims_id,
       setval(pg_get_serial_sequence('lots', 'id'), (SELECT max(id) FROM lots)) AS lots_id,
       setval(pg_get_serial_sequence('slices', 'id'), greatest((SELECT max(id) FROM slices), 1),
              (SELECT max(id) FROM slices) IS NOT NULL) AS slices_id \gset
SET client_min_messages = warning;
DROP SCHEMA bench CASCADE;
SQL

# A day's bookings leave their tables vacuumed and analysed by autovacuum; the checkpoint keeps
# the generation's dirty pages out of the timings.
timed "VACUUM ANALYZE" sql "VACUUM ANALYZE"
sql "CHECKPOINT"
generation_ms=$(($(now_ms) - generation_started))
