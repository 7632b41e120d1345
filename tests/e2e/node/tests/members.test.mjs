// Contract §3 on GET /v1/members/{id}: who may read a member, and what an unknown one looks like.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { assertError, ctl, e2eTest, earn, memberId, startServer } from "../lib/harness.mjs";

let server;
before(async () => {
    server = await startServer();
});
after(async () => {
    await server.stopAndCheck();
});

const it = (name, fn) => e2eTest(name, fn, { sharedServers: () => [server] });

it("401 unauthorized without a token or with a bad one", async (t) => {
    const member = memberId("auth");
    await earn(server, "grocer", member, 10);
    await t.test("no Authorization header", async () => {
        const response = await server.readMember(member, null);
        assertError(response, 401, "unauthorized");
        // RFC 6750 §3: the challenge tells a client library which scheme to answer with.
        assert.match(String(response.headers["www-authenticate"]), /^Bearer /);
    });
    await t.test("a token nobody issued", async () => {
        const response = await server.readMember(member, "not-a-token");
        assertError(response, 401, "unauthorized");
        assert.match(String(response.headers["www-authenticate"]), /^Bearer /);
    });
    await t.test("a token revoked with `coalitionctl token revoke`, at once", async () => {
        const token = ctl("token", "create", "--role", "operator");
        assert.equal((await server.readMember(member, token)).status, 200);
        assert.equal(ctl("token", "revoke", token), "revoked");
        assertError(await server.readMember(member, token), 401, "unauthorized");
    });
    await t.test("a scheme other than Bearer", async () => {
        const response = await server.request("GET", `/v1/members/${member}`, {
            headers: { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` },
        });
        assertError(response, 401, "unauthorized");
    });
});

it("404 not_found for a member never seen (operator token)", async () => {
    const response = await server.readMember(memberId("ghost"));
    assertError(response, 404, "not_found");
});

it("200 for an operator token and for a partner token (member look-ups are any role's)", async () => {
    const member = memberId("reader");
    await earn(server, "fuel", member, 33);
    const operator = await server.readMember(member);
    assert.equal(operator.status, 200, operator.text);
    assert.equal(operator.json.member_id, member);
    assert.equal(operator.json.balance, 33);
    assert.equal(operator.json.debt, 0);

    const partnerToken = ctl("token", "create", "--role", "partner", "--partner", "airline");
    assert.match(partnerToken, /^\S+$/, "token create prints only the token");
    // Tokens reach a running server within the refresh interval (default 2 s, at most 5 s).
    const deadline = Date.now() + 8000;
    let asPartner;
    do {
        asPartner = await server.readMember(member, partnerToken);
        if (asPartner.status === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
    } while (Date.now() < deadline);
    assert.equal(asPartner.status, 200, asPartner.text);
    assert.deepEqual(asPartner.json, operator.json);
});
