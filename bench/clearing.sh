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
#   BENCH_REUSE          1: keep the rows of the last run (same parameters) and reopen the date
#                        instead of generating it again: minutes instead of ~25 at full size
#
# Steps: Release build → fresh cluster in var/bench-clearing-pg → migrate, program, partners →
# the date's claims, lots and slices generated in SQL (bench/clearing-generate.sh: INSERT …
# SELECT over generate_series, the same rows the booking path writes) → VACUUM ANALYZE,
# CHECKPOINT → warm-up → (a) close with `coalitionctl settle` → (b) the bare GROUP BY → ratio →
# totals compared → `coalitionctl check`.
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
REUSE="${BENCH_REUSE:-0}"
[[ $REUSE == 0 || $REUSE == 1 ]] || die "BENCH_REUSE must be 0 or 1, got '$REUSE'"
readonly REUSE
# What the cluster's rows were made from; BENCH_REUSE=1 needs the same.
readonly GENERATION="day=$DAY claims=$CLAIMS partners=$PARTNERS members=$MEMBERS \
redeemers=$REDEEMERS expiring=$EXPIRING seed=$SEED settings=$PG_SETTINGS"
readonly GENERATED="$PG_DIR/generation.txt"

cleanup() {
    "$PGCLUSTER" "$PG_DIR" "$PG_PORT" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT


now_ms() { date +%s%3N; }

seconds() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }

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

if [[ $REUSE == 1 ]]; then
    step "private PostgreSQL (kept from the last run, var/bench-clearing-pg, port $PG_PORT)"
    [[ -f $GENERATED && $(cat "$GENERATED") == "$GENERATION" ]] ||
        die "BENCH_REUSE=1: var/bench-clearing-pg does not hold a finished generation of these \
parameters ($GENERATION); run once without it"
    "$PGCLUSTER" "$PG_DIR" "$PG_PORT" start
else
    step "private PostgreSQL (fresh, var/bench-clearing-pg, port $PG_PORT)"
    fresh_cluster "$PG_DIR" "$PG_PORT" "$PG_SETTINGS"
    "$PG_BIN/psql" "$admin" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE coalition"
fi
COALITION_DB="$("$PGCLUSTER" "$PG_DIR" "$PG_PORT" conninfo coalition)"
export COALITION_DB
unset COALITION_CONFIG
rm -rf "$WORK"
mkdir -p "$WORK"
: >"$RESULTS"
stat_statements=0
if sql "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
    sql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    stat_statements=1
fi

PARTNER_ID_WIDTH=$((${#PARTNERS} > 4 ? ${#PARTNERS} : 4))
readonly PARTNER_ID_WIDTH
# Lots expire on the last day of a month, so only a 1st has breakage: the lots accepted in the
# month VALIDITY_MONTHS + 1 before expire on the eve of a 1st.
expiring="$EXPIRING"
if [[ $(date -u -d "$DAY" +%d) != 01 ]]; then
    info "$DAY is not a 1st: no lot expires the day before, so no breakage in this run"
    expiring=0
fi

if [[ $REUSE == 1 ]]; then
    # The date as it was before the last run closed it: without its run, its statement rows and
    # the own expiry rows the close wrote. The closed-date triggers forbid exactly this, so they
    # are bypassed (session_replication_role, superuser) — on this private cluster only.
    step "reopen $DAY (the generation of the last run is reused)"
    sql "SET session_replication_role = replica;
         DELETE FROM settlement_statements WHERE settlement_date = DATE '$DAY';
         DELETE FROM settlement_runs WHERE settlement_date = DATE '$DAY';
         DELETE FROM lot_expiries WHERE settlement_date = DATE '$DAY' AND claim_id IS NULL;"
    sql "VACUUM ANALYZE settlement_statements, settlement_runs, lot_expiries"
    sql "CHECKPOINT"
    generation_ms=0
else
    rm -f "$GENERATED"
    # shellcheck source=clearing-generate.sh
    source "$COALITION_ROOT/bench/clearing-generate.sh"
    echo "$GENERATION" >"$GENERATED"
fi

read -r day_claims day_earns day_burns day_reversals <<<"$(sql "
    SELECT count(*), count(*) FILTER (WHERE type = 'earn'), count(*) FILTER (WHERE type = 'burn'),
           count(*) FILTER (WHERE type = 'reversal')
    FROM claims WHERE settlement_date = DATE '$DAY'" | tr '|' ' ')"
read -r day_lots day_slices obligations <<<"$(sql "
    SELECT (SELECT count(*) FROM lots WHERE settlement_date = DATE '$DAY'),
           (SELECT count(*) FROM slices WHERE settlement_date = DATE '$DAY'),
           (SELECT count(DISTINCT (issuer_id, redeemer_id)) FROM slices
            WHERE settlement_date = DATE '$DAY' AND issuer_id <> redeemer_id)" | tr '|' ' ')"
if [[ $REUSE == 1 ]]; then
    generation="reused (BENCH_REUSE=1)"
else
    generation="$(seconds "$generation_ms") s"
fi
figure "generation: $generation for $day_claims claims on $DAY ($day_earns earns, $day_burns burns, $day_reversals reversals), $day_lots lots, $day_slices slices, $obligations issuer→redeemer pairs, $expiring lots expiring on the eve; database $(sql "SELECT pg_size_pretty(pg_database_size(current_database()))")"

# ---------------------------------------------------------------- the figures

step "warm-up: the bare GROUP BY, then p0001's provisional statement of $DAY (no writes)"
bare_group_by_ms >/dev/null
started="$(now_ms)"
"$CTL" statement "$DAY" "p$(printf "%0${PARTNER_ID_WIDTH}d" 1)" >"$WORK/provisional-statement.json"
provisional_ms=$(($(now_ms) - started))
info "one partner's provisional statement (coalitionctl statement): $(seconds "$provisional_ms") s"

# The breakage the close must book, from the rows as the generator left them (it writes no
# lot_expiries): what the lots that ended on the eve still hold. Read after the close, the
# expiry rows would only be the close's own.
want_expired="$(sql "SELECT coalesce(sum(points_remaining), 0) FROM lots
                     WHERE expires_on = DATE '$DAY' - 1")"

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
figure "close / GROUP BY = ${ratio}x (target ≤ ${TARGET_RATIO}x); one partner's provisional statement $(seconds "$provisional_ms") s"

# ---------------------------------------------------------------- the run agrees with the rows

step "the run's totals against the rows"
read -r want_issued want_redeemed <<<"$(sql "
    SELECT (SELECT coalesce(sum(points_issued), 0) FROM lots
            WHERE settlement_date = DATE '$DAY' AND reissued_from_lot_id IS NULL),
           (SELECT coalesce(sum(CASE kind WHEN 'burn' THEN points ELSE -points END), 0)
            FROM slices WHERE settlement_date = DATE '$DAY')" | tr '|' ' ')"
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

summary "$WORK (run.json, close-statements.txt, check.txt)"
