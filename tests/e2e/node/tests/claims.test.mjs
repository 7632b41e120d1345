// Contract §2 on one server with default settings: accepted claims and their effect on the
// member, idempotency, and every refusal a claim body or its headers can earn — each refusal
// checked to have booked nothing.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import {
    assertAccepted,
    assertError,
    assertNothingBooked,
    claimCount,
    e2eTest,
    earn,
    expiresOnForToday,
    memberId,
    nowUnix,
    secrets,
    sign,
    snapshot,
    startOfSecond,
    sql,
    startServer,
    webhookId,
} from "../lib/harness.mjs";

let server;
before(async () => {
    server = await startServer();
});
after(async () => {
    await server.stopAndCheck();
});

const it = (name, fn) => e2eTest(name, fn, { sharedServers: () => [server] });

const BODY_LIMIT_BYTES = 64 * 1024;

const byIssuer = (lots) =>
    [...lots].sort((a, b) => a.issuer.localeCompare(b.issuer) || a.points - b.points);

// GET /v1/members/{id}: contract §3 shape, then the figures.
async function assertMember(member, { balance, debt, lots }) {
    const view = await server.readMember(member);
    assert.equal(view.status, 200, `GET member: ${view.status} ${view.text}`);
    const body = view.json;
    assert.deepEqual(
        Object.keys(body).sort(),
        ["balance", "debt", "expiring", "lots", "member_id"],
        `member fields: ${view.text}`,
    );
    assert.equal(body.member_id, member);
    assert.equal(body.balance, balance, `balance: ${view.text}`);
    assert.equal(body.debt, debt, `debt: ${view.text}`);
    for (const lot of body.lots) {
        assert.deepEqual(Object.keys(lot).sort(), ["expires_on", "issuer", "points"]);
    }
    const expiresOn = expiresOnForToday();
    assert.deepEqual(
        byIssuer(body.lots),
        byIssuer(lots.map(([issuer, points]) => ({ issuer, points, expires_on: expiresOn }))),
        `lots: ${view.text}`,
    );
    assert.ok(Array.isArray(body.expiring), "expiring is a list");
    for (const entry of body.expiring) {
        assert.deepEqual(Object.keys(entry).sort(), ["on", "points"]);
        assert.match(entry.on, /^\d{4}-\d{2}-\d{2}$/);
        assert.ok(Number.isSafeInteger(entry.points) && entry.points > 0);
    }
    const expiringTotal = body.expiring.reduce((sum, entry) => sum + entry.points, 0);
    const lotsTotal = body.lots.reduce((sum, lot) => sum + lot.points, 0);
    assert.ok(expiringTotal <= lotsTotal, `expiring points are points of lots: ${view.text}`);
    return body;
}

// ================================================================ 201

it("201 earn with points: the body of contract §2, a new lot, occurred_at and reference stored", async () => {
    const member = memberId("earn");
    const claimsBefore = claimCount();
    const response = await server.postClaim("grocer", {
        type: "earn",
        member_id: member,
        points: 120,
        occurred_at: "2026-11-21T14:03:00Z",
        reference: "till-7/receipt-88812",
    });
    assertAccepted(response, { id: response.id, type: "earn", member, points: 120, balance: 120 });
    assert.notEqual(response.headers["idempotent-replayed"], "true", "a first answer is no replay");
    assert.equal(claimCount(), claimsBefore + 1);
    await assertMember(member, { balance: 120, debt: 0, lots: [["grocer", 120]] });
    assert.equal(
        sql(`select reference || '|' || (occurred_at = '2026-11-21T14:03:00Z'::timestamptz)
                 from claims where partner_id = 'grocer' and webhook_id = '${response.id}'`),
        "till-7/receipt-88812|true",
    );
});

