#!/usr/bin/env bash
# Makes development TLS material with openssl (never committed: .gitignore drops *.pem, *.key):
#
#   make-dev-certs.sh OUTDIR [PARTNER_ID...]        (default partners: grocer fuel airline)
#
#   ca.pem, ca.key                  ECDSA P-256 dev CA
#   server.pem, server.key          serverAuth, SAN DNS:localhost IP:127.0.0.1 IP:::1
#   client-<id>.pem, client-<id>.key clientAuth, subject CN=<id> (what mutual TLS checks)
#
# Idempotent: a file set is kept while it is valid for more than a day (and, for leaves, still
# chains to the CA and matches its key); otherwise it is made again. A new CA re-issues every leaf.
set -euo pipefail

readonly CA_DAYS=3650
readonly LEAF_DAYS=825
readonly MIN_REMAINING_S=86400

die() {
    echo "make-dev-certs: $*" >&2
    exit 1
}

[[ $# -ge 1 ]] || die "usage: $(basename "$0") OUTDIR [PARTNER_ID...]"
OUT="$1"
shift
PARTNERS=("$@")
[[ ${#PARTNERS[@]} -gt 0 ]] || PARTNERS=(grocer fuel airline)
for id in "${PARTNERS[@]}"; do
    # Partner ids become file names and certificate subjects: keep them plain.
    [[ $id =~ ^[A-Za-z0-9._-]{1,64}$ ]] || die "bad partner id '$id'"
done
command -v openssl >/dev/null || die "openssl is not installed"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
umask 077   # keys are born private; certificates are opened up to 644 below

# ---------------------------------------------------------------- checks

# The key is the one the certificate was issued for.
key_matches() {
    local cert_pub key_pub
    cert_pub="$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null)" || return 1
    key_pub="$(openssl pkey -in "$2" -pubout 2>/dev/null)" || return 1
    [[ -n $cert_pub && $cert_pub == "$key_pub" ]]
}

still_valid() { openssl x509 -in "$1" -noout -checkend "$MIN_REMAINING_S" >/dev/null 2>&1; }

ca_usable() {
    [[ -f $OUT/ca.pem && -f $OUT/ca.key ]] && still_valid "$OUT/ca.pem" &&
        key_matches "$OUT/ca.pem" "$OUT/ca.key"
}

# NAME is server or client-<id>.
leaf_usable() {
    local name="$1"
    [[ -f $OUT/$name.pem && -f $OUT/$name.key ]] && still_valid "$OUT/$name.pem" &&
        key_matches "$OUT/$name.pem" "$OUT/$name.key" &&
        openssl verify -CAfile "$OUT/ca.pem" "$OUT/$name.pem" >/dev/null 2>&1
}

# ---------------------------------------------------------------- making

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

random_serial() { echo "0x$(openssl rand -hex 16)"; }

# Files are made in WORK and moved into place together, so an interrupted run never leaves a
# certificate next to a key it does not belong to.
install_pair() {
    local name="$1"
    chmod 600 "$WORK/$name.key"
    chmod 644 "$WORK/$name.pem"
    mv -f "$WORK/$name.key" "$OUT/$name.key"
    mv -f "$WORK/$name.pem" "$OUT/$name.pem"
}

make_ca() {
    new_key "$WORK/ca.key"
    openssl req -x509 -new -key "$WORK/ca.key" -sha256 -days "$CA_DAYS" -set_serial "$(random_serial)" \
        -subj "/O=Coalition Dev/CN=Coalition Dev CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$WORK/ca.pem" 2>/dev/null
    install_pair ca
    # Leaves of the old CA would no longer verify: drop them all, including those of partners
    # not named this time, rather than leave certificates behind that fail in confusing ways.
    rm -f "$OUT"/server.pem "$OUT"/server.key "$OUT"/client-*.pem "$OUT"/client-*.key
    echo "make-dev-certs: new dev CA in $OUT/ca.pem" >&2
}

# make_leaf NAME SUBJECT EXTENSIONS...
make_leaf() {
    local name="$1" subject="$2"
    shift 2
    new_key "$WORK/$name.key"
    openssl req -new -key "$WORK/$name.key" -subj "$subject" -out "$WORK/$name.csr" 2>/dev/null
    printf '%s\n' "$@" >"$WORK/$name.ext"
    openssl x509 -req -in "$WORK/$name.csr" -CA "$OUT/ca.pem" -CAkey "$OUT/ca.key" \
        -set_serial "$(random_serial)" -days "$LEAF_DAYS" -sha256 \
        -extfile "$WORK/$name.ext" -out "$WORK/$name.pem" 2>/dev/null
    install_pair "$name"
    echo "make-dev-certs: issued $OUT/$name.pem ($subject)" >&2
}

make_server() {
    make_leaf server "/O=Coalition Dev/CN=localhost" \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" \
        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
        "subjectKeyIdentifier=hash" \
        "authorityKeyIdentifier=keyid"
}

make_client() {
    make_leaf "client-$1" "/O=Coalition Dev/CN=$1" \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=clientAuth" \
        "subjectKeyIdentifier=hash" \
        "authorityKeyIdentifier=keyid"
}

# ---------------------------------------------------------------- main

ca_usable || make_ca
leaf_usable server || make_server
for id in "${PARTNERS[@]}"; do
    leaf_usable "client-$id" || make_client "$id"
done
