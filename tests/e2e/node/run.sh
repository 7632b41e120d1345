#!/usr/bin/env bash
# The end-to-end claims suite in Node: the real binaries over TLS, claims signed with the
# Standard Webhooks reference implementation (npm standardwebhooks).
#
#   run.sh BIN_DIR [TEST_FILE...]     (CTest: e2e_node_claims, label e2e; default: tests/*.test.mjs)
#
# Needs, like every e2e test (scripts/test sets them):
#   COALITION_TEST_DB     libpq key=value conninfo of a throw-away cluster, dbname=postgres, superuser
#   COALITION_TEST_CERTS  ca.pem, server.pem/.key, client-{grocer,fuel,airline}.pem/.key
#   COALITION_TEST_PGCTL  a command; "$COALITION_TEST_PGCTL stop|start" stops/starts that cluster
#
# Makes a fresh database, migrates it, adds partners grocer, fuel (earn rate 2) and airline and an
# operator token, runs every *.test.mjs here one file at a time (the outage test stops the shared
# cluster), and drops the database on the way out.
set -euo pipefail

die() {
    echo "e2e-node: $*" >&2
    exit 1
}

[[ $# -ge 1 ]] || die "usage: $(basename "$0") BIN_DIR [TEST_FILE...]"
BIN_DIR="$(cd "$1" && pwd)" || die "no such directory: $1"
shift
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
test_files=()
for file in "$@"; do test_files+=("$(realpath "$file")"); done

for name in COALITION_TEST_DB COALITION_TEST_CERTS COALITION_TEST_PGCTL; do
    [[ -n ${!name:-} ]] || die "$name is not set (run the e2e tier through ./scripts/test)"
done
for file in ca.pem server.pem server.key client-grocer.pem client-grocer.key client-fuel.pem \
    client-fuel.key client-airline.pem client-airline.key; do
    [[ -r $COALITION_TEST_CERTS/$file ]] || die "missing $COALITION_TEST_CERTS/$file"
done
for program in coalition-server coalitionctl; do
    [[ -x $BIN_DIR/$program ]] || die "missing $BIN_DIR/$program (build it first)"
done
for tool in node npm psql curl openssl; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

# npm writes node_modules/.package-lock.json last: without it (an interrupted install) or older
# than the lock file, install again.
if [[ ! $HERE/node_modules/.package-lock.json -nt $HERE/package-lock.json ]]; then
    (cd "$HERE" && npm ci --no-audit --no-fund) || die "npm ci failed"
fi

# A settings file of the caller's must not leak into the programs under test.
unset COALITION_CONFIG

readonly DB_NAME="node_e2e_$$"
ADMIN_DB="$COALITION_TEST_DB"
WORK_DIR="$(mktemp -d -t coalition-node-e2e.XXXXXX)"

# psql on the cluster's maintenance database, quiet about "does not exist, skipping".
admin_sql() {
    PGOPTIONS="-c client_min_messages=warning" psql "$ADMIN_DB" -X -v ON_ERROR_STOP=1 -qc "$1"
}

cleanup() {
    local status=$?
    # The outage test restarts the cluster in a finally block; if it was killed midway, try
    # once more so the drop below (and the next suite) finds a running cluster.
    if ! admin_sql 'select 1' >/dev/null 2>&1; then
        bash -c "$COALITION_TEST_PGCTL start" >/dev/null 2>&1 || true
    fi
    admin_sql "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 ||
        echo "e2e-node: could not drop database $DB_NAME" >&2
    rm -rf "$WORK_DIR"
    exit "$status"
}
trap cleanup EXIT

admin_sql "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null
admin_sql "CREATE DATABASE \"$DB_NAME\"" >/dev/null
# libpq lets a later keyword override an earlier one: this retargets the cluster string.
export COALITION_DB="$ADMIN_DB dbname=$DB_NAME"

ctl() { "$BIN_DIR/coalitionctl" "$@"; }

# Prints the single line a command printed, failing when it printed anything else.
single_line() {
    local what="$1" pattern="$2" output
    shift 2
    output="$("$@")" || die "$what failed"
    [[ $output =~ $pattern ]] || die "$what printed '$output', expected one line matching $pattern"
    printf '%s' "$output"
}

ctl migrate >/dev/null || die "coalitionctl migrate failed"

readonly SECRET_PATTERN='^whsec_[A-Za-z0-9+/=]+$'
COALITION_E2E_SECRET_GROCER="$(single_line "partner add grocer" "$SECRET_PATTERN" \
    ctl partner add grocer --name "Green Grocer")"
COALITION_E2E_SECRET_FUEL="$(single_line "partner add fuel" "$SECRET_PATTERN" \
    ctl partner add fuel --name "Fuel Station" --earn-rate 2)"
COALITION_E2E_SECRET_AIRLINE="$(single_line "partner add airline" "$SECRET_PATTERN" \
    ctl partner add airline --name "Blue Airline")"
COALITION_E2E_OPERATOR_TOKEN="$(single_line "token create" '^[^[:space:]]+$' \
    ctl token create --role operator)"
export COALITION_E2E_SECRET_GROCER COALITION_E2E_SECRET_FUEL COALITION_E2E_SECRET_AIRLINE
export COALITION_E2E_OPERATOR_TOKEN
export COALITION_BIN_DIR="$BIN_DIR"
export COALITION_E2E_WORK_DIR="$WORK_DIR"

cd "$HERE"
if [[ ${#test_files[@]} -eq 0 ]]; then
    shopt -s nullglob
    test_files=(tests/*.test.mjs)
    [[ ${#test_files[@]} -gt 0 ]] || die "no test files in $HERE/tests"
fi
# One file at a time: the outage test stops the cluster every other file needs. One node process
# a file rather than --test-concurrency=1, which only node 20.10+ knows (Debian 12's is 18).
failed=()
for file in "${test_files[@]}"; do
    node --test --test-reporter=spec "$file" || failed+=("$file")
done
[[ ${#failed[@]} -eq 0 ]] || die "failed: ${failed[*]}"