it("201 earn from a purchase: floor(amount_minor × earn_rate / 100) points", async () => {
    const member = memberId("purchase");
    const purchase = { amount_minor: 12050, currency: "EUR" };
    // fuel earns 2 points per euro: floor(12050 × 2 / 100) = 241
    const atFuel = await server.postClaim("fuel", { type: "earn", member_id: member, purchase });
    assertAccepted(atFuel, { id: atFuel.id, type: "earn", member, points: 241, balance: 241 });
    // grocer earns the default 1 point per euro: floor(120.50) = 120
    const atGrocer = await server.postClaim("grocer", {
        type: "earn",
        member_id: member,
        purchase,
    });
    assertAccepted(atGrocer, { id: atGrocer.id, type: "earn", member, points: 120, balance: 361 });
    await assertMember(member, {
        balance: 361,
        debt: 0,
        lots: [
            ["fuel", 241],
            ["grocer", 120],
        ],
    });
});

it("201 burn across issuers consumes the oldest lot first (FIFO)", async () => {
    const member = memberId("fifo");
    await earn(server, "grocer", member, 100);
    await earn(server, "airline", member, 50);
    const burn = await server.postClaim("fuel", { type: "burn", member_id: member, points: 120 });
    assertAccepted(burn, { id: burn.id, type: "burn", member, points: 120, balance: 30 });
    // Same expiry, so acceptance order decides: grocer's 100 first, then 20 of airline's 50.
    await assertMember(member, { balance: 30, debt: 0, lots: [["airline", 30]] });
});

it("201 reversal of a burn gives the points back to the lots they came from", async () => {
    const member = memberId("burnrev");
    await earn(server, "grocer", member, 100);
    await earn(server, "airline", member, 50);
    const burn = await server.postClaim("fuel", { type: "burn", member_id: member, points: 120 });
    assert.equal(burn.status, 201, burn.text);
    const claimsBefore = claimCount();
    const reversal = await server.postClaim("fuel", { type: "reversal", reverses: burn.id });
    assertAccepted(reversal, { id: reversal.id, type: "reversal", member, balance: 150 });
    assert.ok(reversal.json.points > 0, `a reversal reports the points it moved: ${reversal.text}`);
    assert.equal(claimCount(), claimsBefore + 1);
    await assertMember(member, {
        balance: 150,
        debt: 0,
        lots: [
            ["grocer", 100],
            ["airline", 50],
        ],
    });
});

it("201 reversal of an earn: unspent points go, spent points become debt, later earns repay it", async () => {
    const member = memberId("earnrev");
    const earned = await earn(server, "grocer", member, 100);
    const burn = await server.postClaim("fuel", { type: "burn", member_id: member, points: 70 });
    assertAccepted(burn, { id: burn.id, type: "burn", member, points: 70, balance: 30 });

    const reversal = await server.postClaim("grocer", { type: "reversal", reverses: earned.id });
    assertAccepted(reversal, { id: reversal.id, type: "reversal", member, balance: -70 });
    await assertMember(member, { balance: -70, debt: 70, lots: [] });

    const repay = await server.postClaim("airline", {
        type: "earn",
        member_id: member,
        points: 100,
    });
    assertAccepted(repay, { id: repay.id, type: "earn", member, points: 100, balance: 30 });
    await assertMember(member, { balance: 30, debt: 0, lots: [["airline", 30]] });
});

it("201 reversal of an unspent earn brings the balance back to 0", async () => {
    const member = memberId("earnrev0");
    const earned = await earn(server, "airline", member, 40);
    const reversal = await server.postClaim("airline", { type: "reversal", reverses: earned.id });
    assertAccepted(reversal, { id: reversal.id, type: "reversal", member, balance: 0 });
    await assertMember(member, { balance: 0, debt: 0, lots: [] });
});

it("201 when one of several signatures is valid (key rotation); other versions are ignored", async () => {
    const member = memberId("multisig");
    const id = webhookId();
    const timestamp = nowUnix();
    const body = JSON.stringify({ type: "earn", member_id: member, points: 5 });
    const wrong = sign(secrets.fuel, id, timestamp, body);
    const right = sign(secrets.grocer, id, timestamp, body);
    const signature = `v2,${right.slice(3)} ${wrong} ${right}`;
    const response = await server.postClaim("grocer", body, { id, timestamp, signature });
    assertAccepted(response, { id, type: "earn", member, points: 5, balance: 5 });
});

