# shellcheck shell=bash
# Shared helpers for scripts/run and scripts/test. Sourced, never executed.
#
# Every script runs as a sequence of named steps; when a command fails the ERR trap names the
# step, so a red CI log says "step 'build' failed" instead of ending on a compiler's last line.

COALITION_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COALITION_SCRIPT_NAME="${COALITION_SCRIPT_NAME:-$(basename "$0")}"
COALITION_CURRENT_STEP="start-up"

# Prints a step banner and remembers the step for the failure message.
step() {
    COALITION_CURRENT_STEP="$1"
    printf '\n==> %s\n' "$1" >&2
}

info() { printf '    %s\n' "$*" >&2; }

die() {
    printf '\n%s: FAILED in step "%s": %s\n' "$COALITION_SCRIPT_NAME" "$COALITION_CURRENT_STEP" "$*" >&2
    exit 1
}

# Installed by the sourcing script after `set -eEuo pipefail` (-E so functions inherit it).
on_step_error() {
    local status=$?
    printf '\n%s: FAILED in step "%s" (exit %d at line %s: %s)\n' "$COALITION_SCRIPT_NAME" \
        "$COALITION_CURRENT_STEP" "$status" "${BASH_LINENO[0]}" "$BASH_COMMAND" >&2
    exit "$status"
}
install_error_trap() { trap on_step_error ERR; }

# Configures and builds the Release tree in build/ (both commands share it). With target names,
# builds only those: scripts/run needs the two programs, not every test.
build_release() {
    local targets=()
    [[ $# -gt 0 ]] && targets=(--target "$@")
    # One build of build/ at a time: a ./scripts/test started while ./scripts/run builds waits
    # for it rather than compiling into the same files.
    mkdir -p "$COALITION_ROOT/var"
    local lock="$COALITION_ROOT/var/build.lock"
    flock "$lock" cmake -S "$COALITION_ROOT" -B "$COALITION_ROOT/build" \
        -DCMAKE_BUILD_TYPE=Release >/dev/null
    flock "$lock" cmake --build "$COALITION_ROOT/build" -j2 "${targets[@]}"
}
