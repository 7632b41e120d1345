// Posts one earn claim to the coalition with Node and the Standard Webhooks reference library
// (npm install standardwebhooks).
//
//   COALITION_URL=https://claims.coalition.example PARTNER_ID=grocer PARTNER_SECRET=whsec_... \
//   MEMBER_ID=M-1001 [CA_FILE=ca.pem] [WEBHOOK_ID=till-7-receipt-88812] node node-earn.mjs
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";
import { Webhook } from "standardwebhooks";

const { COALITION_URL, PARTNER_ID, PARTNER_SECRET, MEMBER_ID, CA_FILE, WEBHOOK_ID } = process.env;
// The secret stays on your servers: never in a browser, an app or a till customers can reach.
const webhook = new Webhook(PARTNER_SECRET);

// The claim's identity for ever: store it with the receipt and send the same one on every retry.
const webhookId = WEBHOOK_ID ?? `till-7-${randomUUID()}`;
const body = JSON.stringify({
    type: "earn",
    member_id: MEMBER_ID,
    points: 120,
    reference: "till-7/receipt-88812",
});

function post() {
    const now = new Date();
    const headers = {
        "content-type": "application/json",
        "webhook-id": webhookId,
        "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
        "webhook-signature": webhook.sign(webhookId, now, body),
    };
    const url = new URL(`/v1/partners/${PARTNER_ID}/claims`, COALITION_URL);
    const ca = CA_FILE ? readFileSync(CA_FILE) : undefined;
    return new Promise((resolve, reject) => {
        const request = https.request(
            url,
            { method: "POST", headers, ca, timeout: 10_000 },
            (response) => {
                let text = "";
                response.setEncoding("utf8");
                response.on("data", (chunk) => (text += chunk));
                response.on("end", () =>
                    resolve({ status: response.statusCode, headers: response.headers, text }),
                );
            },
        );
        request.on("timeout", () => request.destroy(new Error("timed out")));
        request.on("error", reject);
        request.end(body);
    });
}

// Timeouts, 429 and 5xx (503: nothing was stored; 500: the outcome may be unknown) are retried
// with the SAME id and body (a fresh timestamp and signature): a claim that was booked meanwhile
// is answered with its replay, never booked twice.
for (let attempt = 1; attempt <= 4; attempt++) {
    let answer;
    try {
        answer = await post();
    } catch (error) {
        console.error(`attempt ${attempt}: ${error.message}`);
        await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
        continue;
    }
    if (answer.status === 429 || answer.status >= 500) {
        const waitSeconds = Number(answer.headers["retry-after"] ?? attempt);
        await new Promise((resolve) => setTimeout(resolve, waitSeconds * 1000));
        continue;
    }
    console.log(answer.text);
    process.exit(answer.status === 201 ? 0 : 1); // any other answer is final: see its error.code
}
console.error(`no final answer: keep the claim and retry later with webhook-id ${webhookId}`);
process.exit(1);