it("201 for a timestamp 290 s old or ahead (inside the 300 s tolerance)", async () => {
    const member = memberId("skew");
    for (const [offset, balance] of [
        [-290, 1],
        [290, 2],
    ]) {
        await startOfSecond();
        const response = await server.postClaim(
            "grocer",
            { type: "earn", member_id: member, points: 1 },
            { timestamp: nowUnix() + offset },
        );
        assertAccepted(response, { id: response.id, type: "earn", member, points: 1, balance });
    }
});

it("201 for a body of exactly 64 KiB and for content-type with a charset parameter", async () => {
    const member = memberId("limit");
    const json = JSON.stringify({ type: "earn", member_id: member, points: 3 });
    const padded = json + " ".repeat(BODY_LIMIT_BYTES - Buffer.byteLength(json));
    assert.equal(Buffer.byteLength(padded), BODY_LIMIT_BYTES);
    const atLimit = await server.postClaim("grocer", padded);
    assertAccepted(atLimit, { id: atLimit.id, type: "earn", member, points: 3, balance: 3 });
    const withCharset = await server.postClaim(
        "grocer",
        { type: "earn", member_id: member, points: 4 },
        { contentType: "application/json; charset=utf-8" },
    );
    assertAccepted(withCharset, {
        id: withCharset.id,
        type: "earn",
        member,
        points: 4,
        balance: 7,
    });
});

// ================================================================ idempotency

it("idempotency: same id and body again → the same answer, Idempotent-Replayed: true, nothing new", async () => {
    const member = memberId("replay");
    const first = await server.postClaim("grocer", { type: "earn", member_id: member, points: 80 });
    assertAccepted(first, { id: first.id, type: "earn", member, points: 80, balance: 80 });
    await earn(server, "airline", member, 20); // the balance moves on; the replay must not
    const before = await snapshot(server, [member]);
    // A till retrying after a timeout signs again with a new timestamp: same id, same body.
    for (const timestamp of [first.timestamp, nowUnix() + 1]) {
        const again = await server.postClaim("grocer", first.body, { id: first.id, timestamp });
        assert.equal(again.status, first.status, again.text);
        assert.equal(again.text, first.text, "the original body, byte for byte");
        assert.equal(again.headers["idempotent-replayed"], "true");
    }
    await assertNothingBooked(server, before, "by a replay");
});

it("idempotency: same id, different body → 409 idempotency_conflict, nothing booked", async () => {
    const member = memberId("conflict");
    const first = await server.postClaim("grocer", { type: "earn", member_id: member, points: 80 });
    assert.equal(first.status, 201, first.text);
    const before = await snapshot(server, [member]);
    const conflict = await server.postClaim(
        "grocer",
        { type: "earn", member_id: member, points: 81 },
        { id: first.id },
    );
    assertError(conflict, 409, "idempotency_conflict");
    await assertNothingBooked(server, before, "by a conflicting reuse");
});

// CONTRACT.md §2: the same id with a different body is 409, and an invalid body is a
// different body too. It got 400 (validation came first), which told the till nothing of the
// claim stored under that id. A new id with the same body still gets 400.
it("idempotency: same id, invalid body → 409 idempotency_conflict, nothing booked", async () => {
    const member = memberId("conflictinvalid");
    const first = await server.postClaim("grocer", { type: "earn", member_id: member, points: 80 });
    assert.equal(first.status, 201, first.text);
    const before = await snapshot(server, [member]);
    for (const body of ['{"type":"earn",', { type: "earn", member_id: member, points: 0 }]) {
        assertError(await server.postClaim("grocer", body, { id: first.id }), 409,
            "idempotency_conflict");
    }
    assertError(await server.postClaim("grocer", '{"type":"earn",'), 400, "malformed_json");
    await assertNothingBooked(server, before, "by an invalid reuse");
});

