#!/usr/bin/env bash
# Clearing benchmark: how long `coalitionctl settle` takes to close a heavy settlement date,
# against the bare SQL GROUP BY over the same rows that any close must at least run. It prints
# figures; it is not a pass/fail test, but it exits 1 when the close's totals disagree with the
# generated rows or `coalitionctl check` fails (figures from a broken run are not figures).
# See bench/README.md.
#
#   bench/clearing.sh
#
# Environment (all optional):
#   BENCH_BUILD_DIR      Release build tree                          (default: build)
#   BENCH_PG_PORT        private PostgreSQL port                     (default: 55445)
#   BENCH_PG_SETTINGS    postgresql.conf settings, "key=value ..."   (default: see PG_SETTINGS)
#   BENCH_CLAIMS         claims booked on the date                   (default: 10000000)
#   BENCH_PARTNERS       partners                                    (default: 1000)
#   BENCH_MEMBERS        members                                     (default: 1000000)
#   BENCH_REDEEMERS      partners where members burn, p0001…         (default: BENCH_PARTNERS)
#   BENCH_EXPIRING       lots of 37 months ago expiring the day before (default: BENCH_MEMBERS/100)
#   BENCH_DATE           the date to close, YYYY-MM-DD, in the past  (default: see below)
#   BENCH_SEED           seed of the generator, 0..1                 (default: 0.5)
#   BENCH_CHECK          1: run `coalitionctl check` after the close (default: 1 up to 1,000,000
#                        claims, 0 above: it reads every row of the ledger)
#
# Steps: Release build → fresh cluster in var/bench-clearing-pg → migrate, program, partners →
# the date's claims, lots and slices generated in SQL (INSERT … SELECT over generate_series, the
# same rows the booking path writes) → VACUUM ANALYZE, CHECKPOINT → warm-up → (a) close with
# `coalitionctl settle` → (b) the bare GROUP BY → ratio → totals compared → `coalitionctl check`.
# The cluster is stopped on exit (kept on disk for a post-mortem; it is large at full size).
set -eEuo pipefail
COALITION_SCRIPT_NAME="bench/clearing.sh"
# shellcheck source=../scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
install_error_trap
cd "$COALITION_ROOT"

# shellcheck source=lib.sh
source "$COALITION_ROOT/bench/lib.sh"
readonly PG_DIR="$COALITION_ROOT/var/bench-clearing-pg"
readonly WORK="$COALITION_ROOT/var/bench-clearing"
readonly PG_PORT="${BENCH_PG_PORT:-55445}"
# shared_buffers: the date's hot rows (a few GB at full size) fit, as on a real database server.
# max_wal_size: fewer checkpoints while the rows are generated (the cluster keeps that much WAL
# on disk afterwards). pg_stat_statements: the per-statement breakdown of the close after (a).
readonly PG_SETTINGS="${BENCH_PG_SETTINGS:-shared_buffers=2GB max_wal_size=4GB checkpoint_timeout=30min shared_preload_libraries=pg_stat_statements}"
readonly CLAIMS="${BENCH_CLAIMS:-10000000}"
readonly PARTNERS="${BENCH_PARTNERS:-1000}"
readonly MEMBERS="${BENCH_MEMBERS:-1000000}"
readonly REDEEMERS="${BENCH_REDEEMERS:-$PARTNERS}"
readonly EXPIRING="${BENCH_EXPIRING:-$((MEMBERS / 100))}"
readonly SEED="${BENCH_SEED:-0.5}"
readonly CTL="$BUILD_DIR/bin/coalitionctl"
readonly RESULTS="$WORK/clearing-results.txt"
readonly TARGET_RATIO=2
# The program the date is booked under: 0.01 EUR a point, an issuance fee of 0.0003 EUR a point.
readonly POINT_VALUE=10000
readonly ISSUE_FEE=300
readonly VALIDITY_MONTHS=36

# The default date is the 1st of this month (of the last one, on a 1st): the only days with
# breakage are 1sts, since a lot expires on the last day of a month.
if [[ -n ${BENCH_DATE:-} ]]; then
    DAY="$BENCH_DATE"
elif [[ $(date -u +%d) == 01 ]]; then
    DAY="$(date -u -d "$(date -u +%Y-%m-01) - 1 month" +%F)"
