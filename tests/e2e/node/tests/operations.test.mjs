// Contract §2 refusals that need a server of their own: rate limit (429), suspended partner and
// mutual TLS (403), secret rotation, and the database going away (503).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import https from "node:https";
import {
    assertAccepted,
    assertError,
    assertNothingBooked,
    claimCount,
    ctl,
    e2eTest,
    earn,
    env,
    memberId,
    pgctl,
    poll,
    request,
    sleep,
    snapshot,
    sql,
    startServer,
    webhookId,
} from "../lib/harness.mjs";

const FAST_REFRESH = { COALITION_REFRESH_INTERVAL_MS: 200 };

async function assertMember(server, member, balance) {
    const view = await server.readMember(member);
    assert.equal(view.status, 200, view.text);
    assert.equal(view.json.balance, balance, view.text);
}

function assertRetryAfter(response) {
    const value = response.headers["retry-after"];
    assert.match(String(value), /^[1-9][0-9]*$/, `Retry-After in whole seconds (got ${value})`);
}

e2eTest(
    "429 rate_limited with Retry-After once a partner's burst is spent; nothing booked",
    async () => {
        const server = await startServer({
            COALITION_RATE_LIMIT_PER_S: 1,
            COALITION_RATE_LIMIT_BURST: 2,
        });
        const member = memberId("rate");
        // Three at once, well within the second a token takes to come back (sent one after
        // another, a slow build could see one refill between them): two pass, one is refused.
        const claimsBefore = claimCount();
        const answers = await Promise.all(
            [1, 2, 3].map(() =>
                server.postClaim("grocer", { type: "earn", member_id: member, points: 1 }),
            ),
        );
        const accepted = answers.filter((answer) => answer.status === 201);
        const refused = answers.filter((answer) => answer.status !== 201);
        assert.equal(accepted.length, 2, answers.map((a) => `${a.status} ${a.text}`).join("; "));
        assert.equal(refused.length, 1);
        const third = refused[0];
        assertError(third, 429, "rate_limited");
        assertRetryAfter(third);
        // Nothing of it booked: the two others only, and its id not among them.
        assert.equal(claimCount(), claimsBefore + 2);
        assert.equal(sql(`select count(*) from claims where webhook_id = '${third.id}'`), "0");
        const view = await server.readMember(member);
        assert.equal(view.status, 200, `GET member: ${view.status} ${view.text}`);
        assert.equal(view.json.balance, 2, view.text);

        // The limit is per partner: another partner still has its burst.
        const other = await server.postClaim("airline", {
            type: "earn",
            member_id: member,
            points: 1,
        });
        assertAccepted(other, { id: other.id, type: "earn", member, points: 1, balance: 3 });

        // After Retry-After the refused claim goes through, unchanged (bounded: a few seconds).
        const waitMs = Number(third.headers["retry-after"]) * 1000;
        assert.ok(waitMs <= 5000, `Retry-After of ${waitMs} ms for 1 claim per second is too long`);
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        const retried = await server.postClaim("grocer", third.body, { id: third.id });
        assertAccepted(retried, { id: third.id, type: "earn", member, points: 1, balance: 4 });
        await server.stopAndCheck();
    },
);