it("idempotency: the same webhook-id from another partner is another claim (201)", async () => {
    const member = memberId("twopartners");
    const id = webhookId("shared");
    const body = { type: "earn", member_id: member, points: 10 };
    const atGrocer = await server.postClaim("grocer", body, { id });
    assertAccepted(atGrocer, { id, type: "earn", member, points: 10, balance: 10 });
    const claimsBefore = claimCount();
    const atFuel = await server.postClaim("fuel", body, { id });
    assertAccepted(atFuel, { id, type: "earn", member, points: 10, balance: 20 });
    assert.notEqual(atFuel.headers["idempotent-replayed"], "true");
    assert.equal(claimCount(), claimsBefore + 1);
});

// CONTRACT.md §2: an id is 1–128 *printable ASCII* characters, and the space is one of them.
it("webhook-id with spaces: booked, replayed and reversed like any other id", async (t) => {
    const member = memberId("spaced");
    const id = `till 7 / receipt ${webhookId("r")}`;
    const body = { type: "earn", member_id: member, points: 30 };
    const first = await server.postClaim("grocer", body, { id });
    assertAccepted(first, { id, type: "earn", member, points: 30, balance: 30 });
    await t.test("its retry is a replay", async () => {
        const before = await snapshot(server, [member]);
        const again = await server.postClaim("grocer", body, { id });
        assert.equal(again.text, first.text);
        assert.equal(again.headers["idempotent-replayed"], "true");
        await assertNothingBooked(server, before, "by a replay");
    });
    await t.test("a reversal names it", async () => {
        const reversal = await server.postClaim("grocer", { type: "reversal", reverses: id });
        assertAccepted(reversal, { id: reversal.id, type: "reversal", member, balance: 0 });
    });
    // HTTP strips the spaces around a header's value: the server receives another id than the
    // one signed, so the signature cannot match (docs/partners.md says so).
    for (const [name, edged] of [
        ["leading", ` ${webhookId("edge")}`],
        ["trailing", `${webhookId("edge")} `],
    ]) {
        await t.test(`a ${name} space: 401 invalid_signature, nothing booked`, async () => {
            const before = await snapshot(server, [member]);
            const refused = await server.postClaim(
                "grocer",
                { type: "earn", member_id: member, points: 1 },
                { id: edged },
            );
            assertError(refused, 401, "invalid_signature");
            await assertNothingBooked(server, before);
        });
    }
});

// Sends `count` identical requests at once (connections opened first, so they really arrive
// together) and returns the answers.
async function postAtOnce(partner, body, count) {
    const id = webhookId("dup");
    const timestamp = nowUnix();
    const agents = await server.warmAgents(count);
    try {
        return await Promise.all(
            agents.map((agent) => server.postClaim(partner, body, { id, timestamp, agent })),
        );
    } finally {
        for (const agent of agents) agent.destroy();
    }
}

// Every duplicate gets the original answer: a till told "422 insufficient_points" for a burn
// that was in fact booked asks the customer to pay again while the points are gone.
function assertOneOriginalAnswer(answers, balance) {
    const summary = answers
        .map((a) => `${a.status} replayed=${a.headers["idempotent-replayed"]} ${a.text}`)
        .join("\n");
    for (const answer of answers) {
        assert.equal(answer.status, 201, `every duplicate is answered 201:\n${summary}`);
        assert.equal(
            answer.text,
            answers[0].text,
            `every duplicate gets the original body:\n${summary}`,
        );
    }
    assert.equal(
        answers.filter((a) => a.headers["idempotent-replayed"] !== "true").length,
        1,
        `exactly one answer is the original:\n${summary}`,
    );
    assert.equal(answers[0].json.balance, balance);
}

