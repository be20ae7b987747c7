// The X connector against a broken or hostile X API (a local server answering as each test says; the real
// twitter-api-v2 client talks to it): it must end with a clear error instead of looping, sleeping for ever or dying,
// and must not move since_id past tweets it never handed over.
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer as createHttpsServer } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Fiber, Stream } from "effect"
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { ObjectStore } from "../../../ingest/objectstore.ts"
import type { ImportedItem } from "../../../ingest/sources/index.ts"
import {
  filteredStream, loadXConfig, makeXClient, pollRecentSearch, runFilteredStream, searchStateKey, syncStreamRules, type XConfig, type XStatus,
} from "../../../ingest/social/index.ts"
import { listen } from "../../support/local-server.ts"

const TOKEN = "hostile-bearer-secret"
const FAST = { resetMarginMs: 10, backoffInitialMs: 10, backoffMaxMs: 20, fallbackWaitMs: 10, maxRateLimitRetries: 2 }

let server: Server | undefined
let dir: string
let requests: Array<URL>
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cdp-xhostile-"))
  requests = []
})
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))
  server = undefined
  rmSync(dir, { recursive: true, force: true })
})

/** Starts a server whose every request is answered by `answer` (with its order, from 0). */
const hostile = async (answer: (url: URL, n: number, req: IncomingMessage, res: ServerResponse) => void) => {
  const started = await listen((req, res) => {
    const url = new URL(req.url ?? "/", "http://x")
    requests.push(url)
    answer(url, requests.length - 1, req, res)
  })
  server = started.server
  return started.url
}

/** When each connection the server accepted was closed (undefined while open), in the order they came. */
const connectionsOf = (s: Server) => {
  const closedAt: Array<number | undefined> = []
  s.on("connection", (socket) => {
    const i = closedAt.push(undefined) - 1
    socket.on("close", () => (closedAt[i] = Date.now()))
  })
  return closedAt
}

/** Waits until `done()` or `withinMs` passed. */
const waitFor = async (done: () => boolean, withinMs: number) => {
  const until = Date.now() + withinMs
  while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body))

const tweet = (id: string) => ({ id, text: `hello ${id}`, author_id: "77", created_at: "2024-12-02T10:00:00.000Z" })
const page = (ids: ReadonlyArray<string>, nextToken?: string) => ({
  data: ids.map(tweet),
  includes: { users: [{ id: "77", username: "someone", name: "Some One" }] },
  meta: { newest_id: ids[0], oldest_id: ids.at(-1), result_count: ids.length, ...(nextToken === undefined ? {} : { next_token: nextToken }) },
})

const config = (apiBase: string, over: Partial<XConfig> = {}): XConfig =>
  ({ bearerToken: TOKEN, queries: ["coffee"], rules: [], apiBase, ...over })

/** One search pass, bounded: a pass still running after `withinMs` is a hang and fails the test. */
const poll = (apiBase: string, items: Array<ImportedItem> = [], statuses: Array<XStatus> = [], withinMs = 5_000) =>
  Effect.runPromise(pollRecentSearch(config(apiBase), {
    tenant: "acme",
    policy: FAST,
    onStatus: (s) => statuses.push(s),
    onItems: (batch) => Effect.sync(() => void items.push(...batch)),
  }).pipe(
    Effect.provide(ObjectStore.local(dir)),
    Effect.timeoutOrElse({ duration: withinMs, orElse: () => Effect.die(new Error(`the pass was still running after ${withinMs} ms`)) }),
    Effect.result,
  ))

const ids = (items: ReadonlyArray<ImportedItem>) => items.flatMap((i) => (i._tag === "event" ? [i.event.messageId] : []))

/** Reads the filtered stream from `apiBase` until its first connection ends: what it reported and handed on. */
const readUntilDisconnected = async (apiBase: string) => {
  const statuses: Array<XStatus> = []
  const items: Array<ImportedItem> = []
  const client = makeXClient(config(apiBase), { policy: FAST, onStatus: (s) => statuses.push(s) })
  const fiber = Effect.runFork(Stream.runForEachArray(
    filteredStream(client, { tenant: "acme", reconnect: { initialMs: 10, maxMs: 20 } }),
    (batch) => Effect.sync(() => void items.push(...batch)),
  ))
  await waitFor(() => statuses.some((s) => s.kind === "disconnected"), 5_000)
  await Effect.runPromise(Fiber.interrupt(fiber))
  return { statuses, items }
}

const savedState = () =>
  Effect.runPromise(Effect.gen(function* () {
    const bytes = yield* (yield* ObjectStore).get(searchStateKey("acme", "coffee"))
    return bytes === undefined ? undefined : JSON.parse(new TextDecoder().decode(bytes)) as { sinceId: string | null; pending: unknown }
  }).pipe(Effect.provide(ObjectStore.local(dir))))