e2eTest(
    "403 partner_suspended once `coalitionctl partner suspend` reaches the server; nothing booked",
    async () => {
        const partner = `susp${Date.now().toString(36)}`;
        const secret = ctl("partner", "add", partner, "--name", "Suspended Shop");
        assert.match(secret, /^whsec_[A-Za-z0-9+/=]+$/, "partner add prints only the secret");
        const server = await startServer(FAST_REFRESH);
        const member = memberId("suspended");
        const accepted = await server.postClaim(
            partner,
            { type: "earn", member_id: member, points: 9 },
            { secret },
        );
        assertAccepted(accepted, { id: accepted.id, type: "earn", member, points: 9, balance: 9 });

        ctl("partner", "suspend", partner);
        // Probe with a burn for a member nobody knows: refused either way (422 before the
        // suspension is seen, 403 after), so the probing itself books nothing.
        const stranger = memberId("nobody");
        await poll(
            "the suspension to reach the server",
            async () => {
                const probe = await server.postClaim(
                    partner,
                    { type: "burn", member_id: stranger, points: 1 },
                    { secret },
                );
                if (probe.status === 403) return probe;
                assertError(probe, 422, "unknown_member");
                return undefined;
            },
            { timeoutMs: 5000, intervalMs: 100 },
        );

        const before = await snapshot(server, [member]);
        const refused = await server.postClaim(
            partner,
            { type: "earn", member_id: member, points: 9 },
            { secret },
        );
        assertError(refused, 403, "partner_suspended");
        await assertNothingBooked(server, before, "by a suspended partner");

        // A retry of a claim booked before the suspension (the till never saw its answer) gets
        // that answer, as any retry does: a 403 would say it was refused while its points
        // moved. The same id with another body is still a conflict. Neither books anything.
        const retried = await server.postClaim(partner, accepted.body, { secret, id: accepted.id });
        assert.equal(retried.status, 201, retried.text);
        assert.equal(retried.text, accepted.text, "the original answer, byte for byte");
        assert.equal(retried.headers["idempotent-replayed"], "true");
        const reused = await server.postClaim(
            partner,
            { type: "earn", member_id: member, points: 10 },
            { secret, id: accepted.id },
        );
        assertError(reused, 409, "idempotency_conflict");
        await assertNothingBooked(server, before, "by a suspended partner's retries");
        await server.stopAndCheck();
    },
);

// A suspended partner's claim costs a database look-up (its retries get their stored answers),
// so the rate limit comes first: a suspended partner that keeps posting gets 429, not free work.
e2eTest("a suspended partner is rate-limited before its claims are looked up", async () => {
    const partner = `susprl${Date.now().toString(36)}`;
    const secret = ctl("partner", "add", partner, "--name", "Suspended, Limited");
    ctl("partner", "suspend", partner);
    const server = await startServer({
        COALITION_RATE_LIMIT_PER_S: 1,
        COALITION_RATE_LIMIT_BURST: 1,
    });
    const member = memberId("susprl");
    const before = await snapshot(server, [member]);
    const body = { type: "earn", member_id: member, points: 1 };
    assertError(await server.postClaim(partner, body, { secret }), 403, "partner_suspended");
    const limited = await server.postClaim(partner, body, { secret });
    assertError(limited, 429, "rate_limited");
    assertRetryAfter(limited);
    await assertNothingBooked(server, before, "by a suspended partner");
    await server.stopAndCheck();
});

e2eTest(
    "403 certificate_mismatch when the client certificate is another partner's; nothing booked",
    async (t) => {
        const server = await startServer({ COALITION_CLIENT_CA: `${env.certsDir}/ca.pem` });
        const member = memberId("mtls");
        const own = await server.postClaim(
            "grocer",
            { type: "earn", member_id: member, points: 10 },
            { clientCert: "grocer" },
        );
        assertAccepted(own, { id: own.id, type: "earn", member, points: 10, balance: 10 });

        await t.test("grocer's claim over fuel's certificate", async () => {
            const before = await snapshot(server, [member]);
            const response = await server.postClaim(
                "grocer",
                { type: "earn", member_id: member, points: 10 },
                { clientCert: "fuel" },
            );
            assertError(response, 403, "certificate_mismatch");
            await assertNothingBooked(server, before);
        });
        await t.test("a certificate is optional unless the deployment requires it", async () => {
            const response = await server.postClaim("grocer", {
                type: "earn",
                member_id: member,
                points: 1,
            });
            assertAccepted(response, {
                id: response.id,
                type: "earn",
                member,
                points: 1,
                balance: 11,
            });
        });
        await server.stopAndCheck();
    },
);