it("idempotency: concurrent duplicate burns take effect once, all answered as the original", async () => {
    const member = memberId("concurrent");
    await earn(server, "grocer", member, 50);
    const claimsBefore = claimCount();
    const body = JSON.stringify({ type: "burn", member_id: member, points: 30 });
    const answers = await postAtOnce("fuel", body, 8);
    // Never both take effect...
    assert.equal(claimCount(), claimsBefore + 1, "one claim stored");
    await assertMember(member, { balance: 20, debt: 0, lots: [["grocer", 20]] });
    // ...and nobody is told otherwise.
    assertOneOriginalAnswer(answers, 20);
});

it("idempotency: concurrent duplicate earns and reversals take effect once", async (t) => {
    const member = memberId("concurrent");
    await t.test("earn", async () => {
        const claimsBefore = claimCount();
        const body = JSON.stringify({ type: "earn", member_id: member, points: 40 });
        const answers = await postAtOnce("grocer", body, 8);
        assert.equal(claimCount(), claimsBefore + 1, "one claim stored");
        await assertMember(member, { balance: 40, debt: 0, lots: [["grocer", 40]] });
        assertOneOriginalAnswer(answers, 40);
    });
    await t.test("reversal", async () => {
        const earned = await earn(server, "airline", member, 25);
        const claimsBefore = claimCount();
        const body = JSON.stringify({ type: "reversal", reverses: earned.id });
        const answers = await postAtOnce("airline", body, 8);
        assert.equal(claimCount(), claimsBefore + 1, "one claim stored");
        await assertMember(member, { balance: 40, debt: 0, lots: [["grocer", 40]] });
        assertOneOriginalAnswer(answers, 40);
    });
});

// ================================================================ 400

const malformed = [
    ["truncated JSON", '{"type":"earn",'],
    ["not JSON at all", "points=5"],
    ["an empty body", ""],
    ["trailing garbage", '{"type":"earn","member_id":"M-1","points":5} x'],
    // nlohmann stops reading at a NUL byte: what follows must not be silently ignored.
    ["a NUL byte, then a misspelt field", '{"type":"earn","member_id":"M-1","points":5}\0{"pionts":5}'],
    ["an array, not an object", '[{"type":"earn","member_id":"M-1","points":5}]'],
    ["a string, not an object", '"earn"'],
];

it("400 malformed_json: not JSON → refused, nothing booked", async (t) => {
    const member = memberId("malformed");
    await earn(server, "grocer", member, 50);
    for (const [name, body] of malformed) {
        await t.test(name, async () => {
            const before = await snapshot(server, [member]);
            const response = await server.postClaim("grocer", body);
            assertError(response, 400, "malformed_json");
            await assertNothingBooked(server, before);
        });
    }
});

