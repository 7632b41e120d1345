# Shared by the benchmarks (sourced after scripts/lib/common.sh, which sets COALITION_ROOT, die,
# info and step): the tools they use, the build tree, a fresh private cluster with extra
# settings, and the figures, problems and summary every benchmark prints.
# shellcheck shell=bash

readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly PGCLUSTER="$COALITION_ROOT/scripts/lib/pgcluster.sh"
readonly BUILD_DIR="$(realpath -m "${BENCH_BUILD_DIR:-$COALITION_ROOT/build}")"

# fresh_cluster DIR PORT SETTINGS: destroys and re-makes the cluster in DIR, sets SETTINGS
# ("key=value ...", BENCH_PG_SETTINGS) with ALTER SYSTEM — pgcluster.sh owns postgresql.conf —
# and restarts it. Sets `admin` to a conninfo of its postgres database.
fresh_cluster() {
    local dir="$1" port="$2" settings="$3" setting
    "$PGCLUSTER" "$dir" "$port" destroy
    "$PGCLUSTER" "$dir" "$port" init
    "$PGCLUSTER" "$dir" "$port" start
    admin="$("$PGCLUSTER" "$dir" "$port" conninfo postgres)"
    for setting in $settings; do
        [[ $setting =~ ^([a-z_.]+)=([^\']+)$ ]] ||
            die "BENCH_PG_SETTINGS: expected key=value, got '$setting'"
        # A list (shared_preload_libraries=a,b) is one quoted value per element for ALTER SYSTEM.
        "$PG_BIN/psql" "$admin" -v ON_ERROR_STOP=1 -qc \
            "ALTER SYSTEM SET ${BASH_REMATCH[1]} = '${BASH_REMATCH[2]//,/\', \'}'"
    done
    "$PGCLUSTER" "$dir" "$port" stop
    "$PGCLUSTER" "$dir" "$port" start
    info "settings: $settings (everything else PostgreSQL's default, fsync on)"
}

# ---- The host's share: on a virtual machine a busy host slows every figure of a run. steal_mark
# starts the count; steal_percent prints the share of this machine's CPU time (all of /proc/stat's
# columns) that the host took since ("steal"). Runs with much of it are not comparable.
cpu_ticks() {  # prints: all of /proc/stat's CPU time, then its steal part
    local _cpu user nice system idle iowait irq softirq steal _rest
    read -r _cpu user nice system idle iowait irq softirq steal _rest </proc/stat
    printf '%s %s\n' $((user + nice + system + idle + iowait + irq + softirq + steal)) "$steal"
}

steal_mark() { read -r steal_total0 steal_steal0 < <(cpu_ticks); }

steal_percent() {
    local total steal
    read -r total steal < <(cpu_ticks)
    awk -v s=$((steal - steal_steal0)) -v t=$((total - steal_total0)) \
        'BEGIN { printf "%.1f", (t > 0 ? 100 * s / t : 0) }'
}

# ---- Results and problems. Each benchmark sets RESULTS, the file its figures also go to.
problems=()

problem() {  # a failed check: the figures of this run are not figures, and it exits 1
    problems+=("$*")
    printf '    !! %s\n' "$*" >&2
}

figure() {  # a result line: printed now, and again in the summary at the end
    printf '    %s\n' "$*" >&2
    printf '%s\n' "$*" >>"$RESULTS"
}

sql() { "$PG_BIN/psql" "$COALITION_DB" -v ON_ERROR_STOP=1 -Atqc "$1"; }

# summary DETAILS: the machine, every figure again, where DETAILS are; exits 1 after listing the
# problems, if there were any.
summary() {
    step "figures ($(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'))"
    cat "$RESULTS" >&2
    info "details: $1"
    if [[ ${#problems[@]} -gt 0 ]]; then
        printf '\n%s: %d problem(s):\n' "$COALITION_SCRIPT_NAME" "${#problems[@]}" >&2
        printf '  - %s\n' "${problems[@]}" >&2
        exit 1
    fi
}
