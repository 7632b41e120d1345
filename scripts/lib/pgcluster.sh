#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for development (scripts/run) and tests (scripts/test).
#
#   pgcluster.sh DATADIR PORT init|start|stop|status|conninfo [DBNAME]|destroy
#
# Layout of DATADIR:  data/ (PGDATA)   socket/ (Unix socket)   log/postgres.log
# Unix socket only (listen_addresses=''), trust auth on that socket, superuser role "coalition".
# The socket directory is mode 700, so only its owner (and root) can reach a trusted socket.
#
# PostgreSQL refuses to run as root. When this script runs as root it creates a system user
# "coalition" (once) and runs initdb/pg_ctl as that user. That user must be able to reach
# DATADIR; when a parent directory is closed to it (a checkout under /root, say), the cluster
# lives in /var/tmp/coalition-pg-<hash> and DATADIR is a symlink to it. We never loosen the
# permissions of the user's own directories to make room for the cluster.
set -euo pipefail

# runuser and useradd live in /usr/sbin, which root's PATH lacks after a plain `su` (Debian).
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

readonly PG_BIN=/usr/lib/postgresql/15/bin   # never whatever initdb/pg_ctl is first on PATH
readonly CLUSTER_USER=coalition              # OS user when run as root, and the DB superuser
readonly SOCKET_PATH_MAX=107                 # sun_path holds 108 bytes including the NUL
readonly WAIT_SECONDS=60

die() {
    echo "pgcluster: $*" >&2
    exit 1
}

usage() {
    echo "usage: $(basename "$0") DATADIR PORT init|start|stop|status|conninfo [DBNAME]|destroy" >&2
    exit 2
}

# ---------------------------------------------------------------- who runs PostgreSQL

is_root() { [[ $(id -u) -eq 0 ]]; }

ensure_cluster_user() {
    is_root || return 0
    id -u "$CLUSTER_USER" >/dev/null 2>&1 && return 0
    # Two scripts may race to create it; the loser's failure is fine if the user now exists.
    useradd --system --no-create-home --shell /usr/sbin/nologin "$CLUSTER_USER" 2>/dev/null ||
        id -u "$CLUSTER_USER" >/dev/null 2>&1 ||
        die "cannot create system user $CLUSTER_USER"
}

# Runs a command as the cluster's owner, from / so that an unreadable current directory
# (e.g. /root/...) does not upset initdb or postgres. Every descriptor above stderr is closed for
# it (the function is a subshell): a postmaster keeps what it inherits for as long as it runs,
# be it the verb's lock (main, below), scripts/test's run lock or a caller's pipe, which would
# then never see its end.
as_owner() (
    close_inherited_descriptors
    cd /
    if is_root; then
        runuser -u "$CLUSTER_USER" -- "$@"
    else
        "$@"
    fi
)

close_inherited_descriptors() {
    local path fd
    for path in /proc/"$BASHPID"/fd/*; do
        fd="${path##*/}"
        [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)) || continue
        # The listing's own descriptor is gone by now: closing it fails, harmlessly.
        eval "exec $fd>&-" 2>/dev/null || true
    done
}

# Makes a directory owned by the cluster owner, mode 700. As root it changes the owner of what
# it is given, so it takes only a real directory (never a symbolic link, which chown and chmod
# would follow: a link planted in the /var/tmp or /tmp fallbacks below could hand /etc to the
# cluster user) that already belongs to root, the cluster user or whoever runs this.
make_owned_dir() {
    local dir="$1" owner
    [[ -L $dir ]] && die "$dir is a symbolic link: refused (cluster directories are real ones)"
    mkdir -p "$dir"
    [[ -d $dir && ! -L $dir ]] || die "$dir is not a directory"
    owner="$(stat -c %U "$dir")"
    if [[ $owner != root && $owner != "$CLUSTER_USER" && $owner != "$(id -un)" ]]; then
        die "$dir belongs to $owner, not to root, $CLUSTER_USER or $(id -un): refused"
    fi
    if is_root; then chown -h "$CLUSTER_USER:" "$dir"; fi
    chmod 700 "$dir"
}

# ---------------------------------------------------------------- where things are

short_hash() { printf '%s' "$1" | sha256sum | cut -c1-12; }

# Chooses where the cluster really lives when it is first created: DATADIR itself if the owner
# can reach it, else a directory under /var/tmp that DATADIR points to.
create_root() {
    local parent
    parent="$(dirname "$HANDLE")"
    mkdir -p "$parent"
    if is_root && ! runuser -u "$CLUSTER_USER" -- test -x "$parent" 2>/dev/null; then
        local real
        real="/var/tmp/coalition-pg-$(short_hash "$HANDLE")"
        make_owned_dir "$real"
        ln -sfn "$real" "$HANDLE"
    else
        make_owned_dir "$HANDLE"
    fi
}