// [name, body (object or exact text), field to blame (undefined: not checked)]
function invalidBodies(member) {
    const earnOf = (extra) => ({ type: "earn", member_id: member, points: 5, ...extra });
    return [
        ["unknown field", earnOf({ pionts: 5 }), "pionts"],
        ["points 0", earnOf({ points: 0 }), "points"],
        ["points above 10,000,000", earnOf({ points: 10_000_001 }), "points"],
        ["negative points", { type: "burn", member_id: member, points: -5 }, "points"],
        ["points not an integer", earnOf({ points: 1.5 }), "points"],
        ["points a string", earnOf({ points: "5" }), "points"],
        ["points null (a wrong type, not absent)", earnOf({ points: null }), "points"],
        ["member_id with a space", earnOf({ member_id: "M 1001" }), "member_id"],
        ["member_id of 65 characters", earnOf({ member_id: "M".repeat(65) }), "member_id"],
        ["member_id empty", earnOf({ member_id: "" }), "member_id"],
        ["member_id missing", { type: "earn", points: 5 }, "member_id"],
        ["type missing", { member_id: member, points: 5 }, "type"],
        ["type unknown", earnOf({ type: "gift" }), "type"],
        [
            "purchase in another currency",
            { type: "earn", member_id: member, purchase: { amount_minor: 12050, currency: "USD" } },
            "purchase.currency",
        ],
        [
            "purchase amount not an integer",
            {
                type: "earn",
                member_id: member,
                purchase: { amount_minor: "12050", currency: "EUR" },
            },
            "purchase.amount_minor",
        ],
        [
            "unknown field inside purchase",
            {
                type: "earn",
                member_id: member,
                purchase: { amount_minor: 100, currency: "EUR", tip: 1 },
            },
            "purchase.tip",
        ],
        [
            "duplicate key",
            `{"type":"earn","member_id":"${member}","points":5,"points":500}`,
            "points",
        ],
        [
            "occurred_at with lower-case t and z",
            earnOf({ occurred_at: "2026-11-21t14:03:00z" }),
            "occurred_at",
        ],
        [
            "occurred_at without a time zone",
            earnOf({ occurred_at: "2026-11-21T14:03:00" }),
            "occurred_at",
        ],
        [
            "occurred_at on 31 November",
            earnOf({ occurred_at: "2026-11-31T14:03:00Z" }),
            "occurred_at",
        ],
        ["reference of 129 code points", earnOf({ reference: "é".repeat(129) }), "reference"],
        [
            "purchase on a burn",
            {
                type: "burn",
                member_id: member,
                points: 5,
                purchase: { amount_minor: 100, currency: "EUR" },
            },
            "purchase",
        ],
        ["reversal without reverses", { type: "reversal" }, "reverses"],
        [
            "earn with both points and purchase",
            earnOf({ purchase: { amount_minor: 100, currency: "EUR" } }),
            "purchase",
        ],
        ["earn with neither points nor purchase", { type: "earn", member_id: member }, "points"],
        [
            "member_id on a reversal",
            { type: "reversal", reverses: "x", member_id: member },
            "member_id",
        ],
        ["member_id not a string", earnOf({ member_id: 1001 }), "member_id"],
        ["member_id with a slash", earnOf({ member_id: "M/1001" }), "member_id"],
        ["type not a string", earnOf({ type: 1 }), "type"],
        ["reference not a string", earnOf({ reference: 88812 }), "reference"],
        ["reference with a tab", earnOf({ reference: "till-7\treceipt" }), "reference"],
        ["occurred_at not a string", earnOf({ occurred_at: 1763733780 }), "occurred_at"],
        ["burn without points", { type: "burn", member_id: member }, "points"],
        ["reverses on an earn", earnOf({ reverses: "x" }), "reverses"],
        ["points on a reversal", { type: "reversal", reverses: "x", points: 5 }, "points"],
        ["reverses empty", { type: "reversal", reverses: "" }, "reverses"],
        ["reverses of 129 characters", { type: "reversal", reverses: "r".repeat(129) }, "reverses"],
        ["reverses not a string", { type: "reversal", reverses: 5 }, "reverses"],
        ["purchase not an object", { type: "earn", member_id: member, purchase: 12050 }, "purchase"],
        [
            "purchase amount 0",
            { type: "earn", member_id: member, purchase: { amount_minor: 0, currency: "EUR" } },
            "purchase.amount_minor",
        ],
        [
            "purchase currency missing",
            { type: "earn", member_id: member, purchase: { amount_minor: 12050 } },
            "purchase.currency",
        ],
        [
            "purchase worth no point (99 cents at 1 point a euro)",
            { type: "earn", member_id: member, purchase: { amount_minor: 99, currency: "EUR" } },
            undefined,
        ],
    ];
}

it("400 invalid_field: missing, wrong type, out of range or unknown → field named, nothing booked", async (t) => {
    const member = memberId("invalid");
    await earn(server, "grocer", member, 50);
    for (const [name, body, field] of invalidBodies(member)) {
        await t.test(name, async () => {
            const before = await snapshot(server, [member]);
            const response = await server.postClaim("grocer", body);
            assertError(response, 400, "invalid_field", field);
            await assertNothingBooked(server, before);
            // Nothing is kept with the id either: the corrected claim may use it.
            const corrected = await server.postClaim(
                "grocer",
                { type: "earn", member_id: memberId("corrected"), points: 1 },
                { id: response.id },
            );
            assert.equal(corrected.status, 201, `the id reused: ${corrected.status} ${corrected.text}`);
        });
    }
    await t.test("reference of exactly 128 code points is fine", async () => {
        const response = await server.postClaim("grocer", {
            type: "earn",
            member_id: member,
            points: 1,
            reference: "é".repeat(128),
        });
        assertAccepted(response, { id: response.id, type: "earn", member, points: 1, balance: 51 });
    });
});

