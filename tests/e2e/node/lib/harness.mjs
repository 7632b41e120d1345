// What every test file of the Node e2e suite shares: the settings run.sh hands over, starting and
// stopping the real coalition-server, signed requests over TLS, and looking at what was booked.
import assert from "node:assert/strict";
import { execFileSync, execSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import { Webhook } from "standardwebhooks";

// ---------------------------------------------------------------- settings from run.sh

function required(name) {
    const value = process.env[name];
    if (!value) {
        throw new Error(`${name} is not set: run this suite through tests/e2e/node/run.sh`);
    }
    return value;
}

export const env = {
    binDir: required("COALITION_BIN_DIR"),
    db: required("COALITION_DB"),
    certsDir: required("COALITION_TEST_CERTS"),
    pgctl: required("COALITION_TEST_PGCTL"),
    workDir: required("COALITION_E2E_WORK_DIR"),
    operatorToken: required("COALITION_E2E_OPERATOR_TOKEN"),
};

export const secrets = {
    grocer: required("COALITION_E2E_SECRET_GROCER"),
    fuel: required("COALITION_E2E_SECRET_FUEL"),
    airline: required("COALITION_E2E_SECRET_AIRLINE"),
};

export const certFile = (name) => path.join(env.certsDir, name);
const caPem = fs.readFileSync(certFile("ca.pem"));

// ---------------------------------------------------------------- limits

const SERVER_START_TIMEOUT_MS = 30_000; // sanitizer builds start slowly on 2 busy cores
const SERVER_STOP_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 20_000; // above the server's 3 s database connect timeout
const LOG_LINES_SHOWN_MAX = 200;
export const TEST_TIMEOUT_MS = 120_000;

// ---------------------------------------------------------------- small helpers

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const nowUnix = () => Math.floor(Date.now() / 1000);

// Waits for the start of a second, so a request sent now reaches the server within the same
// Unix second: tests at the edge of the 300 s tolerance must not depend on a second ticking.
export async function startOfSecond() {
    const intoSecondMs = Date.now() % 1000;
    if (intoSecondMs > 100) await sleep(1000 - intoSecondMs + 5);
}
export const todayUtc = () => new Date().toISOString().slice(0, 10);

// The last day of the month `validityMonths` after this month (UTC): expires_on of a lot
// accepted today.
export function expiresOnForToday(validityMonths = 36) {
    const now = new Date();
    const lastDay = new Date(
        Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + validityMonths + 1, 0),
    );
    return lastDay.toISOString().slice(0, 10);
}

// A member id no other test (or earlier run) uses: [A-Za-z0-9._-], at most 64 characters.
export function memberId(tag) {
    return `M-${tag}-${randomBytes(6).toString("hex")}`;
}

export function webhookId(tag = "msg") {
    return `${tag}_${randomBytes(9).toString("hex")}`;
}

// Calls `attempt` until it returns something other than undefined; fails at the deadline.
export async function poll(what, attempt, { timeoutMs = 10_000, intervalMs = 100 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const result = await attempt();
        if (result !== undefined) return result;
        if (Date.now() >= deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        }
        await sleep(intervalMs);
    }
}

// ---------------------------------------------------------------- programs and the database

function childEnvironment(extra = {}) {
    const childEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
        // Only what the test says: no setting of the caller's reaches the programs under test.
        if (!name.startsWith("COALITION_")) childEnv[name] = value;
    }
    childEnv.COALITION_DB = env.db;
    for (const [name, value] of Object.entries(extra)) childEnv[name] = String(value);
    return childEnv;
}

// Runs coalitionctl; returns its stdout without the final newline.
export function ctl(...args) {
    return execFileSync(path.join(env.binDir, "coalitionctl"), args, {
        env: childEnvironment(),
        encoding: "utf8",
        timeout: 30_000,
        stdio: ["ignore", "pipe", "pipe"],
    }).replace(/\n$/, "");
}

export function sql(query) {
    return execFileSync("psql", [env.db, "-X", "-Atc", query], {
        encoding: "utf8",
        timeout: 30_000,
        stdio: ["ignore", "pipe", "pipe"],
    }).trim();
}

export const claimCount = () => Number(sql("select count(*) from claims"));

