#!/usr/bin/env bash
# Signs a claim the way partners must (Standard Webhooks v1), with bash + openssl only:
#
#   sign-claim.sh SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP BODY   → prints  v1,<base64 HMAC-SHA256>
#   sign-claim.sh --self-test                                → checks the published test vector
#
# key            = base64-decode of the part of SECRET after "whsec_"
# signed content = "${WEBHOOK_ID}.${WEBHOOK_TIMESTAMP}.${BODY}"  (BODY byte for byte as sent)
set -euo pipefail

sign() {
    local secret="$1" id="$2" timestamp="$3" body="$4"
    [[ $secret == whsec_* ]] || { echo "sign-claim: the secret must start with whsec_" >&2; return 2; }
    local key_hex
    # od instead of xxd: od is in coreutils, xxd is not always installed.
    key_hex="$(printf '%s' "${secret#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')"
    [[ -n $key_hex ]] || { echo "sign-claim: the secret holds no key" >&2; return 2; }
    printf 'v1,%s\n' "$(printf '%s.%s.%s' "$id" "$timestamp" "$body" |
        openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary | base64 | tr -d '\n')"
}

# The example of the Standard Webhooks specification; if this fails, no signature we print
# would be accepted by any conforming server.
self_test() {
    local expected='v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
    local actual
    actual="$(sign whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330 \
        '{"test": 2432232314}')"
    if [[ $actual != "$expected" ]]; then
        echo "sign-claim: self-test FAILED: got $actual, expected $expected" >&2
        return 1
    fi
    echo "sign-claim: self-test ok" >&2
}

if [[ ${1:-} == --self-test ]]; then
    self_test
elif [[ $# -eq 4 ]]; then
    sign "$@"
else
    echo "usage: $(basename "$0") SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP BODY | --self-test" >&2
    exit 2
fi