describe("recent search against a hostile X", () => {
  test("a next_token X hands out again ends the pass with an error naming the loop, after a bounded number of requests", async () => {
    const url = await hostile((_u, _n, _req, res) => json(res, 200, page(["1863400000000000005"], "same-token")))
    const result = await poll(url)
    expect(result._tag === "Success" && result.success[0]!.error).toMatch(/next_token.*again/)
    expect(requests.length).toBeLessThanOrEqual(3)
    // The looping token is not kept: the next pass starts over instead of walking into the loop at once.
    expect((await savedState())?.pending ?? null).toBeNull()
  })

  test("pages without tweets whose next_token is new every time end the pass after a bounded number, not never", async () => {
    const url = await hostile((_u, n, _req, res) =>
      json(res, 200, n === 0 ? page(["1863400000000000005"], "t0") : { meta: { result_count: 0, next_token: `t${n}` } }))
    const items: Array<ImportedItem> = []
    const result = await poll(url, items)
    expect(result._tag === "Success" && result.success[0]!.error).toMatch(/pages in a row without items/)
    expect(requests.length).toBeLessThanOrEqual(12)
    expect(ids(items)).toEqual(["1863400000000000005"])
    expect((await savedState())?.pending ?? null).toBeNull()
  })

  test("a 429 whose reset is in the year 3000 fails at once naming the reset, instead of sleeping for centuries", async () => {
    const reset = String(Date.UTC(3000, 0, 1) / 1000)
    const url = await hostile((_u, _n, _req, res) =>
      json(res, 429, { title: "Too Many Requests" }, { "x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset }))
    const result = await poll(url)
    expect(result._tag).toBe("Failure")
    expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XRateLimited", resetAt: "3000-01-01T00:00:00.000Z" })
    expect(requests).toHaveLength(1)
  })

  test("a 200 saying the window is spent until the year 3000 fails the next request's wait with XRateLimited", async () => {
    const reset = String(Date.UTC(3000, 0, 1) / 1000)
    const url = await hostile((_u, n, _req, res) =>
      json(res, 200, page([String(1863400000000000009n - BigInt(n))], `t${n}`), { "x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset }))
    const result = await poll(url)
    expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XRateLimited", resetAt: "3000-01-01T00:00:00.000Z" })
    expect(requests).toHaveLength(1)
  })

  for (const reset of ["soon", "1e300", "-5"]) {
    test(`429s whose reset is ${JSON.stringify(reset)} end in XRateLimited without a reset time, not a crash`, async () => {
      const url = await hostile((_u, _n, _req, res) =>
        json(res, 429, { title: "Too Many Requests" }, { "x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset }))
      const result = await poll(url)
      expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XRateLimited", resetAt: null })
      expect(requests).toHaveLength(FAST.maxRateLimitRetries + 1)
    })
  }

  for (const [what, answer] of [
    ["an HTML page", (res: ServerResponse) => res.writeHead(200, { "content-type": "text/html" }).end("<html>upstream error</html>")],
    ["an empty JSON body", (res: ServerResponse) => res.writeHead(200, { "content-type": "application/json" }).end("")],
    ["JSON null", (res: ServerResponse) => json(res, 200, null)],
    ["a JSON array", (res: ServerResponse) => json(res, 200, [1, 2])],
  ] as const) {
    test(`a 200 with ${what} in the middle of a pass is retried: since_id does not move past the tweets after it`, async () => {
      const url = await hostile((u, n, _req, res) => {
        if (n === 1) return answer(res)
        if (u.searchParams.get("next_token") === "p2") return json(res, 200, page(["1863400000000000003", "1863400000000000002"]))
        json(res, 200, page(["1863400000000000009", "1863400000000000008"], "p2"))
      })
      const items: Array<ImportedItem> = []
      const result = await poll(url, items)
      expect(result._tag).toBe("Success")
      expect(ids(items).sort()).toEqual(["1863400000000000002", "1863400000000000003", "1863400000000000008", "1863400000000000009"])
      expect(items.filter((i) => i._tag === "deadLetter")).toEqual([])
      expect(requests.map((r) => r.searchParams.get("next_token"))).toEqual([null, "p2", "p2"])
    })
  }

  test("a query X refuses does not stop the next one: its summary carries the error, and the next query is polled", async () => {
    const url = await hostile((u, _n, _req, res) =>
      u.searchParams.get("query") === "bad: x"
        ? json(res, 400, { title: "Invalid Request", detail: "One or more parameters to your request was invalid.", errors: [{ message: "Reference to invalid operator 'bad:'" }] })
        : json(res, 200, page(["1863400000000000004"])))
    const items: Array<ImportedItem> = []
    const result = await Effect.runPromise(pollRecentSearch(config(url, { queries: ["bad: x", "coffee"] }), {
      tenant: "acme", policy: FAST, onItems: (batch) => Effect.sync(() => void items.push(...batch)),
    }).pipe(Effect.provide(ObjectStore.local(dir)), Effect.result))
    expect(result._tag === "Success" && result.success).toEqual([
      expect.objectContaining({ query: "bad: x", pages: 0, error: expect.stringMatching(/X rejected .*400.*invalid operator/) }),
      expect.objectContaining({ query: "coffee", pages: 1, tweets: 1, sinceId: "1863400000000000004" }),
    ])
    expect(result._tag === "Success" && result.success[1]).not.toHaveProperty("error")
    expect(ids(items)).toEqual(["1863400000000000004"])
  })

  for (const [what, saved] of [
    ["not JSON", "{\"version\":1,\"query\":"],
    ["JSON null", "null"],
    ["another version", JSON.stringify({ version: 2, query: "coffee", sinceId: "1863400000000000001", pending: null })],
    ["of another query", JSON.stringify({ version: 1, query: "tea", sinceId: "1863400000000000001", pending: null })],
    ["a pending pass without a token", JSON.stringify({ version: 1, query: "coffee", sinceId: null, pending: { nextToken: "", newestId: null } })],
  ] as const) {
    test(`a saved state that is ${what} is reported and the pass starts over from the 7-day window`, async () => {
      await Effect.runPromise(Effect.gen(function* () {
        yield* (yield* ObjectStore).put(searchStateKey("acme", "coffee"), saved)
      }).pipe(Effect.provide(ObjectStore.local(dir))))
      const url = await hostile((_u, _n, _req, res) => json(res, 200, page(["1863400000000000004"])))
      const statuses: Array<XStatus> = []
      const items: Array<ImportedItem> = []
      const result = await poll(url, items, statuses)
      expect(result._tag === "Success" && result.success[0]).toMatchObject({ pages: 1, resumed: false, sinceId: "1863400000000000004" })
      expect(requests.map((r) => [r.searchParams.get("since_id"), r.searchParams.get("next_token")])).toEqual([[null, null]])
      expect(statuses.filter((s) => s.kind === "state_reset")).toEqual([
        { kind: "state_reset", query: "coffee", reason: expect.stringMatching(/./) },
      ])
      expect(await savedState()).toMatchObject({ sinceId: "1863400000000000004", pending: null })
    })
  }

  for (const [what, newestId, extraId] of [
    ["meta.newest_id far past the tweets on the page", "99999999999999999999", undefined],
    ["meta.newest_id that is not a number", "newest", undefined],
    ["a tweet id past the 64-bit range of X ids", "1863400000000000004", "18446744073709551616"],
  ] as const) {
    test(`since_id comes from the tweets handed over, not from ${what}: the next pass still gets newer tweets`, async () => {
      let pass = 1
      const url = await hostile((_u, _n, _req, res) => {
        if (pass === 2) return json(res, 200, page(["1863400000000000007"]))
        const first = page(["1863400000000000004"])
        json(res, 200, {
          ...first, data: [...first.data, ...(extraId === undefined ? [] : [tweet(extraId)])], meta: { ...first.meta, newest_id: newestId },
        })
      })
      await poll(url)
      expect((await savedState())?.sinceId).toBe("1863400000000000004")
      pass = 2
      const items: Array<ImportedItem> = []
      await poll(url, items)
      expect(requests.at(-1)!.searchParams.get("since_id")).toBe("1863400000000000004")
      expect(ids(items)).toEqual(["1863400000000000007"])
    })
  }

  test("a server that accepts and never answers is an outage (timed out, retried, XUnavailable), not a pass that hangs", async () => {
    const url = await hostile(() => {})
    const result = await Effect.runPromise(pollRecentSearch(config(url), {
      tenant: "acme", policy: { ...FAST, requestTimeoutMs: 200, maxTransientRetries: 1 }, onItems: () => Effect.void,
    }).pipe(
      Effect.provide(ObjectStore.local(dir)),
      Effect.timeoutOrElse({ duration: 5_000, orElse: () => Effect.die(new Error("the pass was still waiting after 5 s")) }),
      Effect.result,
    ))
    expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XUnavailable", reason: expect.stringMatching(/timeout/i) })
    expect(requests).toHaveLength(2)
  })

  for (const status of [400, 503]) {
    test(`an answer ${status} that echoes the Authorization header puts no bearer token in the error`, async () => {
      const url = await hostile((_u, _n, req, res) =>
        json(res, status, { title: "Echo", detail: `bad header: ${req.headers.authorization}`, errors: [{ message: `token ${TOKEN} refused` }] }))
      const statuses: Array<XStatus> = []
      const result = await poll(url, [], statuses)
      const told = JSON.stringify([result._tag === "Failure" ? result.failure.message : result.success, statuses])
      expect(told).toMatch(/bad header/)
      expect(told).not.toContain(TOKEN)
    })
  }

  test("an answer that trickles in for ever (a byte at a time, never silent for long) is given up like a silent one", async () => {
    const url = await hostile((_u, _n, _req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).write("{")
      const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write(" ")), 50)
    })
    const result = await Effect.runPromise(pollRecentSearch(config(url), {
      tenant: "acme", policy: { ...FAST, requestTimeoutMs: 300, maxTransientRetries: 1 }, onItems: () => Effect.void,
    }).pipe(
      Effect.provide(ObjectStore.local(dir)),
      Effect.timeoutOrElse({ duration: 5_000, orElse: () => Effect.die(new Error("the pass was still waiting after 5 s")) }),
      Effect.result,
    ))
    expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XUnavailable", reason: expect.stringMatching(/no complete answer within/) })
    expect(requests).toHaveLength(2)
  })

  for (const [what, answer] of [
    ["the server never answers", () => {}],
    ["its answer trickles in for ever", (res: ServerResponse) => {
      res.writeHead(200, { "content-type": "application/json" }).write("{")
      const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write(" ")), 50)
    }],
  ] as const) {
    test(`a request given up because ${what} has its connection closed, not left open until the server closes it`, async () => {
      const url = await hostile((_u, _n, _req, res) => answer(res))
      const closedAt = connectionsOf(server!)
      const result = await Effect.runPromise(pollRecentSearch(config(url), {
        tenant: "acme", policy: { ...FAST, requestTimeoutMs: 200, maxTransientRetries: 0 }, onItems: () => Effect.void,
      }).pipe(Effect.provide(ObjectStore.local(dir)), Effect.result))
      const gaveUpAt = Date.now()
      expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XUnavailable" })
      await waitFor(() => closedAt.every((t) => t !== undefined), 3_000)
      expect(closedAt).toHaveLength(1)
      expect(closedAt[0]! - gaveUpAt).toBeLessThan(2_000)
    })
  }

  for (const declared of [true, false]) {
    test(`an answer larger than maxAnswerBytes (${declared ? "so declared" : "chunked, undeclared"}) is refused naming the bound, its connection closed, not read whole; the other queries run`, async () => {
      const pad = "x".repeat(32 * 1024 * 1024)
      const body = JSON.stringify({ ...page(["1863400000000000004"]), pad })
      const url = await hostile((u, _n, _req, res) => {
        if (u.searchParams.get("query") === "coffee") return json(res, 200, page(["1863400000000000007"]))
        res.writeHead(200, { "content-type": "application/json", ...(declared ? { "content-length": String(Buffer.byteLength(body)) } : {}) })
        res.end(body)
      })
      const closedAt = connectionsOf(server!)
      const items: Array<ImportedItem> = []
      const result = await Effect.runPromise(pollRecentSearch(config(url, { queries: ["huge", "coffee"] }), {
        tenant: "acme", policy: { ...FAST, maxAnswerBytes: 1024 * 1024 }, onItems: (batch) => Effect.sync(() => void items.push(...batch)),
      }).pipe(Effect.provide(ObjectStore.local(dir)), Effect.result))
      // Refused at once, not retried: the query's next pass tries again, and the other queries are not held up by it.
      expect(result._tag === "Success" && result.success).toEqual([
        expect.objectContaining({ query: "huge", pages: 0, error: expect.stringMatching(/larger than 1048576 bytes/) }),
        expect.objectContaining({ query: "coffee", pages: 1, tweets: 1 }),
      ])
      expect(requests.map((r) => r.searchParams.get("query"))).toEqual(["huge", "coffee"])
      expect(ids(items)).toEqual(["1863400000000000007"])
      await waitFor(() => closedAt.every((t) => t !== undefined), 3_000)
      expect(closedAt.every((t) => t !== undefined)).toBe(true)
    })
  }

  test("a page holding far more items than the max_results asked for is refused, not turned into as many dead letters; the other queries run", async () => {
    const url = await hostile((u, _n, _req, res) => u.searchParams.get("query") === "coffee"
      ? json(res, 200, page(["1863400000000000007"]))
      : json(res, 200, { data: Array.from({ length: 100_000 }, () => ({})), meta: { result_count: 100_000 } }))
    const items: Array<ImportedItem> = []
    const result = await Effect.runPromise(pollRecentSearch(config(url, { queries: ["crowded", "coffee"] }), {
      tenant: "acme", policy: FAST, onItems: (batch) => Effect.sync(() => void items.push(...batch)),
    }).pipe(Effect.provide(ObjectStore.local(dir)), Effect.result))
    expect(result._tag === "Success" && result.success).toEqual([
      expect.objectContaining({ query: "crowded", pages: 0, error: expect.stringMatching(/100000 items.*max_results of 100/) }),
      expect.objectContaining({ query: "coffee", pages: 1, tweets: 1 }),
    ])
    expect(ids(items)).toEqual(["1863400000000000007"])
    expect(requests).toHaveLength(2)
  })

  test("a pass of many pages over HTTPS piles no listeners on a reused connection (no MaxListenersExceededWarning)", async () => {
    // X is HTTPS, where Node keeps connections alive by default: a watch registered per request on a reused socket piled up.
    const key = join(dir, "key.pem")
    const cert = join(dir, "cert.pem")
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1", "-keyout", key, "-out", cert], { stdio: "ignore" })
    const tls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      const n = Number(new URL(req.url ?? "/", "https://x").searchParams.get("next_token")?.slice(1) ?? 0)
      json(res, 200, page([String(1863400000000000100n - BigInt(n))], n < 14 ? `t${n + 1}` : undefined))
    })
    await new Promise<void>((resolve) => tls.listen(0, "127.0.0.1", resolve))
    const warnings: Array<string> = []
    const note = (w: Error) => void warnings.push(w.name)
    process.on("warning", note)
    const before = process.env["NODE_TLS_REJECT_UNAUTHORIZED"]
    process.env["NODE_TLS_REJECT_UNAUTHORIZED"] = "0"
    try {
      const items: Array<ImportedItem> = []
      const result = await poll(`https://127.0.0.1:${(tls.address() as { port: number }).port}`, items)
      expect(result._tag === "Success" && result.success[0]).toMatchObject({ pages: 15, tweets: 15 })
      await new Promise((r) => setTimeout(r, 50))
      expect(warnings.filter((w) => w === "MaxListenersExceededWarning")).toEqual([])
    } finally {
      if (before === undefined) delete process.env["NODE_TLS_REJECT_UNAUTHORIZED"]
      else process.env["NODE_TLS_REJECT_UNAUTHORIZED"] = before
      process.off("warning", note)
      tls.closeAllConnections()
      await new Promise<void>((resolve) => tls.close(() => resolve()))
    }
  })

  test("an answer that says it is gzip but is not neither crashes the process nor hangs: it is an outage", async () => {
    const url = await hostile((_u, _n, _req, res) =>
      res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" }).end("this is not gzip"))
    const uncaught: Array<unknown> = []
    const note = (e: unknown) => void uncaught.push(e)
    process.on("uncaughtException", note)
    try {
      const result = await Effect.runPromise(pollRecentSearch(config(url), {
        tenant: "acme", policy: { ...FAST, maxTransientRetries: 1 }, onItems: () => Effect.void,
      }).pipe(
        Effect.provide(ObjectStore.local(dir)),
        Effect.timeoutOrElse({ duration: 5_000, orElse: () => Effect.die(new Error("the pass was still waiting after 5 s")) }),
        Effect.result,
      ))
      expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XUnavailable" })
      expect(requests).toHaveLength(2)
      expect(uncaught.map(String)).toEqual([])
    } finally {
      process.off("uncaughtException", note)
    }
  })

  test("5xx for ever ends after the bounded retries with XUnavailable naming the status; the token is in no message", async () => {
    const url = await hostile((_u, _n, _req, res) => json(res, 503, { title: "Service Unavailable", detail: "Service Unavailable" }))
    const statuses: Array<XStatus> = []
    const result = await poll(url, [], statuses)
    expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XUnavailable" })
    expect(result._tag === "Failure" && result.failure.message).toMatch(/503/)
    expect(requests).toHaveLength(6)
    expect(JSON.stringify([statuses, result._tag === "Failure" ? result.failure.message : ""])).not.toContain(TOKEN)
  })
})

describe("X settings", () => {
  test("a bearer token with a control character is refused naming CDP_X_BEARER_TOKEN, without echoing the token", async () => {
    const result = await Effect.runPromise(Effect.result(loadXConfig({ CDP_X_BEARER_TOKEN: "AAAA\u0001secret", CDP_X_QUERIES: "coffee" })))
    expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XConfigInvalid", variable: "CDP_X_BEARER_TOKEN" })
    expect(result._tag === "Failure" && result.failure.message).not.toContain("secret")
    for (const token of ["AAAA secret", "tökén"]) {
      expect((await Effect.runPromise(Effect.result(loadXConfig({ CDP_X_BEARER_TOKEN: token }))))._tag).toBe("Failure")
    }
    expect((await Effect.runPromise(loadXConfig({ CDP_X_BEARER_TOKEN: "AAAA%2Fx%3Dy" }))).bearerToken).toBe("AAAA%2Fx%3Dy")
  })
})

describe("stream rules and the filtered stream against a hostile X", () => {
  test("rule sync whose GET hands out the same next_token for ever fails naming the loop", async () => {
    const url = await hostile((_u, _n, _req, res) =>
      json(res, 200, { data: [{ id: "1", value: "coffee" }], meta: { result_count: 1, next_token: "again" } }))
    const result = await Effect.runPromise(syncStreamRules(makeXClient(config(url), { policy: FAST }), [{ value: "coffee" }]).pipe(
      Effect.timeoutOrElse({ duration: 5_000, orElse: () => Effect.die(new Error("rule sync still running after 5 s")) }),
      Effect.result,
    ))
    expect(result._tag === "Failure" && result.failure.message).toMatch(/next_token.*again/)
    expect(requests.length).toBeLessThanOrEqual(3)
  })

  test("rule sync whose GET hands out a new next_token with no rules for ever fails after a bounded number of pages", async () => {
    const url = await hostile((_u, n, _req, res) => json(res, 200, { meta: { result_count: 0, next_token: `t${n}` } }))
    const result = await Effect.runPromise(syncStreamRules(makeXClient(config(url), { policy: FAST }), [{ value: "coffee" }]).pipe(
      Effect.timeoutOrElse({ duration: 5_000, orElse: () => Effect.die(new Error("rule sync still running after 5 s")) }),
      Effect.result,
    ))
    expect(result._tag === "Failure" && result.failure.message).toMatch(/pages in a row without items/)
    expect(requests.length).toBeLessThanOrEqual(11)
  })

  test("rule sync whose add answer holds errors of the wrong shape fails naming the rule, not with a TypeError", async () => {
    for (const errors of ["nope", [{ title: "Refused", value: "coffee", details: "not a list" }]]) {
      const url = await hostile((_u, _n, req, res) =>
        req.method === "GET" ? json(res, 200, { meta: { result_count: 0 } }) : json(res, 200, { errors }))
      const result = await Effect.runPromise(Effect.result(syncStreamRules(makeXClient(config(url), { policy: FAST }), [{ value: "coffee" }])))
      if (Array.isArray(errors)) {
        expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XRequestRejected", detail: expect.stringMatching(/rule "coffee": Refused \(not a list\)/) })
      } else {
        expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XBadAnswer", detail: expect.stringMatching(/errors/) })
      }
      server!.closeAllConnections()
      await new Promise<void>((resolve) => server!.close(() => resolve()))
      server = undefined
    }
  })

  test("rule sync skips what on X's rules page is not a rule instead of crashing on it", async () => {
    for (const data of [5, "junk", [{ id: "1", value: "coffee" }, "junk", { id: 2 }, null]]) {
      const url = await hostile((_u, _n, req, res) =>
        req.method === "GET" ? json(res, 200, { data, meta: { result_count: 1 } }) : json(res, 200, { meta: {} }))
      const result = await Effect.runPromise(Effect.result(syncStreamRules(makeXClient(config(url), { policy: FAST }), [{ value: "coffee" }])))
      const kept = Array.isArray(data) ? 1 : 0
      expect(result._tag === "Success" && result.success).toEqual({ added: kept === 1 ? [] : [{ value: "coffee" }], deleted: [], kept })
      server!.closeAllConnections()
      await new Promise<void>((resolve) => server!.close(() => resolve()))
      server = undefined
    }
  })

  test("a line without an end that outgrows the limit closes the connection and reconnects, without buffering it all", async () => {
    const chunk = "a".repeat(64 * 1024)
    let connects = 0
    const url = await hostile((_u, _n, _req, res) => {
      connects++
      res.writeHead(200, { "content-type": "application/json" })
      // 64 MB in 64 KB writes, as fast as the client reads: an unbounded line.
      let sent = 0
      const more = () => {
        while (sent < 1024 && !res.destroyed) {
          sent++
          if (!res.write(chunk)) return void res.once("drain", more)
        }
      }
      more()
    })
    const statuses: Array<XStatus> = []
    const client = makeXClient(config(url), { policy: FAST, onStatus: (s) => statuses.push(s) })
    const fiber = Effect.runFork(Stream.runDrain(filteredStream(client, {
      tenant: "acme", keepAliveTimeoutMs: 5_000, maxLineBytes: 256 * 1024, reconnect: { initialMs: 10, maxMs: 20 },
    })))
    const until = Date.now() + 5_000
    while (connects < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(connects).toBeGreaterThanOrEqual(2)
    expect(statuses.find((s) => s.kind === "disconnected")).toMatchObject({ reason: expect.stringMatching(/line longer than 262144 bytes/) })
  })

  test("a stream connect answered 429 until the year 3000 fails with XRateLimited instead of sleeping for centuries", async () => {
    const reset = String(Date.UTC(3000, 0, 1) / 1000)
    const url = await hostile((_u, _n, _req, res) =>
      json(res, 429, { title: "Too Many Requests" }, { "x-rate-limit-limit": "50", "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset }))
    const client = makeXClient(config(url), { policy: FAST })
    const result = await Effect.runPromise(Stream.runDrain(filteredStream(client, { tenant: "acme", reconnect: { initialMs: 10 } })).pipe(
      Effect.timeoutOrElse({ duration: 5_000, orElse: () => Effect.die(new Error("the stream was still waiting after 5 s")) }),
      Effect.result,
    ))
    expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XRateLimited", resetAt: "3000-01-01T00:00:00.000Z" })
    expect(result._tag === "Failure" && result.failure.message).toMatch(/spent until 3000-01-01T00:00:00.000Z/)
    expect(requests).toHaveLength(1)
  })

  test("a stream that sends a keep-alive and closes at once is re-opened with growing waits: only a connection that stayed open resets them", async () => {
    const url = await hostile((_u, _n, _req, res) => res.writeHead(200, { "content-type": "application/json" }).end("\r\n"))
    const statuses: Array<XStatus> = []
    const client = makeXClient(config(url), { policy: FAST, onStatus: (s) => statuses.push(s) })
    const fiber = Effect.runFork(Stream.runDrain(filteredStream(client, { tenant: "acme", reconnect: { initialMs: 20, maxMs: 160, stableAfterMs: 500 } })))
    await new Promise((r) => setTimeout(r, 1_000))
    await Effect.runPromise(Fiber.interrupt(fiber))
    const waits = statuses.flatMap((s) => (s.kind === "reconnect_wait" ? [s.waitMs] : []))
    expect(waits.slice(0, 4)).toEqual([20, 40, 80, 160])
    expect(requests.length).toBeLessThanOrEqual(10)
  })

  test("a stream connect that is never answered is given up after the request timeout and tried again", async () => {
    const url = await hostile(() => {})
    const statuses: Array<XStatus> = []
    const client = makeXClient(config(url), { policy: { ...FAST, requestTimeoutMs: 200 }, onStatus: (s) => statuses.push(s) })
    const fiber = Effect.runFork(Stream.runDrain(filteredStream(client, { tenant: "acme", reconnect: { initialMs: 20, maxMs: 40 } })))
    const until = Date.now() + 5_000
    while (requests.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(requests.length).toBeGreaterThanOrEqual(2)
    expect(statuses.find((s) => s.kind === "reconnect_wait")).toMatchObject({ reason: expect.stringMatching(/no answer .* 200 ms/) })
  })

  test("a stream connect given up for want of an answer has its connection closed at once, not when the server closes it", async () => {
    const url = await hostile(() => {})
    const closedAt = connectionsOf(server!)
    const statuses: Array<XStatus> = []
    let gaveUpAt = 0
    const client = makeXClient(config(url), {
      policy: { ...FAST, requestTimeoutMs: 200 },
      onStatus: (s) => {
        statuses.push(s)
        if (s.kind === "reconnect_wait" && gaveUpAt === 0) gaveUpAt = Date.now()
      },
    })
    const fiber = Effect.runFork(Stream.runDrain(filteredStream(client, { tenant: "acme", reconnect: { initialMs: 60_000 } })))
    await waitFor(() => gaveUpAt > 0 && closedAt[0] !== undefined, 5_000)
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(gaveUpAt).toBeGreaterThan(0)
    expect(closedAt[0]).toBeDefined()
    expect(closedAt[0]! - gaveUpAt).toBeLessThan(2_000)
  })

  test("a stream connect answered with an error body larger than maxAnswerBytes is not read whole: its connection is closed and it is retried", async () => {
    const body = JSON.stringify({ title: "Service Unavailable", detail: "x".repeat(32 * 1024 * 1024) })
    const url = await hostile((_u, _n, _req, res) => res.writeHead(503, { "content-type": "application/json" }).end(body))
    const closedAt = connectionsOf(server!)
    const statuses: Array<XStatus> = []
    const client = makeXClient(config(url), { policy: { ...FAST, maxAnswerBytes: 1024 * 1024 }, onStatus: (s) => statuses.push(s) })
    const fiber = Effect.runFork(Stream.runDrain(filteredStream(client, { tenant: "acme", reconnect: { initialMs: 60_000 } })))
    await waitFor(() => statuses.some((s) => s.kind === "reconnect_wait") && closedAt[0] !== undefined, 5_000)
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(statuses.find((s) => s.kind === "reconnect_wait")).toMatchObject({ reason: expect.stringMatching(/larger than 1048576 bytes/) })
    expect(closedAt[0]).toBeDefined()
  })

  test("a stream interrupted while its connect waits for an answer closes that connection", async () => {
    const url = await hostile(() => {})
    const closedAt = connectionsOf(server!)
    const client = makeXClient(config(url), { policy: { ...FAST, requestTimeoutMs: 60_000 } })
    const fiber = Effect.runFork(Stream.runDrain(filteredStream(client, { tenant: "acme" })))
    await waitFor(() => requests.length > 0, 5_000)
    await Effect.runPromise(Fiber.interrupt(fiber))
    const interruptedAt = Date.now()
    await waitFor(() => closedAt[0] !== undefined, 3_000)
    expect(requests).toHaveLength(1)
    expect(closedAt[0]).toBeDefined()
    expect(closedAt[0]! - interruptedAt).toBeLessThan(2_000)
  })

  test("a tweet whose \\r\\n arrives as a read of its own is delivered, not taken for a keep-alive and lost", async () => {
    const url = await hostile((_u, _n, _req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      let sent = 0
      // Each line written in two parts, the payload and then its end: TCP hands over the "\r\n" alone.
      const next = () => {
        if (res.destroyed || sent === 10) return
        const id = String(1863400000000000000n + BigInt(sent++))
        res.write(`{"data":{"id":"${id}","text":"hello","author_id":"7","created_at":"2024-12-02T10:00:00.000Z"}}`)
        setTimeout(() => { res.write("\r\n"); setTimeout(next, 15) }, 15)
      }
      next()
    })
    const items: Array<ImportedItem> = []
    const client = makeXClient(config(url), { policy: FAST })
    const fiber = Effect.runFork(Stream.runForEachArray(filteredStream(client, { tenant: "acme" }), (batch) => Effect.sync(() => void items.push(...batch))))
    const until = Date.now() + 5_000
    while (items.length < 10 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(ids(items)).toEqual(Array.from({ length: 10 }, (_, i) => String(1863400000000000000n + BigInt(i))))
  })

  test("a tweet whose UTF-8 characters are split between two reads arrives with its text intact", async () => {
    const text = "héllo 😀 日本"
    const line = Buffer.from(`{"data":{"id":"1863400000000000001","text":"${text}","author_id":"7","created_at":"2024-12-02T10:00:00.000Z"}}\r\n`)
    // Cut inside the emoji's four bytes, and inside the é.
    const emoji = line.indexOf(Buffer.from("😀")) + 2
    const accent = line.indexOf(Buffer.from("é")) + 1
    const url = await hostile((_u, _n, _req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      res.write(line.subarray(0, accent))
      setTimeout(() => res.write(line.subarray(accent, emoji)), 20)
      setTimeout(() => res.write(line.subarray(emoji)), 40)
    })
    const items: Array<ImportedItem> = []
    const client = makeXClient(config(url), { policy: FAST })
    const fiber = Effect.runFork(Stream.runForEachArray(filteredStream(client, { tenant: "acme" }), (batch) => Effect.sync(() => void items.push(...batch))))
    await waitFor(() => items.length > 0, 5_000)
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(items.map((i) => (i._tag === "event" ? i.event.text : i._tag))).toEqual([text])
  })

  test("a stream faster than its consumer is held back at maxQueuedItems, and every tweet still arrives", async () => {
    const total = 30_000
    const url = await floodOnce(total, () => {})
    const batches: Array<number> = []
    const client = makeXClient(config(url), { policy: FAST })
    const fiber = Effect.runFork(Stream.runForEachArray(
      filteredStream(client, { tenant: "acme", keepAliveTimeoutMs: 20_000, maxQueuedItems: 1_000 }),
      // The pipeline stuck for 3 s on the first batch (a warehouse outage): what waits for it meanwhile is bounded.
      (items) => Effect.suspend(() => (batches.push(items.length) === 1 ? Effect.sleep("3 seconds") : Effect.void)),
    ))
    const until = Date.now() + 20_000
    while (batches.reduce((a, b) => a + b, 0) < total && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    await Effect.runPromise(Fiber.interrupt(fiber))
    // What queued behind the stuck batch: at most the limit, plus what one read of the socket held.
    expect(batches[1]).toBeLessThanOrEqual(1_000 + 1_000)
    expect(batches.reduce((a, b) => a + b, 0)).toBe(total)
  })

  /** A server that writes `total` tweets (as fast as the client reads) on its first connection only, then `after`. */
  const floodOnce = (total: number, after: (res: ServerResponse) => void) => hostile((_u, n, _req, res) => {
    res.writeHead(200, { "content-type": "application/json" })
    if (n > 0) return after(res)
    let written = 0
    const more = () => {
      while (written < total) {
        const id = String(1863400000000000000n + BigInt(written++))
        const line = `{"data":{"id":"${id}","text":"hello","author_id":"7","created_at":"2024-12-02T10:00:00.000Z"}}\r\n`
        if (!res.write(line)) return void res.once("drain", more)
      }
      after(res)
    }
    more()
  })
  const keepAlives = (res: ServerResponse) => {
    const beat = setInterval(() => (res.destroyed ? clearInterval(beat) : res.write("\r\n")), 50)
  }

  test("a consumer stalled longer than the keep-alive timeout loses no tweet: our own backpressure is not X's silence", async () => {
    const total = 30_000
    const url = await floodOnce(total, keepAlives)
    const statuses: Array<XStatus> = []
    const seen = new Set<string>()
    let batches = 0
    const client = makeXClient(config(url), { policy: FAST, onStatus: (s) => statuses.push(s) })
    const fiber = Effect.runFork(Stream.runForEachArray(
      filteredStream(client, { tenant: "acme", keepAliveTimeoutMs: 300, maxQueuedItems: 1_000, reconnect: { initialMs: 10, maxMs: 20 } }),
      // Stuck for 1.5 s on the first batch, five keep-alive timeouts: the connection is paused all that time.
      (items) => Effect.suspend(() => {
        for (const id of ids(items)) seen.add(id)
        return ++batches === 1 ? Effect.sleep("1500 millis") : Effect.void
      }),
    ))
    await waitFor(() => seen.size >= total, 15_000)
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(seen.size).toBe(total)
    expect(statuses.filter((s) => s.kind === "disconnected")).toEqual([])
    expect(requests).toHaveLength(1)
  })

  test("tweets queued when the server closes a held-back connection are still handed on after the reconnect", async () => {
    const total = 30_000
    const url = await floodOnce(total, (res) => (requests.length === 1 ? res.end() : keepAlives(res)))
    const seen = new Set<string>()
    let batches = 0
    const client = makeXClient(config(url), { policy: FAST })
    const fiber = Effect.runFork(Stream.runForEachArray(
      filteredStream(client, { tenant: "acme", keepAliveTimeoutMs: 300, maxQueuedItems: 1_000, reconnect: { initialMs: 10, maxMs: 20 } }),
      (items) => Effect.suspend(() => {
        for (const id of ids(items)) seen.add(id)
        return ++batches === 1 ? Effect.sleep("1500 millis") : Effect.void
      }),
    ))
    await waitFor(() => seen.size >= total && requests.length >= 2, 15_000)
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(seen.size).toBe(total)
    expect(requests.length).toBeGreaterThanOrEqual(2)
  })

  test("stream lines that are not tweets are counted and reported with a short prefix, never the whole line", async () => {
    const tweetLine = (id: string) => `{"data":{"id":"${id}","text":"hello","author_id":"7","created_at":"2024-12-02T10:00:00.000Z"}}`
    const long = `<html>${"x".repeat(5_000)}tail-that-must-not-be-logged</html>`
    const lines = [
      tweetLine("1863400000000000001"), "not json{", "null", tweetLine("1863400000000000002"), long, "0", "false", "{\"data\":",
      ...Array.from({ length: 5 }, () => "junk"), tweetLine("1863400000000000003"),
    ]
    const url = await hostile((_u, n, _req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      if (n === 0) res.end(lines.map((l) => `${l}\r\n`).join(""))
      else keepAlives(res)
    })
    const { statuses, items } = await readUntilDisconnected(url)
    expect(ids(items)).toEqual(["1863400000000000001", "1863400000000000002", "1863400000000000003"])
    const unreadable = 11
    // A warning for the first and then at every power of ten, not one per line: a stream of junk is not a log flood.
    expect(statuses.filter((s) => s.kind === "unreadable_lines")).toEqual([
      { kind: "unreadable_lines", connection: 1, count: 1, reason: "not JSON", prefix: "not json{" },
      { kind: "unreadable_lines", connection: 1, count: 10, reason: "not JSON", prefix: "junk" },
    ])
    expect(statuses.find((s) => s.kind === "disconnected")).toMatchObject({ connection: 1, unreadableLines: unreadable })
    const told = JSON.stringify(statuses)
    expect(told).not.toContain("tail-that-must-not-be-logged")
    expect(told).not.toContain("x".repeat(40))
  })

  test("a stream stopped (cdp serve shutting down) hands on the tweets it had received before it ends, none lost", async () => {
    const total = 3_000
    const url = await floodOnce(total, keepAlives)
    const delivered: Array<string> = []
    let batches = 0
    const fiber = Effect.runFork(runFilteredStream(config(url, { rules: [{ value: "coffee" }] }), {
      tenant: "acme", syncRules: false, policy: FAST, maxQueuedItems: 100_000,
      // A slow pipeline: what arrives while the first batch is being written waits in the connector's queue.
      onItems: (items) => Effect.suspend(() => {
        delivered.push(...ids(items))
        return ++batches === 1 ? Effect.sleep("2 seconds") : Effect.void
      }),
    }))
    await waitFor(() => batches > 0, 5_000)
    // Every line (330 KB) is read from the socket into the queue well within this second, even on a loaded machine.
    await new Promise((r) => setTimeout(r, 1_000))
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(new Set(delivered).size).toBe(total)
  })

  test("a stream that fails (a 401 on reconnecting) still hands on the tweets it had received, then fails", async () => {
    const total = 3_000
    const url = await hostile((_u, n, _req, res) => {
      if (n > 0) return json(res, 401, { title: "Unauthorized", detail: "Unauthorized" })
      res.writeHead(200, { "content-type": "application/json" })
      res.end(Array.from({ length: total }, (_, i) =>
        `{"data":{"id":"${1863400000000000000n + BigInt(i)}","text":"hello","author_id":"7","created_at":"2024-12-02T10:00:00.000Z"}}\r\n`).join(""))
    })
    const delivered: Array<string> = []
    let batches = 0
    const result = await Effect.runPromise(runFilteredStream(config(url, { rules: [{ value: "coffee" }] }), {
      tenant: "acme", syncRules: false, policy: FAST, maxQueuedItems: 100_000, reconnect: { initialMs: 10, maxMs: 20 },
      onItems: (items) => Effect.suspend(() => {
        delivered.push(...ids(items))
        return ++batches === 1 ? Effect.sleep("1 second") : Effect.void
      }),
    }).pipe(Effect.timeoutOrElse({ duration: 10_000, orElse: () => Effect.die(new Error("still running after 10 s")) }), Effect.result))
    expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XUnauthorized" })
    expect(new Set(delivered).size).toBe(total)
  })

  test("an error payload X sends on the stream is counted and reported with X's title, not dropped without a word", async () => {
    const url = await hostile((_u, n, _req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      if (n > 0) return keepAlives(res)
      res.end(`{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons."}]}\r\n`)
    })
    const { statuses } = await readUntilDisconnected(url)
    expect(statuses.filter((s) => s.kind === "unreadable_lines")).toEqual([
      { kind: "unreadable_lines", connection: 1, count: 1, reason: "an error payload from X (operational-disconnect)", prefix: expect.any(String) },
    ])
    expect(statuses.find((s) => s.kind === "disconnected")).toMatchObject({ unreadableLines: 1, reason: expect.stringMatching(/error payload/) })
  })

  test("what is left of a line when the connection ends (an HTML page from a proxy, a cut tweet) is counted, not dropped without a word", async () => {
    const url = await hostile((_u, n, _req, res) => {
      if (n > 0) return keepAlives(res.writeHead(200, { "content-type": "application/json" }))
      res.writeHead(200, { "content-type": "text/html" }).end("<html><body>502 Bad Gateway</body></html>")
    })
    const { statuses } = await readUntilDisconnected(url)
    expect(statuses.filter((s) => s.kind === "unreadable_lines")).toEqual([
      { kind: "unreadable_lines", connection: 1, count: 1, reason: expect.stringMatching(/without an end/), prefix: "<html><body>502 Bad Gate" },
    ])
    expect(statuses.find((s) => s.kind === "disconnected")).toMatchObject({ unreadableLines: 1 })
  })

  test("a stream line holding thousands of items (X sends one tweet a line) is counted as unreadable, not turned into as many items", async () => {
    const url = await hostile((_u, n, _req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      if (n > 0) return keepAlives(res)
      res.end(`${JSON.stringify({ data: Array.from({ length: 50_000 }, () => ({})) })}\r\n`)
    })
    const { statuses, items } = await readUntilDisconnected(url)
    expect(items).toHaveLength(0)
    expect(statuses.filter((s) => s.kind === "unreadable_lines")).toEqual([
      { kind: "unreadable_lines", connection: 1, count: 1, reason: expect.stringMatching(/50000 items/), prefix: "{\"data\":[{},{},{},{},{}," },
    ])
  })

  test("a process busy for longer than the keep-alive timeout does not take X's keep-alives, waiting to be read, for silence", async () => {
    const url = await hostile((_u, _n, _req, res) => keepAlives(res.writeHead(200, { "content-type": "application/json" })))
    const statuses: Array<XStatus> = []
    const client = makeXClient(config(url), { policy: FAST, onStatus: (s) => statuses.push(s) })
    const fiber = Effect.runFork(Stream.runDrain(filteredStream(client, { tenant: "acme", keepAliveTimeoutMs: 300, reconnect: { initialMs: 10, maxMs: 20 } })))
    await waitFor(() => statuses.some((s) => s.kind === "connected"), 5_000)
    await new Promise((r) => setTimeout(r, 200))
    // The event loop held for 600 ms (a long synchronous piece of work, a loaded machine): keep-alives wait in the socket.
    for (let i = 0; i < 3; i++) {
      const until = Date.now() + 600
      while (Date.now() < until) { /* busy */ }
      await new Promise((r) => setTimeout(r, 150))
    }
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(statuses.filter((s) => s.kind === "disconnected")).toEqual([])
  })

  test("a stream that closes right after connecting is re-opened with growing waits, not in a storm", async () => {
    const url = await hostile((_u, _n, _req, res) => res.writeHead(200, { "content-type": "application/json" }).end())
    const statuses: Array<XStatus> = []
    const client = makeXClient(config(url), { policy: FAST, onStatus: (s) => statuses.push(s) })
    const fiber = Effect.runFork(Stream.runDrain(filteredStream(client, { tenant: "acme", reconnect: { initialMs: 20, maxMs: 160 } })))
    await new Promise((r) => setTimeout(r, 1_000))
    await Effect.runPromise(Fiber.interrupt(fiber))
    const waits = statuses.flatMap((s) => (s.kind === "reconnect_wait" ? [s.waitMs] : []))
    expect(waits.slice(0, 4)).toEqual([20, 40, 80, 160])
    expect(requests.length).toBeLessThanOrEqual(10)
  })
})
