# shellcheck shell=bash
# Installs the Debian packages the build, the tests and the dev cluster need. Sourced by
# scripts/run and scripts/test; defines ensure_dependencies. Quiet and fast when everything is
# there (a single dpkg-query), so both commands can call it on every run.
#
# CI runs as root with CI=true and no stdin: nothing here may prompt.

# dpkg needs ldconfig and start-stop-daemon on PATH, which lives in /usr/sbin: root's PATH lacks
# it after a plain `su` (Debian), and apt-get then fails with "expected programs not found".
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

COALITION_APT_PACKAGES=(
    build-essential cmake pkg-config g++
    libboost1.81-dev libpqxx-dev nlohmann-json3-dev libssl-dev libmimalloc-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    postgresql-15 postgresql-client-15
    openssl curl ca-certificates faketime
)

# Prints the packages that are not installed, one a line.
missing_packages() {
    local installed
    # One dpkg-query for all; unknown packages only make it complain on stderr.
    installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${COALITION_APT_PACKAGES[@]}" 2>/dev/null |
        awk '$2 == "install" && $3 == "ok" && $4 == "installed" { print $1 }')" || true
    local package
    for package in "${COALITION_APT_PACKAGES[@]}"; do
        grep -qxF "$package" <<<"$installed" || printf '%s\n' "$package"
    done
    # The machine may carry nodesource's nodejs, which bundles npm and conflicts with Debian's
    # npm package: Debian's npm only when there is no npm, and its nodejs only when no node.
    if ! command -v npm >/dev/null 2>&1; then
        command -v node >/dev/null 2>&1 || printf '%s\n' nodejs
        printf '%s\n' npm
    fi
}

ensure_dependencies() {
    local -a missing
    mapfile -t missing < <(missing_packages)
    [[ ${#missing[@]} -eq 0 ]] && return 0

    local -a as_root=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "deps: missing ${missing[*]}; not root and no sudo: install them as root" >&2
            return 1
        fi
        as_root=(sudo)
        # Without a terminal (CI) fail rather than wait for a password nobody can type.
        [[ -t 0 ]] || as_root=(sudo -n)
    fi
    echo "deps: installing ${missing[*]}" >&2
    # A fresh VM's unattended-upgrades holds the dpkg lock for minutes: wait for it rather than
    # fail at once.
    local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q)
    "${as_root[@]}" "${apt[@]}" update </dev/null >/dev/null
    "${as_root[@]}" "${apt[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null ||
        {
            echo "deps: apt-get install failed; if dpkg was interrupted before, run" \
                "'dpkg --configure -a' as root and try again" >&2
            return 1
        }
}