else
    DAY="$(date -u +%Y-%m-01)"
fi
readonly DAY

for number in CLAIMS PARTNERS MEMBERS REDEEMERS EXPIRING; do
    [[ ${!number} =~ ^[0-9]+$ ]] || die "BENCH_$number must be a whole number, got '${!number}'"
done
(( CLAIMS >= 1 && CLAIMS <= 100000000 )) || die "BENCH_CLAIMS must be 1..100,000,000"
(( PARTNERS >= 1 && PARTNERS <= 99999 )) || die "BENCH_PARTNERS must be 1..99,999"
(( MEMBERS >= 1 )) || die "BENCH_MEMBERS must be at least 1"
(( REDEEMERS >= 1 && REDEEMERS <= PARTNERS )) || die "BENCH_REDEEMERS must be 1..BENCH_PARTNERS"
[[ $SEED =~ ^(0(\.[0-9]+)?|1(\.0+)?)$ ]] || die "BENCH_SEED must be a number in 0..1, got '$SEED'"
[[ $DAY =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ && $(date -u -d "$DAY" +%F 2>/dev/null) == "$DAY" ]] ||
    die "BENCH_DATE must be a date YYYY-MM-DD, got '$DAY'"
[[ $DAY < $(date -u +%F) ]] || die "BENCH_DATE $DAY has not ended (UTC): it cannot be closed"
if [[ -n ${BENCH_CHECK:-} ]]; then
    RUN_CHECK="$BENCH_CHECK"
elif (( CLAIMS <= 1000000 )); then
    RUN_CHECK=1
else
    RUN_CHECK=0
fi
readonly RUN_CHECK

problems=()

cleanup() {
    "$PGCLUSTER" "$PG_DIR" "$PG_PORT" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

problem() {
    problems+=("$*")
    printf '    !! %s\n' "$*" >&2
}

figure() {  # a result line: printed now, and again in the summary at the end
    printf '    %s\n' "$*" >&2
    printf '%s\n' "$*" >>"$RESULTS"
}

now_ms() { date +%s%3N; }

seconds() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }

sql() { "$PG_BIN/psql" "$COALITION_DB" -v ON_ERROR_STOP=1 -Atqc "$1"; }

# timed NAME COMMAND...: runs a step of the generation and says how long it took.
timed() {
    local name="$1" started
    shift
    started="$(now_ms)"
    "$@"
    info "$name: $(seconds $(($(now_ms) - started))) s"
}

# psql running a script from stdin with the generation's variables.
generate_sql() {
    "$PG_BIN/psql" "$COALITION_DB" -v ON_ERROR_STOP=1 -q \
        -v day="$DAY" -v claims="$CLAIMS" -v partners="$PARTNERS" -v members="$MEMBERS" \
        -v expiring="$expiring" -v seed="$SEED" -v pwidth="$PARTNER_ID_WIDTH" \
        -v redeemers="$REDEEMERS" \
        -v settings_version="$settings_version" -v point_value="$POINT_VALUE" \
        -v issue_fee="$ISSUE_FEE" -v validity="$VALIDITY_MONTHS" "$@"
}

# The minimal aggregate a close has to run and hand to its client: the date's obligations
# (slices per issuer, redeemer and kind) and its issuance (new lots per issuer).
readonly BARE_GROUP_BY="
SELECT issuer_id, redeemer_id, kind, sum(points)::bigint, sum(amount_micros)::bigint
FROM slices WHERE settlement_date = DATE '$DAY' GROUP BY issuer_id, redeemer_id, kind;
SELECT issuer_id, sum(points_issued)::bigint, sum(fee_micros)::bigint
FROM lots WHERE settlement_date = DATE '$DAY' AND reissued_from_lot_id IS NULL GROUP BY issuer_id;"

bare_group_by_ms() {
    local started
    started="$(now_ms)"
    "$PG_BIN/psql" "$COALITION_DB" -v ON_ERROR_STOP=1 -Atq -c "$BARE_GROUP_BY" >/dev/null
    echo $(($(now_ms) - started))
}

# ---------------------------------------------------------------- setup

step "build (Release, $BUILD_DIR)"
cmake -S "$COALITION_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target coalitionctl
command -v jq >/dev/null || die "jq is not installed (apt-get install jq)"