// ================================================================ 401

it("401 invalid_signature: bad or missing signature headers, stale timestamp, unknown partner", async (t) => {
    const member = memberId("sig");
    await earn(server, "grocer", member, 50);
    const body = JSON.stringify({ type: "earn", member_id: member, points: 5 });
    const cases = [
        ["signed with another partner's secret", () => ({ secret: secrets.fuel })],
        [
            "signature of another body",
            () => {
                const [id, timestamp] = [webhookId(), nowUnix()];
                return {
                    id,
                    timestamp,
                    signature: sign(secrets.grocer, id, timestamp, `${body} `),
                };
            },
        ],
        ["signature not base64 HMAC", () => ({ signature: "v1,bm90IGEgc2lnbmF0dXJl" })],
        ["only a v2 signature", () => ({ signature: "v2,abc" })],
        ["webhook-id missing", () => ({ headers: { "webhook-id": null } })],
        ["webhook-timestamp missing", () => ({ headers: { "webhook-timestamp": null } })],
        ["webhook-signature missing", () => ({ headers: { "webhook-signature": null } })],
        ["timestamp 301 s old", () => ({ timestamp: nowUnix() - 301 })],
        ["timestamp 301 s ahead", () => ({ timestamp: nowUnix() + 301 })],
        ["timestamp not an integer", () => ({ timestamp: "17e8" })],
        [
            "unknown partner (signed with a real secret)",
            () => ({ path: "/v1/partners/nobody/claims", secret: secrets.grocer }),
        ],
        // Signed correctly, but not a webhook-id (1–128 characters 0x20–0x7E).
        ["webhook-id empty", () => ({ id: "" })],
        ["webhook-id of 129 characters", () => ({ id: "w".repeat(129) })],
        ["webhook-id with a tab", () => ({ id: "claim\t1" })],
    ];
    for (const [name, makeOptions] of cases) {
        await t.test(name, async () => {
            const before = await snapshot(server, [member]);
            if (name.startsWith("timestamp 301")) await startOfSecond();
            const response = await server.postClaim("grocer", body, makeOptions());
            assertError(response, 401, "invalid_signature");
            await assertNothingBooked(server, before);
        });
    }
    await t.test("an unknown partner is indistinguishable from a bad signature", async () => {
        const unknown = await server.postClaim("nobody", body, { secret: secrets.grocer });
        const wrong = await server.postClaim("grocer", body, { secret: secrets.fuel });
        assertError(unknown, 401, "invalid_signature");
        assert.equal(unknown.status, wrong.status);
        assert.deepEqual(unknown.json, wrong.json);
    });
});

// ================================================================ 404, 405, 413, 415

it("404 not_found for an unknown path, nothing booked", async () => {
    const member = memberId("notfound");
    await earn(server, "grocer", member, 50);
    const before = await snapshot(server, [member]);
    const body = { type: "earn", member_id: member, points: 5 };
    assertError(
        await server.postClaim("grocer", body, { path: "/v1/partners/grocer/claim" }),
        404,
        "not_found",
    );
    assertError(
        await server.postClaim("grocer", body, { path: "/v2/partners/grocer/claims" }),
        404,
        "not_found",
    );
    assertError(await server.request("GET", "/nothing-here"), 404, "not_found");
    await assertNothingBooked(server, before);
});

it("405 method_not_allowed on the claims path, nothing booked", async () => {
    const member = memberId("method");
    await earn(server, "grocer", member, 50);
    const before = await snapshot(server, [member]);
    assertError(
        await server.request("GET", "/v1/partners/grocer/claims"),
        405,
        "method_not_allowed",
    );
    assertError(
        await server.postClaim(
            "grocer",
            { type: "earn", member_id: member, points: 5 },
            { method: "PUT" },
        ),
        405,
        "method_not_allowed",
    );
    await assertNothingBooked(server, before);
});

