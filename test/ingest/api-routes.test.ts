// The export, listening and audit routes on a real collector (embedded engine, object store in the temp dir): what
// `cdp export`, `cdp listen report` and `cdp audit` get through `cdp serve`, each answer checked against
// ingest/openapi.json, wrong input refused naming the field, identifiers in the listening report masked for marketers.
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Collector } from "../../ingest/collector.ts"
import { parseDestinations } from "../../ingest/destinations/index.ts"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN, withApi as withCollector } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, type PipelineServices, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ADMIN = TEST_ADMIN_TOKEN

const withApi = <A, E>(program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Scope.Scope>) =>
  withCollector(dir, program, { destinations: parseDestinations(JSON.stringify({ acme: [{ name: "lake", type: "ndjson", purpose: "EmailMarketing" }] })) })

type Body = ApiBody

const call = callApi

/** Calls and checks the answer against openapi.json under `template`. */
const checked = (url: string, method: string, path: string, template: string, token: string | null = ADMIN, body?: unknown) =>
  Effect.map(call(url, method, path, token, body), (res) => {
    checkResponse(template, method, res.status, res.body)
    return res
  })

const makeToken = (url: string, request: Record<string, unknown>) =>
  Effect.map(call(url, "POST", "/v1/tokens", ADMIN, request), (res) => {
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    return res.body.token as string
  })

const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean) =>
  Effect.gen(function* () {
    let last: A | undefined
    for (let i = 0; i < 150; i++) {
      last = yield* effect
      if (check(last)) return last
      yield* Effect.sleep("200 millis")
    }
    return yield* Effect.die(new Error(`condition not reached in 30 s; last: ${JSON.stringify(last).slice(0, 1000)}`))
  })

/** Every row of a paged list, one row a page (each answer checked against openapi.json). */
const pages = (url: string, path: string, template: string, key: string) =>
  Effect.gen(function* () {
    const rows: Array<Body> = []
    let cursor: string | null = null
    for (let i = 0; i < 100; i++) {
      const page: { body: Body } = yield* checked(url, "GET", `${path}&limit=1${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`, template)
      expect(page.body[key].length).toBeLessThanOrEqual(1)
      rows.push(...page.body[key])
      cursor = page.body.nextCursor
      if (cursor === null) return rows
    }
    throw new Error("more than 100 pages")
  })

const send = (url: string, path: string, body: unknown) =>
  Effect.promise(() => fetch(`${url}${path}`, {
    method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }, body: JSON.stringify(body),
  }).then((r) => r.status))

