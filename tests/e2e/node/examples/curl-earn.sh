#!/usr/bin/env bash
# Posts one earn claim to the coalition, signed the Standard Webhooks v1 way, with curl + openssl.
#
#   COALITION_URL=https://claims.coalition.example PARTNER_ID=grocer PARTNER_SECRET=whsec_... \
#   MEMBER_ID=M-1001 [CA_FILE=ca.pem] [CLIENT_CERT=grocer.pem CLIENT_KEY=grocer.key] \
#   [WEBHOOK_ID=till-7-receipt-88812] ./curl-earn.sh
set -euo pipefail
: "${COALITION_URL:?}" "${PARTNER_ID:?}" "${PARTNER_SECRET:?}" "${MEMBER_ID:?}"

# The claim's identity for ever: store it with the receipt and send the same one on every retry.
webhook_id="${WEBHOOK_ID:-till-7-$(date +%s)-$RANDOM$RANDOM}"
timestamp="$(date +%s)"
# Built once and sent byte for byte as signed (keep it with the id for retries).
body="$(printf '{"type":"earn","member_id":"%s","points":120,"reference":"%s"}' \
    "$MEMBER_ID" "till-7/receipt-88812")"

# key = base64-decode of what follows "whsec_"; signed content = "{id}.{timestamp}.{body}".
key_hex="$(printf '%s' "${PARTNER_SECRET#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')"
signature="$(printf '%s.%s.%s' "$webhook_id" "$timestamp" "$body" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary | base64 | tr -d '\n')"

tls=(--tlsv1.2)
[[ -n ${CA_FILE:-} ]] && tls+=(--cacert "$CA_FILE")
[[ -n ${CLIENT_CERT:-} ]] && tls+=(--cert "$CLIENT_CERT" --key "${CLIENT_KEY:?}")

# --retry resends this very request (same id, body and signature) after a timeout, 429, 500
# (outcome unknown), 502, 503 (nothing stored) or 504, honouring Retry-After; a replayed answer
# carries "Idempotent-Replayed: true". The answer goes to a file, which curl empties before each
# retry, so only the last attempt's answer is printed (stdout cannot be emptied).
answer="$(mktemp)"
trap 'rm -f "$answer"' EXIT
status=0
curl --silent --show-error --fail-with-body --max-time 10 --retry 3 "${tls[@]}" \
    -H "content-type: application/json" \
    -H "webhook-id: $webhook_id" \
    -H "webhook-timestamp: $timestamp" \
    -H "webhook-signature: v1,$signature" \
    --data-binary "$body" \
    --output "$answer" \
    "$COALITION_URL/v1/partners/$PARTNER_ID/claims" || status=$?
cat "$answer"
echo
exit "$status"