e2eTest(
    "mutual TLS on: an https.Agent resumes its TLS session, and the certificate still counts",
    async (t) => {
        // Node's https agents cache TLS sessions and resume them on every new connection. Until
        // the server set a session id context, each resumption failed its handshake once a
        // client CA was configured.
        const server = await startServer({ COALITION_CLIENT_CA: `${env.certsDir}/ca.pem` });
        const member = memberId("resume");
        const grocerAgent = new https.Agent({ keepAlive: false });
        const first = await server.postClaim(
            "grocer",
            { type: "earn", member_id: member, points: 10 },
            { clientCert: "grocer", agent: grocerAgent },
        );
        assertAccepted(first, { id: first.id, type: "earn", member, points: 10, balance: 10 });
        assert.equal(first.sessionReused, false);

        await t.test("a new connection resumes the session and books", async () => {
            const again = await server.postClaim(
                "grocer",
                { type: "earn", member_id: member, points: 5 },
                { clientCert: "grocer", agent: grocerAgent },
            );
            assert.equal(again.sessionReused, true, "the handshake did not resume");
            assertAccepted(again, { id: again.id, type: "earn", member, points: 5, balance: 15 });
        });
        await t.test("a resumed session keeps its certificate: fuel's cannot post for grocer", async () => {
            const fuelAgent = new https.Agent({ keepAlive: false });
            const health = await request(server.port, "GET", "/healthz", {
                clientCert: "fuel",
                agent: fuelAgent,
            });
            assert.equal(health.status, 200);
            const before = await snapshot(server, [member]);
            const response = await server.postClaim(
                "grocer",
                { type: "earn", member_id: member, points: 10 },
                { clientCert: "fuel", agent: fuelAgent },
            );
            assert.equal(response.sessionReused, true, "the handshake did not resume");
            assertError(response, 403, "certificate_mismatch");
            await assertNothingBooked(server, before);
        });
        await server.stopAndCheck();
    },
);

e2eTest(
    "mutual TLS required: no client certificate, no connection; the right one works",
    async () => {
        const server = await startServer({
            COALITION_CLIENT_CA: `${env.certsDir}/ca.pem`,
            COALITION_CLIENT_CERT_REQUIRED: "true",
        });
        const member = memberId("mtlsreq");
        const claimsBefore = claimCount();
        // TLS 1.3 sends the refusal after the client's handshake completes: either the
        // handshake or the first request fails, never with an HTTP answer.
        await assert.rejects(
            server.postClaim("fuel", { type: "earn", member_id: member, points: 1 }),
            // Refused by TLS, not a request that merely got no answer in time.
            (error) => !/no answer in time/.test(String(error.message)),
        );
        assert.equal(claimCount(), claimsBefore);
        const response = await server.postClaim(
            "fuel",
            { type: "earn", member_id: member, points: 1 },
            { clientCert: "fuel" },
        );
        assertAccepted(response, { id: response.id, type: "earn", member, points: 1, balance: 1 });
        await server.stopAndCheck();
    },
);

e2eTest(
    "rotation: after `partner rotate-secret` both the old and the new secret sign valid claims",
    async () => {
        const server = await startServer(FAST_REFRESH);
        const member = memberId("rotate");
        const oldSecret = process.env.COALITION_E2E_SECRET_GROCER;
        const newSecret = ctl("partner", "rotate-secret", "grocer");
        assert.match(newSecret, /^whsec_[A-Za-z0-9+/=]+$/, "rotate-secret prints only the secret");
        assert.notEqual(newSecret, oldSecret);

        // A refused probe books nothing; once the new secret is known it books 1 point.
        const withNew = await poll(
            "the new secret to reach the server",
            async () => {
                const probe = await server.postClaim(
                    "grocer",
                    { type: "earn", member_id: member, points: 1 },
                    { secret: newSecret },
                );
                if (probe.status === 201) return probe;
                assertError(probe, 401, "invalid_signature");
                return undefined;
            },
            { timeoutMs: 5000, intervalMs: 100 },
        );
        assertAccepted(withNew, { id: withNew.id, type: "earn", member, points: 1, balance: 1 });

        const withOld = await server.postClaim(
            "grocer",
            { type: "earn", member_id: member, points: 2 },
            { secret: oldSecret },
        );
        assertAccepted(withOld, { id: withOld.id, type: "earn", member, points: 2, balance: 3 });
        await server.stopAndCheck();
    },
);