# The real directory behind DATADIR (which may be a symlink), or empty if there is none.
real_root() {
    if [[ -L $HANDLE ]]; then
        readlink -f "$HANDLE" 2>/dev/null || true
    elif [[ -d $HANDLE ]]; then
        printf '%s\n' "$HANDLE"
    fi
}

# DATADIR/socket, unless that path is too long for a Unix socket or needs quoting in a conninfo
# string; then a short directory under /tmp that is derived from DATADIR, so every call agrees.
socket_dir() {
    local candidate="$ROOT/socket"
    local socket_file="$candidate/.s.PGSQL.$PORT"
    if (( ${#socket_file} <= SOCKET_PATH_MAX )) && [[ $candidate =~ ^[A-Za-z0-9/._-]+$ ]]; then
        printf '%s\n' "$candidate"
    else
        printf '/tmp/coalition-pg-%s\n' "$(short_hash "$ROOT")"
    fi
}

# The line cmd_init appends to postgresql.conf as its last step: a data directory without it is
# one an interrupted init left (initdb writes PG_VERSION early), and is made again.
readonly INIT_DONE_LINE='# ---- added by scripts/lib/pgcluster.sh'

is_initialised() {
    [[ -n $ROOT && -f $ROOT/data/PG_VERSION ]] &&
        grep -qxF "$INIT_DONE_LINE" "$ROOT/data/postgresql.conf" 2>/dev/null
}

require_cluster() {
    is_initialised ||
        die "no cluster in $HANDLE: run '$(basename "$0") $HANDLE $PORT init' first"
}

# ---------------------------------------------------------------- state

is_running() {
    as_owner "$PG_BIN/pg_ctl" -D "$ROOT/data" status >/dev/null 2>&1
}

running_port() { sed -n 4p "$ROOT/data/postmaster.pid" 2>/dev/null || true; }

wait_until_ready() {
    local socket deadline
    socket="$(socket_dir)"
    deadline=$((SECONDS + WAIT_SECONDS))
    until "$PG_BIN/pg_isready" -q -h "$socket" -p "$PORT" -U "$CLUSTER_USER" -d postgres; do
        (( SECONDS < deadline )) || die "not ready after ${WAIT_SECONDS}s; see $ROOT/log/postgres.log"
        sleep 0.2
    done
}

# ---------------------------------------------------------------- verbs

cmd_init() {
    ensure_cluster_user
    ROOT="$(real_root)"
    if is_initialised; then
        echo "pgcluster: $HANDLE already initialised" >&2
        return 0
    fi
    if [[ -n $ROOT && -f $ROOT/data/postmaster.pid ]] && is_running; then
        die "$HANDLE holds a half-made cluster that is running: stop it first"
    fi
    if [[ -n $ROOT ]] && ! holds_only_a_cluster "$ROOT"; then
        die "$HANDLE holds other files than a cluster's: give a new or empty directory"
    fi
    if [[ -n $ROOT && ! -L $HANDLE ]] && is_root &&
        ! runuser -u "$CLUSTER_USER" -- test -x "$ROOT" 2>/dev/null; then
        # An existing plain directory the cluster user cannot reach: start over elsewhere.
        rmdir "$ROOT" 2>/dev/null || die "$HANDLE exists, is not empty and $CLUSTER_USER cannot reach it"
        ROOT=""
    fi
    if [[ -z $ROOT ]]; then
        create_root
        ROOT="$(real_root)"
    fi
    make_owned_dir "$ROOT"
    make_owned_dir "$ROOT/log"
    if [[ -e $ROOT/data ]]; then
        # A data directory without the finished-init line: set aside, never deleted (a cluster
        # whose postgresql.conf lost the line by hand must not lose its data).
        local aside
        aside="$ROOT/data.half-made.$(date -u +%Y%m%dT%H%M%SZ)"
        mv "$ROOT/data" "$aside"
        echo "pgcluster: $ROOT/data was not a finished cluster: kept as $aside" >&2
    fi

    as_owner "$PG_BIN/initdb" -D "$ROOT/data" -U "$CLUSTER_USER" --auth-local=trust \
        --auth-host=reject --encoding=UTF8 --locale=C --no-instructions \
        >"$ROOT/log/initdb.log" 2>&1 ||
        die "initdb failed; see $ROOT/log/initdb.log"

    # INIT_DONE_LINE first in the block, written last of the init: the cluster is complete.
    as_owner tee -a "$ROOT/data/postgresql.conf" >/dev/null <<'CONF'

# ---- added by scripts/lib/pgcluster.sh
listen_addresses = ''            # Unix socket only: nothing on the network
fsync = on                       # a money system: durability is not traded for speed, even here
max_connections = 200            # parallel tests each open a pool
log_line_prefix = '%m [%p] %q%u@%d '
# Port and socket directory are (re)written by every start, so they follow the command line.
include_if_exists = 'coalition_runtime.conf'
CONF
    echo "pgcluster: initialised $HANDLE" >&2
}

cmd_start() {
    require_cluster
    if is_running; then
        local port
        port="$(running_port)"
        [[ $port == "$PORT" ]] || die "already running on port $port, not $PORT"
        wait_until_ready
        return 0
    fi
    local socket
    socket="$(socket_dir)"
    make_owned_dir "$socket"
    make_owned_dir "$ROOT/log"
    printf "port = %d\nunix_socket_directories = '%s'\n" "$PORT" "$socket" |
        as_owner tee "$ROOT/data/coalition_runtime.conf" >/dev/null
    as_owner "$PG_BIN/pg_ctl" -D "$ROOT/data" -l "$ROOT/log/postgres.log" -w -t "$WAIT_SECONDS" \
        start >/dev/null 2>&1 || {
        tail -n 20 "$ROOT/log/postgres.log" >&2 || true
        die "could not start the cluster in $HANDLE (log above: $ROOT/log/postgres.log)"
    }
    wait_until_ready
}

cmd_stop() {
    [[ -n $ROOT && -f $ROOT/data/PG_VERSION ]] || return 0   # nothing there: nothing to stop
    is_running || return 0
    as_owner "$PG_BIN/pg_ctl" -D "$ROOT/data" -m fast -w -t "$WAIT_SECONDS" stop >/dev/null ||
        die "could not stop the cluster in $HANDLE"
}

cmd_status() {
    if [[ -z $ROOT || ! -f $ROOT/data/PG_VERSION ]]; then
        echo "absent: no cluster in $HANDLE"
        return 4
    fi
    if is_running; then
        echo "running: port $(running_port), socket $(socket_dir), data $ROOT/data"
    else
        echo "stopped: data $ROOT/data"
        return 3
    fi
}

cmd_conninfo() {
    require_cluster
    printf 'host=%s port=%s user=%s dbname=%s\n' "$(socket_dir)" "$PORT" "$CLUSTER_USER" "${1:-postgres}"
}

# Whether DIR holds nothing but what this script makes there (or nothing): destroy removes and
# init takes over only such a directory, so that a slip (`destroy var`, `init .`) never wipes
# or chowns a directory of other files.
holds_only_a_cluster() {
    local entry
    for entry in "$1"/* "$1"/.[!.]* "$1"/..?*; do
        [[ -e $entry || -L $entry ]] || continue
        case "${entry##*/}" in
            data | log | socket | data.half-made.*) ;;
            *) return 1 ;;
        esac
    done
}

