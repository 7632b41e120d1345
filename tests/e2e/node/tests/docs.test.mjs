// docs/partners.md shows two working examples. This test keeps them working: the doc's code
// blocks must be byte-identical to examples/*, and both examples must earn points (201) on a
// live server.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import { claimCount, e2eTest, env, memberId, secrets, sign, startServer } from "../lib/harness.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SUITE_DIR = path.resolve(HERE, "..");
const REPO_ROOT = path.resolve(SUITE_DIR, "../../..");
const DOC = path.join(REPO_ROOT, "docs/partners.md");

const EXAMPLES = [
    { file: "tests/e2e/node/examples/curl-earn.sh", language: "bash", command: ["bash"] },
    { file: "tests/e2e/node/examples/node-earn.mjs", language: "js", command: [process.execPath] },
];

// The fenced block right after the line `<!-- example: FILE -->`.
function blockAfterMarker(markdown, file, language) {
    const marker = `<!-- example: ${file} -->\n`;
    const start = markdown.indexOf(marker);
    assert.notEqual(start, -1, `docs/partners.md has no "${marker.trim()}" line`);
    assert.equal(markdown.indexOf(marker, start + 1), -1, `"${marker.trim()}" appears twice`);
    const fenceOpen = "```" + language + "\n";
    const bodyStart = start + marker.length;
    assert.equal(
        markdown.slice(bodyStart, bodyStart + fenceOpen.length),
        fenceOpen,
        `the ${file} marker is followed by a \`\`\`${language} block`,
    );
    const contentStart = bodyStart + fenceOpen.length;
    const contentEnd = markdown.indexOf("\n```\n", contentStart - 1);
    assert.notEqual(contentEnd, -1, `the ${file} block is closed`);
    return markdown.slice(contentStart, contentEnd + 1);
}

function run(command, args, childEnv) {
    return new Promise((resolve) => {
        execFile(
            command,
            args,
            { env: childEnv, timeout: 60_000, encoding: "utf8" },
            (error, stdout, stderr) =>
                resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }),
        );
    });
}

let server;
before(async () => {
    server = await startServer();
});
after(async () => {
    await server.stopAndCheck();
});

const it = (name, fn) => e2eTest(name, fn, { sharedServers: () => [server] });

it("docs/partners.md shows the examples byte for byte", async () => {
    const markdown = fs.readFileSync(DOC, "utf8");
    for (const { file, language } of EXAMPLES) {
        const shown = blockAfterMarker(markdown, file, language);
        const actual = fs.readFileSync(path.join(REPO_ROOT, file), "utf8");
        assert.equal(shown, actual, `the ${file} block of docs/partners.md differs from the file`);
    }
});

it("the test vector quoted in docs/partners.md is what the reference library signs", async () => {
    const markdown = fs.readFileSync(DOC, "utf8");
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    for (const quoted of [secret, id, "1614265330", '{"test": 2432232314}', expected]) {
        assert.ok(markdown.includes(`\`${quoted}\``), `docs/partners.md quotes \`${quoted}\``);
    }
    assert.equal(sign(secret, id, 1614265330, '{"test": 2432232314}'), expected);
});

// The environment an example is run with, as a partner would set it.
function exampleEnv(member, extra = {}) {
    return {
        PATH: process.env.PATH,
        HOME: process.env.HOME ?? "/tmp",
        COALITION_URL: `https://127.0.0.1:${server.port}`,
        PARTNER_ID: "grocer",
        PARTNER_SECRET: secrets.grocer,
        MEMBER_ID: member,
        CA_FILE: path.join(env.certsDir, "ca.pem"),
        ...extra,
    };
}

function runExample(file, command, childEnv) {
    return run(command[0], [...command.slice(1), path.join(REPO_ROOT, file)], childEnv);
}

for (const { file, command } of EXAMPLES) {
    it(`${path.basename(file)} earns 120 points on a live server (201)`, async () => {
        const member = memberId("doc");
        const claimsBefore = claimCount();
        const result = await runExample(file, command, exampleEnv(member));
        assert.equal(result.code, 0, `${file} failed:\n${result.stdout}\n${result.stderr}`);
        const answer = JSON.parse(result.stdout);
        assert.equal(answer.status, "accepted", result.stdout);
        assert.equal(answer.type, "earn");
        assert.equal(answer.member_id, member);
        assert.equal(answer.points, 120);
        assert.equal(answer.balance, 120);
        assert.equal(claimCount(), claimsBefore + 1);
        const view = await server.readMember(member);
        assert.equal(view.status, 200, view.text);
        assert.equal(view.json.balance, 120);
    });
}

// Run again with the claim's WEBHOOK_ID (a till retrying after it lost the answer), an example
// sends the same claim: it is answered with the first answer and booked once.
for (const { file, command } of EXAMPLES) {
    it(`${path.basename(file)} sent again with its WEBHOOK_ID is booked once`, async () => {
        const member = memberId("doc-again");
        const claimsBefore = claimCount();
        const childEnv = exampleEnv(member, { WEBHOOK_ID: `${member}-receipt-1` });
        const first = await runExample(file, command, childEnv);
        assert.equal(first.code, 0, `${file} failed:\n${first.stdout}\n${first.stderr}`);
        const again = await runExample(file, command, childEnv);
        assert.equal(again.code, 0, `${file} failed:\n${again.stdout}\n${again.stderr}`);
        assert.equal(again.stdout, first.stdout);
        assert.equal(JSON.parse(first.stdout).claim_id, `${member}-receipt-1`);
        assert.equal(claimCount(), claimsBefore + 1);
    });
}

// An example retried after a 429 prints the final answer alone: the refused attempts' bodies
// before it would make its output more than one JSON document.
for (const { file, command } of EXAMPLES) {
    it(`${path.basename(file)} retried after a 429 prints only the final answer`, async () => {
        const limited = await startServer({
            COALITION_RATE_LIMIT_PER_S: "1",
            COALITION_RATE_LIMIT_BURST: "1",
        });
        const member = memberId("doc-limited");
        // The partner's one token is spent, so the example's first attempt is answered 429.
        const spent = await limited.postClaim("grocer", { type: "earn", member_id: member, points: 1 });
        assert.equal(spent.status, 201, spent.text);
        const childEnv = { ...exampleEnv(member), COALITION_URL: `https://127.0.0.1:${limited.port}` };
        const result = await runExample(file, command, childEnv);
        assert.equal(result.code, 0, `${file} failed:\n${result.stdout}\n${result.stderr}`);
        const answer = JSON.parse(result.stdout);
        assert.equal(answer.status, "accepted", result.stdout);
        assert.equal(answer.balance, 121);
        assert.match(limited.log(), /"status":429/, "the example's first attempt was refused");
        await limited.stopAndCheck();
    });
}