// `$COALITION_TEST_PGCTL stop|start`: a command line, so it goes through the shell.
export function pgctl(verb) {
    execSync(`${env.pgctl} ${verb}`, { stdio: ["ignore", "pipe", "pipe"], timeout: 90_000 });
}

// ---------------------------------------------------------------- HTTPS

// One request, on its own connection unless `agent` (a keep-alive https.Agent) is given.
// Resolves with {status, headers, text, json, sessionReused} (sessionReused: the connection's
// TLS handshake resumed an earlier session); rejects only when no response arrived
// (connection refused, TLS handshake refused, timeout).
export function request(port, method, urlPath, { headers = {}, body, clientCert, agent } = {}) {
    return new Promise((resolve, reject) => {
        const options = {
            host: "127.0.0.1",
            port,
            method,
            path: urlPath,
            headers,
            ca: caPem,
            agent: agent ?? false,
            timeout: REQUEST_TIMEOUT_MS,
            minVersion: "TLSv1.2",
        };
        if (clientCert) {
            options.cert = fs.readFileSync(certFile(`client-${clientCert}.pem`));
            options.key = fs.readFileSync(certFile(`client-${clientCert}.key`));
        }
        let responded = false;
        const req = https.request(options, (res) => {
            responded = true;
            // Read now: a keep-alive agent takes the socket back before the body's end.
            const sessionReused = res.socket.isSessionReused();
            const chunks = [];
            res.on("data", (chunk) => chunks.push(chunk));
            res.on("error", reject);
            res.on("end", () => {
                const text = Buffer.concat(chunks).toString("utf8");
                let json;
                try {
                    json = text ? JSON.parse(text) : undefined;
                } catch {
                    json = undefined;
                }
                resolve({
                    status: res.statusCode,
                    headers: res.headers,
                    text,
                    json,
                    sessionReused,
                });
            });
        });
        req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath}: no answer in time`)));
        // A server that answers (413, say) before reading the whole body may reset the
        // connection while we still write: the answer is what counts.
        req.on("error", (error) => {
            if (!responded) reject(error);
        });
        if (body !== undefined) req.write(body);
        req.end();
    });
}

export function sign(secret, id, timestamp, body) {
    return new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
}

// ---------------------------------------------------------------- the server

const startedServers = [];
let serversOfCurrentTest = null;

// A test file that dies midway must not leave servers behind holding the database.
process.on("exit", () => {
    for (const server of startedServers) {
        if (server.running) server.child.kill("SIGKILL");
    }
});

export class Server {
    constructor(port, child, logPath, settings) {
        this.port = port;
        this.child = child;
        this.logPath = logPath;
        this.settings = settings;
        this.exited = new Promise((resolve) => {
            child.on("exit", (code, signal) => resolve({ code, signal }));
        });
        this.exitStatus = null;
        this.exited.then((status) => {
            this.exitStatus = status;
        });
    }

    get running() {
        return this.exitStatus === null;
    }

    log() {
        try {
            return fs.readFileSync(this.logPath, "utf8");
        } catch {
            return "";
        }
    }

    request(method, urlPath, options) {
        return request(this.port, method, urlPath, options);
    }

    // Posts a claim signed the way a partner does. `body`: an object (JSON-encoded) or the exact
    // text to send. Options override one thing at a time: id, timestamp, secret, signature
    // (the whole header), headers (null removes one), contentType, clientCert, path.
    async postClaim(partner, body, options = {}) {
        const id = options.id ?? webhookId();
        const timestamp = options.timestamp ?? nowUnix();
        const text = typeof body === "string" ? body : JSON.stringify(body);
        const secret = options.secret ?? secrets[partner];
        const headers = {
            "content-type": options.contentType ?? "application/json",
            "webhook-id": id,
            "webhook-timestamp": String(timestamp),
            "webhook-signature": options.signature ?? sign(secret, id, timestamp, text),
        };
        for (const [name, value] of Object.entries(options.headers ?? {})) {
            if (value === null) delete headers[name];
            else headers[name] = value;
        }
        const response = await this.request(
            options.method ?? "POST",
            options.path ?? `/v1/partners/${partner}/claims`,
            { headers, body: text, clientCert: options.clientCert, agent: options.agent },
        );
        return { ...response, id, timestamp, body: text };
    }

    // `count` keep-alive agents, each holding one connection with its TLS handshake done, so
    // that requests sent through them at once reach the server at once.
    async warmAgents(count) {
        const agents = Array.from(
            { length: count },
            () => new https.Agent({ keepAlive: true, maxSockets: 1 }),
        );
        for (const agent of agents) {
            const health = await this.request("GET", "/healthz", { agent });
            assert.equal(health.status, 200);
        }
        return agents;
    }

    readMember(member, token = env.operatorToken) {
        const headers = token === null ? {} : { authorization: `Bearer ${token}` };
        return this.request("GET", `/v1/members/${encodeURIComponent(member)}`, { headers });
    }

    // SIGTERM, then the exit status ({code, signal}); the contract wants code 0.
    async stop() {
        if (this.running) this.child.kill("SIGTERM");
        let timer;
        const timeout = new Promise((resolve) => {
            timer = setTimeout(() => resolve(null), SERVER_STOP_TIMEOUT_MS);
        });
        const status = await Promise.race([this.exited, timeout]);
        clearTimeout(timer); // a pending timer would keep the test process alive
        if (status === null) {
            this.child.kill("SIGKILL");
            await this.exited;
            throw new Error(
                `coalition-server on port ${this.port} ignored SIGTERM for ` +
                    `${SERVER_STOP_TIMEOUT_MS} ms`,
            );
        }
        return status;
    }

    // Stops the server and asserts it drained and exited 0.
    async stopAndCheck() {
        const status = await this.stop();
        assert.deepEqual(
            status,
            { code: 0, signal: null },
            `coalition-server on port ${this.port} should exit 0 on SIGTERM`,
        );
    }
}

async function freePort() {
    return new Promise((resolve, reject) => {
        const probe = net.createServer();
        probe.unref();
        probe.on("error", reject);
        probe.listen(0, "127.0.0.1", () => {
            const { port } = probe.address();
            probe.close(() => resolve(port));
        });
    });
}

// Starts coalition-server on a free port of 127.0.0.1 with `settings` (COALITION_* names) on top
// of the database and the TLS files, and waits for GET /healthz = 200.
export async function startServer(settings = {}) {
    const port = await freePort();
    const logPath = path.join(env.workDir, `server-${port}-${Date.now()}.log`);
    const logFd = fs.openSync(logPath, "w");
    const child = spawn(path.join(env.binDir, "coalition-server"), [], {
        env: childEnvironment({
            COALITION_LISTEN: `127.0.0.1:${port}`,
            COALITION_TLS_CERT: certFile("server.pem"),
            COALITION_TLS_KEY: certFile("server.key"),
            ...settings,
        }),
        stdio: ["ignore", logFd, logFd],
    });
    fs.closeSync(logFd);
    const server = new Server(port, child, logPath, settings);
    startedServers.push(server);
    if (serversOfCurrentTest) serversOfCurrentTest.push(server);

    const deadline = Date.now() + SERVER_START_TIMEOUT_MS;
    while (Date.now() < deadline) {
        if (!server.running) {
            throw new Error(
                `coalition-server exited during start (${JSON.stringify(server.exitStatus)}):\n` +
                    server.log(),
            );
        }
        try {
            // A client certificate is only sent when asked for, so this also suits a server
            // that makes mutual TLS mandatory.
            const health = await request(port, "GET", "/healthz", { clientCert: "grocer" });
            if (health.status === 200) return server;
        } catch {
            // not listening yet
        }
        await sleep(100);
    }
    await server.stop().catch(() => {});
    throw new Error(
        `coalition-server did not answer /healthz within ${SERVER_START_TIMEOUT_MS} ms:\n` +
            server.log(),
    );
}

function tail(text, lines) {
    const all = text.split("\n");
    return all.slice(Math.max(0, all.length - lines)).join("\n");
}

export function printServerLogs(servers) {
    for (const server of servers) {
        process.stderr.write(
            `\n----- coalition-server on port ${server.port} ` +
                `(${JSON.stringify(server.settings)}), last ${LOG_LINES_SHOWN_MAX} log lines -----\n` +
                `${tail(server.log(), LOG_LINES_SHOWN_MAX)}\n----- end of log -----\n`,
        );
    }
}

// A test whose failure prints the logs of the servers it started and of `sharedServers()`
// (e.g. the file's common server), so a failure explains itself.
export function e2eTest(name, fn, { sharedServers = () => [] } = {}) {
    test(name, { timeout: TEST_TIMEOUT_MS }, async (t) => {
        serversOfCurrentTest = [];
        const own = serversOfCurrentTest;
        try {
            await fn(t);
        } catch (error) {
            printServerLogs([...new Set([...sharedServers().filter(Boolean), ...own])]);
            throw error;
        } finally {
            serversOfCurrentTest = null;
            // A test that failed midway must not leave its servers behind.
            for (const server of own) {
                if (server.running) await server.stop().catch(() => {});
            }
        }
    });
}

// ---------------------------------------------------------------- what was booked

// The state a refused claim must leave untouched: the number of claims and each member's view
// (status and body: a never-seen member stays 404).
export async function snapshot(server, members) {
    const views = {};
    for (const member of members) {
        const view = await server.readMember(member);
        // A member seen (200) or not (404): anything else means the read itself failed, and two
        // failed reads would compare equal whatever was booked between them.
        assert.ok([200, 404].includes(view.status), `member ${member} read: ${view.status} ${view.text}`);
        views[member] = { status: view.status, body: view.json };
    }
    // Rows in every ledger table a claim writes: an accepted claim, an enrolled member (also one
    // no test reads), a lot, a slice. (A 422 keeps its answer in refused_claims for its retries:
    // no ledger change, so not counted here.)
    const rows = sql(
        "select (select count(*) from claims) || ',' || (select count(*) from members) || ',' || " +
            "(select count(*) from lots) || ',' || (select count(*) from slices)",
    );
    return { claims: claimCount(), rows, members: views };
}

export async function assertNothingBooked(server, before, context = "") {
    const after = await snapshot(server, Object.keys(before.members));
    assert.deepEqual(after, before, `nothing may be booked ${context}`.trim());
}

// Asserts an error answer: status, error.code, and error.field when one is named (or that no
// field is named when `field` is null).
export function assertError(response, status, code, field) {
    const where = `${response.status} ${response.text}`;
    assert.equal(response.status, status, `status (got ${where})`);
    assert.ok(
        response.json && typeof response.json.error === "object",
        `an error body {"error": {...}} (got ${where})`,
    );
    assert.equal(response.json.error.code, code, `error.code (got ${where})`);
    assert.equal(typeof response.json.error.message, "string", `error.message (got ${where})`);
    if (field !== undefined && field !== null) {
        assert.equal(response.json.error.field, field, `error.field (got ${where})`);
    }
    assert.match(
        String(response.headers["content-type"] ?? ""),
        /^application\/json/,
        "errors are JSON",
    );
}

// The success body of contract §2, key for key.
export function assertAccepted(response, { id, type, member, points, balance }) {
    const where = `${response.status} ${response.text}`;
    assert.equal(response.status, 201, `201 Created (got ${where})`);
    assert.deepEqual(
        Object.keys(response.json ?? {}).sort(),
        ["balance", "claim_id", "member_id", "points", "settlement_date", "status", "type"],
        `exactly the fields of contract §2 (got ${where})`,
    );
    const body = response.json;
    assert.equal(body.claim_id, id);
    assert.equal(body.status, "accepted");
    assert.equal(body.type, type);
    if (member !== undefined) assert.equal(body.member_id, member);
    if (points !== undefined) assert.equal(body.points, points);
    if (balance !== undefined) assert.equal(body.balance, balance);
    assert.ok(Number.isSafeInteger(body.points), "points is an integer");
    assert.ok(Number.isSafeInteger(body.balance), "balance is an integer");
    // The acceptance date in the program time zone (UTC by default); a minute of slack for a
    // test that runs across midnight.
    const dates = [todayUtc(), new Date(Date.now() - 60_000).toISOString().slice(0, 10)];
    assert.ok(
        dates.includes(body.settlement_date),
        `settlement_date ${body.settlement_date} should be today UTC (${dates[0]})`,
    );
    return body;
}

// Earns `points` for `member` at `partner` and returns the 201 body.
export async function earn(server, partner, member, points) {
    const response = await server.postClaim(partner, { type: "earn", member_id: member, points });
    assert.equal(response.status, 201, `earn set-up: ${response.status} ${response.text}`);
    return { ...response.json, id: response.id };
}