it("413 payload_too_large for a body over 64 KiB, nothing booked", async () => {
    const member = memberId("large");
    await earn(server, "grocer", member, 50);
    const before = await snapshot(server, [member]);
    const json = JSON.stringify({ type: "earn", member_id: member, points: 5 });
    const tooLarge = json + " ".repeat(BODY_LIMIT_BYTES + 1 - Buffer.byteLength(json));
    const response = await server.postClaim("grocer", tooLarge);
    assertError(response, 413, "payload_too_large");
    await assertNothingBooked(server, before);
});

it("415 unsupported_media_type for a body that is not application/json, nothing booked", async (t) => {
    const member = memberId("media");
    await earn(server, "grocer", member, 50);
    const body = { type: "earn", member_id: member, points: 5 };
    for (const [name, options] of [
        ["text/plain", { contentType: "text/plain" }],
        ["application/x-www-form-urlencoded", { contentType: "application/x-www-form-urlencoded" }],
        ["no content-type", { headers: { "content-type": null } }],
        // The body is plain JSON, signed as sent: a coding it is said to be in is not read.
        ["content-encoding gzip", { headers: { "content-encoding": "gzip" } }],
        ["content-encoding identity, gzip", { headers: { "content-encoding": "identity, gzip" } }],
    ]) {
        await t.test(name, async () => {
            const before = await snapshot(server, [member]);
            assertError(
                await server.postClaim("grocer", body, options),
                415,
                "unsupported_media_type",
            );
            await assertNothingBooked(server, before);
        });
    }
});

// ================================================================ 422

it("422 insufficient_points: a burn above the balance, nothing booked", async () => {
    const member = memberId("insufficient");
    await earn(server, "grocer", member, 100);
    const before = await snapshot(server, [member]);
    const response = await server.postClaim("fuel", {
        type: "burn",
        member_id: member,
        points: 101,
    });
    assertError(response, 422, "insufficient_points");
    await assertNothingBooked(server, before);
    // All of it is fine.
    const exact = await server.postClaim("fuel", { type: "burn", member_id: member, points: 100 });
    assertAccepted(exact, { id: exact.id, type: "burn", member, points: 100, balance: 0 });
});

it("422 unknown_member: a burn for a never-seen member enrols nobody", async () => {
    const member = memberId("stranger");
    const before = await snapshot(server, [member]);
    assert.equal(before.members[member].status, 404);
    const response = await server.postClaim("fuel", { type: "burn", member_id: member, points: 1 });
    assertError(response, 422, "unknown_member");
    await assertNothingBooked(server, before);
});

it("422 reversal_target_not_found: no such claim, or another partner's claim", async (t) => {
    const member = memberId("target");
    const atAirline = await earn(server, "airline", member, 60);
    for (const [name, reverses] of [
        ["an id never used", webhookId("never")],
        ["an id of another partner's claim", atAirline.id],
    ]) {
        await t.test(name, async () => {
            const before = await snapshot(server, [member]);
            const response = await server.postClaim("grocer", { type: "reversal", reverses });
            assertError(response, 422, "reversal_target_not_found");
            await assertNothingBooked(server, before);
        });
    }
});

it("422 already_reversed: a second reversal of the same claim, nothing booked", async () => {
    const member = memberId("twice");
    const earned = await earn(server, "grocer", member, 60);
    await earn(server, "airline", member, 10);
    const first = await server.postClaim("grocer", { type: "reversal", reverses: earned.id });
    assertAccepted(first, { id: first.id, type: "reversal", member, balance: 10 });
    const before = await snapshot(server, [member]);
    const second = await server.postClaim("grocer", { type: "reversal", reverses: earned.id });
    assertError(second, 422, "already_reversed");
    await assertNothingBooked(server, before);
});