step "private PostgreSQL (fresh, var/bench-clearing-pg, port $PG_PORT)"
fresh_cluster "$PG_DIR" "$PG_PORT" "$PG_SETTINGS"
"$PG_BIN/psql" "$admin" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE coalition"
COALITION_DB="$("$PGCLUSTER" "$PG_DIR" "$PG_PORT" conninfo coalition)"
export COALITION_DB
unset COALITION_CONFIG
rm -rf "$WORK"
mkdir -p "$WORK"
: >"$RESULTS"
stat_statements=0
if sql "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
    sql "CREATE EXTENSION pg_stat_statements" >/dev/null
    stat_statements=1
fi

step "program: migrate, settings, $PARTNERS partners"
"$CTL" migrate >/dev/null
"$CTL" program set point_value "$POINT_VALUE" >/dev/null
"$CTL" program set issue_fee "$ISSUE_FEE" >/dev/null
"$CTL" program set validity_months "$VALIDITY_MONTHS" >/dev/null
settings_version="$(sql "SELECT max(version) FROM program_settings")"
[[ $(sql "SELECT timezone FROM program_settings WHERE version = $settings_version") == UTC ]] ||
    die "the program's time zone is not UTC: the generator places claims in UTC days"
PARTNER_ID_WIDTH=$((${#PARTNERS} > 4 ? ${#PARTNERS} : 4))
readonly PARTNER_ID_WIDTH
started="$(now_ms)"
for ((i = 1; i <= PARTNERS; i++)); do
    printf -v partner_id "p%0${PARTNER_ID_WIDTH}d" "$i"
    "$CTL" partner add "$partner_id" --name "Bench partner $i" >/dev/null
done
info "$PARTNERS partners p$(printf "%0${PARTNER_ID_WIDTH}d" 1)… in $(seconds $(($(now_ms) - started))) s"

# ---------------------------------------------------------------- the date's rows, in SQL

# Lots expire on the last day of a month, so only a 1st has breakage: the lots accepted in the
# month VALIDITY_MONTHS + 1 before expire on the eve of a 1st.
expiring="$EXPIRING"
if [[ $(date -u -d "$DAY" +%d) != 01 ]]; then
    info "$DAY is not a 1st: no lot expires the day before, so no breakage in this run"
    expiring=0
fi

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

read -r day_claims day_earns day_burns day_reversals <<<"$(sql "
    SELECT count(*), count(*) FILTER (WHERE type = 'earn'), count(*) FILTER (WHERE type = 'burn'),
           count(*) FILTER (WHERE type = 'reversal')
    FROM claims WHERE settlement_date = DATE '$DAY'" | tr '|' ' ')"
read -r day_lots day_slices obligations <<<"$(sql "
    SELECT (SELECT count(*) FROM lots WHERE settlement_date = DATE '$DAY'),
           (SELECT count(*) FROM slices WHERE settlement_date = DATE '$DAY'),
           (SELECT count(DISTINCT (issuer_id, redeemer_id)) FROM slices
            WHERE settlement_date = DATE '$DAY' AND issuer_id <> redeemer_id)" | tr '|' ' ')"
figure "generation: $(seconds "$generation_ms") s for $day_claims claims on $DAY ($day_earns earns, $day_burns burns, $day_reversals reversals), $day_lots lots, $day_slices slices, $obligations issuer→redeemer pairs, $expiring lots expiring on the eve; database $(sql "SELECT pg_size_pretty(pg_database_size(current_database()))")"

# ---------------------------------------------------------------- the figures

step "warm-up: the bare GROUP BY, then a provisional read of $DAY (the close's queries, no writes)"
bare_group_by_ms >/dev/null
started="$(now_ms)"
"$CTL" statement "$DAY" "p$(printf "%0${PARTNER_ID_WIDTH}d" 1)" >"$WORK/provisional-statement.json"
provisional_ms=$(($(now_ms) - started))
info "provisional read (coalitionctl statement): $(seconds "$provisional_ms") s"

step "(a) close $DAY: coalitionctl settle"
[[ $stat_statements == 1 ]] && sql "SELECT pg_stat_statements_reset()" >/dev/null
started="$(now_ms)"
"$CTL" settle "$DAY" >"$WORK/run.json"
close_ms=$(($(now_ms) - started))
if [[ $stat_statements == 1 ]]; then
    # Where the close spent its time inside PostgreSQL, statement by statement.
    sql "SELECT lpad(round(total_exec_time)::text, 8) || ' ms  ' || lpad(calls::text, 5) || ' calls  '
                || lpad(rows::text, 9) || ' rows  ' || regexp_replace(query, '\s+', ' ', 'g')
         FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'
         ORDER BY total_exec_time DESC LIMIT 12" >"$WORK/close-statements.txt"
    info "the close's statements, slowest first (also in $WORK/close-statements.txt):"
    cut -c1-160 "$WORK/close-statements.txt" | sed 's/^/      /' >&2
fi
in_statements=""
if [[ $stat_statements == 1 ]]; then
    in_statements=", of which $(seconds "$(sql "SELECT round(sum(total_exec_time)) FROM pg_stat_statements
        WHERE query NOT LIKE '%pg_stat_statements%'")") s executing its SQL statements"
fi
figure "(a) close, coalitionctl settle $DAY: $(seconds "$close_ms") s$in_statements ($(jq '.obligations | length' "$WORK/run.json") obligations, $(jq '.participants | length' "$WORK/run.json") participants)"

step "(b) the bare GROUP BY over the same rows (warm, median of 3)"
runs=()
for _ in 1 2 3; do runs+=("$(bare_group_by_ms)"); done
group_by_ms="$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)"
info "runs: ${runs[*]} ms"
ratio="$(awk -v a="$close_ms" -v b="$group_by_ms" 'BEGIN { printf "%.2f", a / (b > 0 ? b : 1) }')"
figure "(b) bare GROUP BY (slices per issuer, redeemer, kind + new lots per issuer): $(seconds "$group_by_ms") s"
figure "close / GROUP BY = ${ratio}x (target ≤ ${TARGET_RATIO}x); provisional read $(seconds "$provisional_ms") s"

# ---------------------------------------------------------------- the run agrees with the rows

step "the run's totals against the rows"
read -r want_issued want_redeemed want_expired <<<"$(sql "
    SELECT (SELECT coalesce(sum(points_issued), 0) FROM lots
            WHERE settlement_date = DATE '$DAY' AND reissued_from_lot_id IS NULL),
           (SELECT coalesce(sum(CASE kind WHEN 'burn' THEN points ELSE -points END), 0)
            FROM slices WHERE settlement_date = DATE '$DAY'),
           (SELECT coalesce(sum(points), 0) FROM lot_expiries
            WHERE settlement_date = DATE '$DAY')" | tr '|' ' ')"
got="$(jq -r '.totals | "\(.claims) \(.points_issued) \(.points_redeemed) \(.points_expired)"' \
    "$WORK/run.json")"
want="$day_claims $want_issued $want_redeemed $want_expired"
if [[ $got != "$want" ]]; then
    problem "run totals (claims issued redeemed expired) $got, rows say $want"
else
    info "claims $day_claims, points issued $want_issued, redeemed $want_redeemed, expired $want_expired: as the rows say"
fi
if [[ $expiring -gt 0 && $want_expired == 0 ]]; then
    problem "lots expired on the eve of $DAY, but the close booked no breakage"
fi

if [[ $RUN_CHECK == 1 ]]; then
    step "coalitionctl check (every row of the ledger, and the closed run)"
    started="$(now_ms)"
    if "$CTL" check >"$WORK/check.txt" 2>&1; then
        figure "coalitionctl check: ok ($(seconds $(($(now_ms) - started))) s)"
    else
        problem "coalitionctl check failed: $(head -n 5 "$WORK/check.txt")"
    fi
else
    info "coalitionctl check skipped above 1,000,000 claims (BENCH_CHECK=1 runs it)"
fi

# ---------------------------------------------------------------- summary

step "figures ($(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'))"
cat "$RESULTS" >&2
info "details: $WORK (run.json, close-statements.txt, check.txt)"
if [[ ${#problems[@]} -gt 0 ]]; then
    printf '\n%s: %d problem(s):\n' "$COALITION_SCRIPT_NAME" "${#problems[@]}" >&2
    printf '  - %s\n' "${problems[@]}" >&2
    exit 1
fi