describe("the export routes", () => {
  it("status, dry run, run, history and replay answer as openapi.json says; a run sends each profile once", () =>
    withApi((url) => Effect.gen(function* () {
      expect(yield* send(url, "/v1/batch", {
        batch: ["p1", "p2", "p3"].map((id) => ({ type: "identify", userId: id, messageId: `m-${id}`, traits: { email: `${id}@acme.example` }, timestamp: "2025-03-01T10:00:00Z" })),
      })).toBe(200)
      const dry = yield* eventually(checked(url, "POST", "/v1/exports/lake/dry-run?tenant=acme", "/v1/exports/{destination}/dry-run", ADMIN, {}),
        (r) => r.status === 200 && r.body.report.planned.reduce((n: number, p: Body) => n + p.records, 0) === 3)
      expect(dry.body).toMatchObject({ purpose: "EmailMarketing", report: { destination: "lake", upserted: 0, plannedTotals: { upsert: 3, remove: 0, erase: 0 } } })
      const before = yield* checked(url, "GET", "/v1/exports/lake?tenant=acme", "/v1/exports/{destination}")
      expect(before.body.status).toMatchObject({ destination: "lake", profiles_there: 0, last_good_sync: "never" })
      const run = yield* checked(url, "POST", "/v1/exports/run?tenant=acme", "/v1/exports/run", ADMIN, { full: false })
      expect(run.body.reports).toMatchObject([{ destination: "lake", upserted: 3, deadLettered: 0, cursorAdvanced: true }])
      const again = yield* checked(url, "POST", "/v1/exports/lake/run?tenant=acme", "/v1/exports/{destination}/run", ADMIN)
      expect(again.body.reports[0].upserted).toBe(0)
      const all = yield* checked(url, "GET", "/v1/exports?tenant=acme", "/v1/exports")
      expect(all.body.destinations).toMatchObject([{ destination: "lake", profiles_there: 3, dead_letters: 0 }])
      const history = yield* checked(url, "GET", "/v1/exports/lake/history?tenant=acme&limit=5", "/v1/exports/{destination}/history")
      expect(history.body.history.length).toBeGreaterThan(0)
      expect(history.body.history[0]).toMatchObject({ operation: "upsert", outcome: "delivered" })
      // Page by page (a cursor each), the same rows in the same order as one page of them all.
      const whole = (yield* checked(url, "GET", "/v1/exports/lake/history?tenant=acme&limit=1000", "/v1/exports/{destination}/history")).body
      expect(whole.nextCursor).toBeNull()
      expect(yield* pages(url, "/v1/exports/lake/history?tenant=acme", "/v1/exports/{destination}/history", "history")).toEqual(whole.history)
      // Bound to this list and tenant (ingest/pages.ts), as the API gives them, so the time is what is refused.
      const forged = Buffer.from(JSON.stringify({ list: "deliveries of lake", tenant: "acme", after: ["not a time", 1, "r", "b", "upsert"] })).toString("base64url")
      expect((yield* checked(url, "GET", `/v1/exports/lake/history?tenant=acme&cursor=${forged}`, "/v1/exports/{destination}/history")).body)
        .toMatchObject({ rule: "bad_cursor", field: "cursor" })
      const replay = yield* checked(url, "POST", "/v1/exports/lake/replay?tenant=acme", "/v1/exports/{destination}/replay", ADMIN)
      expect(replay.body.replay).toMatchObject({ destination: "lake", letters: 0 })
    })), 120_000)

  it("tokens and data-subject requests are listed a page at a time, as openapi.json describes", () =>
    withApi((url) => Effect.gen(function* () {
      for (const name of ["one", "two", "three"]) yield* makeToken(url, { role: "marketer", tenant: "acme", name })
      const tokens = (yield* checked(url, "GET", "/v1/tokens?tenant=acme", "/v1/tokens")).body
      expect(tokens.tokens.map((t: Body) => t.name)).toEqual(["one", "two", "three"])
      expect(yield* pages(url, "/v1/tokens?tenant=acme", "/v1/tokens", "tokens")).toEqual(tokens.tokens)
      for (const who of ["p1", "p2", "p3"]) {
        const made = yield* checked(url, "POST", "/v1/dsr", "/v1/dsr", ADMIN, { type: "access", identifier: `email:${who}@acme.example`, tenant: "acme" })
        expect(made.status, JSON.stringify(made.body)).toBe(201)
      }
      const requests = (yield* checked(url, "GET", "/v1/dsr?tenant=acme", "/v1/dsr")).body
      expect(requests.requests).toHaveLength(3)
      expect(requests.nextCursor).toBeNull()
      expect(yield* pages(url, "/v1/dsr?tenant=acme", "/v1/dsr", "requests")).toEqual(requests.requests)
      expect((yield* checked(url, "GET", `/v1/dsr/${requests.requests[0].id}`, "/v1/dsr/{id}")).status).toBe(200)
      for (const [path, template] of [["/v1/tokens", "/v1/tokens"], ["/v1/dsr", "/v1/dsr"]] as const) {
        expect((yield* checked(url, "GET", `${path}?limit=0`, template)).body).toMatchObject({ rule: "bad_limit", field: "limit" })
        expect((yield* checked(url, "GET", `${path}?cursor=nope`, template)).body).toMatchObject({ rule: "bad_cursor", field: "cursor" })
      }
      // A forged cursor of the right shape but a time no request can have is refused too, not handed to the engine.
      const forged = Buffer.from(JSON.stringify({ list: "requests", tenant: "", after: [1e16, "dsr_x"] })).toString("base64url")
      expect((yield* checked(url, "GET", `/v1/dsr?cursor=${forged}`, "/v1/dsr")).body).toMatchObject({ rule: "bad_cursor", field: "cursor" })
    })), 120_000)

  it("a tenant holds at most CDP_MAX_TOKENS active tokens: one more is refused 409 naming the setting until one is revoked", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      const ids: Array<string> = []
      for (const name of ["one", "two"]) {
        const made = yield* checked(url, "POST", "/v1/tokens", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme", name })
        ids.push(made.body.details.id)
      }
      const over = yield* checked(url, "POST", "/v1/tokens", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme", name: "three" })
      expect(over).toMatchObject({ status: 409, body: { rule: "token_limit", field: "/tenant" } })
      expect(over.body.error).toContain("CDP_MAX_TOKENS")
      // Per tenant: another tenant still gets its own.
      expect((yield* checked(url, "POST", "/v1/tokens", "/v1/tokens", ADMIN, { role: "marketer", tenant: "globex" })).status).toBe(201)
      expect((yield* call(url, "POST", `/v1/tokens/${ids[0]}/revoke`, ADMIN)).status).toBe(200)
      expect((yield* checked(url, "POST", "/v1/tokens", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme", name: "three" })).status).toBe(201)
    }), { maxTokens: 2 }), 120_000)

  it("refuses a wrong destination, limit, body or method naming what is wrong", () =>
    withApi((url) => Effect.gen(function* () {
      const refused = (res: { status: number; body: Body }, status: number, field: string | undefined, words: string) => {
        expect(res.status, JSON.stringify(res.body)).toBe(status)
        expect(res.body.success).toBe(false)
        if (field !== undefined) expect(res.body.field).toBe(field)
        expect(res.body.error).toContain(words)
      }
      refused(yield* checked(url, "GET", "/v1/exports/nope?tenant=acme", "/v1/exports/{destination}"), 404, "destination", `no destination "nope" for tenant "acme" (destinations: lake)`)
      refused(yield* checked(url, "GET", "/v1/exports?tenant=globex", "/v1/exports"), 404, undefined, `tenant "globex" has no export destinations`)
      refused(yield* checked(url, "GET", "/v1/exports/lake/history?tenant=acme&limit=0", "/v1/exports/{destination}/history"), 400, "limit", "1 to 1000")
      refused(yield* checked(url, "POST", "/v1/exports/lake/run?tenant=acme", "/v1/exports/{destination}/run", ADMIN, { full: "yes" }), 400, "/full", "true or false")
      refused(yield* checked(url, "POST", "/v1/exports/lake/run?tenant=acme", "/v1/exports/{destination}/run", ADMIN, { fulll: true }), 400, "/fulll", 'unknown field "fulll"')
      refused(yield* checked(url, "POST", "/v1/exports/lake/run?tenant=acme", "/v1/exports/{destination}/run", ADMIN, "[1]"), 400, undefined, "JSON object")
      for (const limit of [0, 1001, 2.5, "5"]) {
        refused(yield* checked(url, "POST", "/v1/exports/lake/dry-run?tenant=acme", "/v1/exports/{destination}/dry-run", ADMIN, { limit }), 400, "/limit", "whole number 1-1000")
      }
      // "limit" is a dry run's only: a run sends everything.
      refused(yield* checked(url, "POST", "/v1/exports/lake/run?tenant=acme", "/v1/exports/{destination}/run", ADMIN, { limit: 5 }), 400, "/limit", 'unknown field "limit"')
      refused(yield* call(url, "GET", "/v1/exports/lake/run?tenant=acme", ADMIN), 405, undefined, "use POST")
      refused(yield* call(url, "POST", "/v1/exports/lake/status?tenant=acme", ADMIN, {}), 405, undefined, "use GET")
      refused(yield* call(url, "GET", "/v1/exports/lake/nonsense?tenant=acme", ADMIN), 404, undefined, "/status, /history, /run, /dry-run and /replay")
      refused(yield* call(url, "GET", "/v1/exports/..%2F..?tenant=acme", ADMIN), 400, "destination", "a destination's name")
      // A name no destination can have (CDP_DESTINATIONS' rule) is refused as such, not looked for.
      for (const name of ["Lake", "a.b", "_x", "x".repeat(64)]) {
        refused(yield* call(url, "GET", `/v1/exports/${name}?tenant=acme`, ADMIN), 400, "destination", "1-63 lower-case letters, digits, '_' or '-', the first a letter or digit")
      }
    })), 120_000)
})

describe("export runs through the API", () => {
  it("a second run of a destination while one is sending is refused 409, and nothing is sent twice", async () => {
    let received = 0
    // A destination that takes 2 s to answer: the first run is still sending when the second asks.
    const slow = createServer((req, res) => {
      req.resume()
      req.on("end", () => setTimeout(() => {
        received++
        res.writeHead(200, { "content-type": "application/json" })
        res.end("{}")
      }, 2000))
    })
    await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve))
    const hookUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/hook`
    try {
      await withCollector(dir, (url) => Effect.gen(function* () {
        expect(yield* send(url, "/v1/identify", { userId: "s1", messageId: "m-s1", traits: { email: "s1@acme.example" }, timestamp: "2025-03-01T10:00:00Z" })).toBe(200)
        yield* eventually(call(url, "POST", "/v1/exports/slow/dry-run?tenant=acme", ADMIN, {}), (r) => r.status === 200 && r.body.report.planned.length === 1)
        const [a, b] = yield* Effect.all([
          call(url, "POST", "/v1/exports/slow/run?tenant=acme", ADMIN, {}),
          Effect.flatMap(Effect.sleep("300 millis"), () => call(url, "POST", "/v1/exports/run?tenant=acme", ADMIN, {})),
        ], { concurrency: 2 })
        expect(a.status, JSON.stringify(a.body)).toBe(200)
        expect(a.body.reports[0]).toMatchObject({ upserted: 1 })
        expect(b).toMatchObject({ status: 409, body: { rule: "export_running", field: "destination" } })
        checkResponse("/v1/exports/run", "POST", b.status, b.body)
        expect(received).toBe(1)
        // Once it ended, the next run goes ahead (and finds nothing new to send).
        const after = yield* call(url, "POST", "/v1/exports/slow/run?tenant=acme", ADMIN, {})
        expect(after.status).toBe(200)
        expect(after.body.reports[0]).toMatchObject({ upserted: 0 })
      }), { destinations: parseDestinations(JSON.stringify({ acme: [{ name: "slow", type: "webhook", purpose: "EmailMarketing", url: hookUrl, secret: "whsec_api_test_0123456789" }] })) })
    } finally {
      slow.close()
    }
  }, 120_000)
})

describe("the listening report route", () => {
  it("serves the report of cdp listen report; a marketer gets e-mail addresses and phone numbers in authors masked, an admin not", () =>
    withApi((url) => Effect.gen(function* () {
      const day = new Date(Date.now() - 86_400_000).toISOString()
      const posts = [
        { id: "s1", network: "forum", author_handle: "kim", author_name: "Kim kim@home.example", author_followers: 900, text: "love this coffee, great taste", created_at: day },
        { id: "s2", network: "forum", author_handle: "lee", author_name: "Lee +44 7700 900123", author_followers: 800, text: "the delivery was late and the bag broken", created_at: day },
      ]
      for (const p of posts) expect(yield* send(url, "/v1/webhooks/social", p)).toBe(200)
      const marketer = yield* makeToken(url, { role: "marketer", tenant: "acme" })
      const masked = yield* eventually(checked(url, "GET", "/v1/listening/report?since=7d", "/v1/listening/report", marketer),
        (r) => r.status === 200 && r.body.report.mentions.total === 2)
      expect(masked.body.report.tenant).toBe("acme")
      const names = masked.body.report.topAuthors.byReach.map((a: Body) => a.name)
      expect(names.sort()).toEqual(["Kim [masked]", "Lee [masked]"])
      expect(JSON.stringify(masked.body)).not.toContain("kim@home.example")
      expect(JSON.stringify(masked.body)).not.toContain("7700 900123")
      const plain = yield* checked(url, "GET", "/v1/listening/report?since=7d&tenant=acme", "/v1/listening/report")
      expect(plain.body.report.topAuthors.byReach.map((a: Body) => a.name).sort()).toEqual(["Kim kim@home.example", "Lee +44 7700 900123"])
      expect(plain.body.report.masked).toBeUndefined()
      for (const [query, field] of [["since=yesterdayish", "since"], ["since=7d&until=2020-01-01", "until"], ["alerts=maybe", "alerts"]] as const) {
        const bad = yield* checked(url, "GET", `/v1/listening/report?${query}`, "/v1/listening/report", marketer)
        expect(bad.status, query).toBe(400)
        expect(bad.body.field, query).toBe(field)
      }
    })), 120_000)
})

describe("the audit routes", () => {
  it("page the log newest first with a cursor, filter by kind, time and tenant, and verify the chain", () =>
    withApi((url) => Effect.gen(function* () {
      for (const [tenant, id] of [["acme", "a1"], ["globex", "g1"], ["acme", "a2"]] as const) {
        const res = yield* call(url, "POST", "/v1/dsr", ADMIN, { type: "access", identifier: `user_id:${id}`, tenant })
        expect(res.status, JSON.stringify(res.body)).toBe(201)
      }
      const compliance = yield* makeToken(url, { role: "compliance", tenant: "acme" })
      const seen: Array<Body> = []
      let cursor: string | null = null
      do {
        const page: { status: number; body: Body } = yield* checked(url, "GET", `/v1/audit?kind=dsr.&limit=2${cursor === null ? "" : `&cursor=${cursor}`}`, "/v1/audit", compliance)
        expect(page.status, JSON.stringify(page.body)).toBe(200)
        expect(page.body.entries.length).toBeLessThanOrEqual(2)
        seen.push(...page.body.entries)
        cursor = page.body.nextCursor
      } while (cursor !== null)
      // Two acme requests, each received, running and completed; nothing of globex's; newest first, no repeats.
      expect(seen.map((e) => e.tenant)).toEqual(Array(6).fill("acme"))
      // Newest first, no repeats; a token bound to a tenant sees no place in the shared chain (seq, prevHash, scanned).
      expect(seen.map((e) => e.at)).toEqual([...seen.map((e) => e.at)].sort().reverse())
      expect(new Set(seen.map((e) => e.hash)).size).toBe(6)
      expect(seen.every((e) => e.seq === undefined && e.prevHash === undefined)).toBe(true)
      expect(new Set(seen.map((e) => e.kind))).toEqual(new Set(["dsr.received", "dsr.running", "dsr.completed"]))
      const completed = yield* checked(url, "GET", "/v1/audit?kind=dsr.completed&tenant=globex", "/v1/audit")
      expect(completed.body.entries.map((e: Body) => [e.tenant, e.kind])).toEqual([["globex", "dsr.completed"]])
      const future = yield* checked(url, "GET", `/v1/audit?since=${new Date(Date.now() + 3_600_000).toISOString()}`, "/v1/audit")
      expect(future.body.entries).toEqual([])
      const past = yield* checked(url, "GET", "/v1/audit?until=2020-01-01", "/v1/audit")
      expect(past.body.entries).toEqual([])
      const verified = yield* checked(url, "GET", "/v1/audit/verify", "/v1/audit/verify", compliance)
      // A token bound to acme sees its own six entries (and its reads, once flushed), not globex's or the chain's head.
      expect(verified.body.verification).toMatchObject({ ok: true, problems: [], tenant: "acme" })
      expect(verified.body.verification.entries).toBeGreaterThanOrEqual(6)
      expect(verified.body.verification.headSeq).toBeUndefined()
      const whole = yield* checked(url, "GET", "/v1/audit/verify", "/v1/audit/verify")
      expect(whole.body.verification.entries).toBeGreaterThanOrEqual(9)
      // A token bound to no tenant naming one gets that tenant's verification, as a bound token does (not the whole chain's).
      const named = yield* checked(url, "GET", "/v1/audit/verify?tenant=acme", "/v1/audit/verify")
      expect(named.body.verification).toMatchObject({ ok: true, tenant: "acme" })
      expect(named.body.verification.entries).toBeGreaterThanOrEqual(verified.body.verification.entries)
      expect(named.body.verification.headSeq).toBeUndefined()
      const unknown = yield* checked(url, "GET", "/v1/audit/verify?since=7d", "/v1/audit/verify", compliance)
      expect(unknown.status).toBe(400)
      expect(unknown.body).toMatchObject({ rule: "unknown_parameter", field: "since" })
      for (const [query, field] of [["limit=0", "limit"], ["cursor=abc", "cursor"], ["since=last-week", "since"], ["kind=DROP%20TABLE", "kind"], ["colour=red", "colour"]] as const) {
        const bad = yield* checked(url, "GET", `/v1/audit?${query}`, "/v1/audit", compliance)
        expect(bad.status, query).toBe(400)
        expect(bad.body.field, query).toBe(field)
      }
    })), 120_000)
})