# Stops the cluster and removes every trace: DATADIR, the /var/tmp home behind it, the socket.
cmd_destroy() {
    if [[ -n $ROOT ]] && ! holds_only_a_cluster "$ROOT"; then
        die "$HANDLE holds other files than a cluster's (data, log, socket): not removed"
    fi
    cmd_stop
    if [[ -n $ROOT ]]; then
        local socket
        socket="$(socket_dir)"
        [[ $socket == /tmp/coalition-pg-* ]] && rm -rf "$socket"
        rm -rf "$ROOT"
    fi
    rm -rf "$HANDLE"
}

# ---------------------------------------------------------------- main

[[ $# -ge 3 ]] || usage
HANDLE="$(realpath -m -s "$1")"   # absolute, symlinks kept: DATADIR itself may be one
PORT="$2"
VERB="$3"
shift 3
if ! [[ $PORT =~ ^[0-9]+$ ]] || (( PORT < 1024 || PORT > 65535 )); then
    die "bad port '$PORT' (1024-65535)"
fi
[[ -x $PG_BIN/postgres ]] || die "PostgreSQL 15 is not installed ($PG_BIN); run scripts/run or scripts/test once"

# One verb that changes a cluster at a time: two first-time inits would otherwise both find no
# cluster and race to create it, and a stop could land in the middle of a start. The lock is
# on the directory that holds DATADIR, opened read-only: no lock file to create, which as root
# in a shared directory (/tmp) could follow a link someone else planted. Clusters side by side
# (var/pg, var/test-pg) take turns, for the few seconds a verb lasts.
case "$VERB" in
    init | start | stop | destroy)
        mkdir -p "$(dirname "$HANDLE")"
        exec {LOCK_FD}<"$(dirname "$HANDLE")"
        flock -w $((WAIT_SECONDS * 5)) "$LOCK_FD" || die "another pgcluster.sh holds $HANDLE"
        ;;
esac
ROOT="$(real_root)"

case "$VERB" in
    init) cmd_init ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    conninfo) cmd_conninfo "$@" ;;
    destroy) cmd_destroy ;;
    *) usage ;;
esac