e2eTest(
    "503 unavailable with Retry-After while the database is down; nothing stored; then accepted",
    async () => {
        const server = await startServer();
        const member = memberId("outage");
        await earn(server, "grocer", member, 50);
        const before = await snapshot(server, [member]);
        const id = webhookId("outage");
        const body = { type: "burn", member_id: member, points: 20 };

        let duringOutage;
        let readyDuringOutage;
        pgctl("stop");
        try {
            duringOutage = await server.postClaim("fuel", body, { id });
            readyDuringOutage = await request(server.port, "GET", "/readyz");
        } finally {
            pgctl("start");
        }
        assertError(duringOutage, 503, "unavailable");
        assertRetryAfter(duringOutage);
        assert.notEqual(
            readyDuringOutage.status,
            200,
            "/readyz is 200 only while the database answers",
        );

        // The server's pool reconnects on its own; give it a bounded while.
        await poll(
            "/readyz after the restart",
            async () => {
                const ready = await request(server.port, "GET", "/readyz");
                return ready.status === 200 ? ready : undefined;
            },
            { timeoutMs: 20_000, intervalMs: 200 },
        );
        await assertNothingBooked(server, before, "while the database was down");

        // The database answers again (readyz): the till's retry, same id and body, is a first
        // claim now, not a replay, because nothing was stored.
        const retried = await server.postClaim("fuel", body, { id });
        assertAccepted(retried, { id, type: "burn", member, points: 20, balance: 30 });
        assert.notEqual(retried.headers["idempotent-replayed"], "true");

        // And so is every new claim: connections the outage broke must not surface as 503s
        // once the database can be reached again (more claims than the default pool has
        // connections).
        const statuses = [];
        for (let i = 1; i <= 12; i++) {
            const fresh = await server.postClaim("grocer", {
                type: "earn",
                member_id: member,
                points: 1,
            });
            statuses.push(`${fresh.status} ${fresh.json?.error?.code ?? ""}`.trim());
        }
        assert.deepEqual(
            statuses,
            Array(12).fill("201"),
            "every claim after the database is back is accepted",
        );
        await assertMember(server, member, 42);
        await server.stopAndCheck();
    },
);

// An answer given without booking reads the id's stored answer: an invalid body under a used id
// gets 409 (CONTRACT.md §2), under an unused one 400. Read while the id's first attempt still
// waited in the server's queue, it found nothing and answered 400, and that attempt committed
// after it. Here the one batch in flight waits on a member's row lock, held by a psql session as
// an operator's open transaction would, so the first attempt of `id` cannot leave the queue: the
// invalid retry must wait for it, then get 409.
e2eTest("an invalid body under an id whose first attempt is queued waits for it: 409", async () => {
    const server = await startServer({
        COALITION_BATCH_MAX_IN_FLIGHT: 1,
        COALITION_DB_LOCK_TIMEOUT_MS: 60_000,
    });
    const heldMember = memberId("held");
    await earn(server, "grocer", heldMember, 1);
    const holder = spawn("psql", [env.db, "-X", "-q", "-v", "ON_ERROR_STOP=1"], {
        stdio: ["pipe", "ignore", "inherit"],
    });
    try {
        holder.stdin.write(`begin; select 1 from members where id = '${heldMember}' for update;\n`);
        const sessionsWaiting = (state) =>
            Number(sql(`select count(*) from pg_stat_activity where ${state}`));
        await poll("the row lock held", async () =>
            sessionsWaiting("state = 'idle in transaction'") > 0 ? true : undefined,
        );
        const stuck = server.postClaim("grocer", { type: "earn", member_id: heldMember, points: 1 });
        await poll("the batch waiting on it", async () =>
            sessionsWaiting("wait_event_type = 'Lock'") > 0 ? true : undefined,
        );
        const member = memberId("queued");
        const id = webhookId("queued");
        const body = { type: "earn", member_id: member, points: 5 };
        const first = server.postClaim("grocer", body, { id });
        await sleep(1000); // it reaches the queue: a TLS handshake and a request
        let answered = false;
        const invalid = server
            .postClaim("grocer", { type: "earn", points: 5 }, { id })
            .then((response) => {
                answered = true;
                return response;
            });
        await sleep(1000);
        assert.equal(answered, false, "answered while the id's first attempt was queued");
        assert.equal(sql(`select count(*) from claims where webhook_id = '${id}'`), "0");

        holder.stdin.end("commit;\n");
        assert.equal((await stuck).status, 201);
        assertAccepted(await first, { id, type: "earn", member, points: 5, balance: 5 });
        assertError(await invalid, 409, "idempotency_conflict");
    } finally {
        holder.kill();
    }
    await server.stopAndCheck();
});
