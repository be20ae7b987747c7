// The export routes (ingest/export-route.ts) refuse a query parameter they do not take, 400 unknown_parameter naming
// it, as the other API routes do. Probing cdp serve found them ignored: POST /v1/exports/files/dry-run?full=1 answered
// an incremental plan (the body's "full" is what a dry run reads), ?limit=5 the default 20 requests, and GET
// /v1/exports?bogus=1 or .../history?limt=5 answered as if the parameter had not been sent.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseDestinations } from "../../ingest/destinations/index.ts"
import { encodePageCursor, listOf } from "../../ingest/pages.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const DESTINATIONS = parseDestinations(JSON.stringify({ acme: [{ name: "lake", type: "ndjson", purpose: "EmailMarketing" }] }))

describe("the export routes' query parameters", () => {
  it("one a route does not take is refused 400 naming it and what the route takes; ?tenant= (and history's ?limit=, ?cursor=) pass", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const cases = [
        ["GET", "/v1/exports?tenant=acme&bogus=1", "/v1/exports", "bogus", "?tenant="],
        ["GET", "/v1/exports/lake?tenant=acme&limit=5", "/v1/exports/{destination}", "limit", "?tenant="],
        ["GET", "/v1/exports/lake/history?tenant=acme&limt=5", "/v1/exports/{destination}/history", "limt", "?limit=, ?cursor="],
        ["POST", "/v1/exports/lake/dry-run?tenant=acme&full=1", "/v1/exports/{destination}/dry-run", "full", 'the body ({"full", "limit"})'],
        ["POST", "/v1/exports/lake/dry-run?tenant=acme&limit=5", "/v1/exports/{destination}/dry-run", "limit", 'the body ({"full", "limit"})'],
        ["POST", "/v1/exports/lake/run?tenant=acme&full=true", "/v1/exports/{destination}/run", "full", 'the body ({"full"})'],
        ["POST", "/v1/exports/run?tenant=acme&full=true", "/v1/exports/run", "full", 'the body ({"full"})'],
        ["POST", "/v1/exports/lake/replay?tenant=acme&x=1", "/v1/exports/{destination}/replay", "x", "?tenant="],
      ] as const
      for (const [method, path, template, name, takes] of cases) {
        const res = yield* callApi(url, method, path, TEST_ADMIN_TOKEN, method === "POST" ? {} : undefined)
        checkResponse(template, method, res.status, res.body)
        expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(400)
        expect(res.body, path).toMatchObject({ rule: "unknown_parameter", field: name })
        expect(res.body.error as string, path).toContain(takes)
      }
      for (const [method, path] of [["GET", "/v1/exports?tenant=acme"], ["GET", "/v1/exports/lake/history?tenant=acme&limit=5&cursor="],
        ["POST", "/v1/exports/lake/dry-run?tenant=acme"]] as const) {
        expect((yield* callApi(url, method, path, TEST_ADMIN_TOKEN, method === "POST" ? { full: true, limit: 5 } : undefined)).status, path).toBe(200)
      }
    }), { destinations: DESTINATIONS }), 120_000)
})

describe("an export body's unknown field", () => {
  // Probing found a 10,000-character field name quoted back twice (a 20,146-byte error).
  it("is named cut to 80 characters, in the message and the pointer", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const long = "f".repeat(10_000)
      const res = yield* callApi(url, "POST", "/v1/exports/lake/dry-run?tenant=acme", TEST_ADMIN_TOKEN, { [long]: 1 })
      checkResponse("/v1/exports/{destination}/dry-run", "POST", res.status, res.body)
      expect(res).toMatchObject({ status: 400, body: { rule: "bad_body", field: `/${"f".repeat(80)}` } })
      expect(res.body.error).toBe(`unknown field "${"f".repeat(80)}…" (a dry run takes "full", "limit" and "tenant")`)
    }), { destinations: DESTINATIONS }), 120_000)
})

describe("a delivery history cursor", () => {
  // Probing found a cursor naming a time that is no instant (9999-99-99 99:99:99, month 13, year 1000: the engine
  // clamps or wraps it) answered 200 with an empty page and no nextCursor: a client took the corrupt cursor for the end.
  it("naming a time off the calendar the warehouse holds is refused 400 bad_cursor, not answered as the end of the log", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const forged = (at: string) => encodePageCursor([at, 1, "run", "batch", "upsert"], listOf("deliveries", "acme", "lake"))
      for (const at of ["9999-99-99 99:99:99", "2024-13-45 25:61:61", "1000-01-01 00:00:00", "2024-02-30 00:00:00", "2024-01-01 24:00:00", "2300-01-01 00:00:00"]) {
        const res = yield* callApi(url, "GET", `/v1/exports/lake/history?tenant=acme&cursor=${forged(at)}`, TEST_ADMIN_TOKEN)
        checkResponse("/v1/exports/{destination}/history", "GET", res.status, res.body)
        expect(res, at).toMatchObject({ status: 400, body: { rule: "bad_cursor", field: "cursor" } })
      }
      // A time on the calendar is a page (empty here: nothing was delivered).
      const ok = yield* callApi(url, "GET", `/v1/exports/lake/history?tenant=acme&cursor=${forged("2024-02-29 23:59:59.999")}`, TEST_ADMIN_TOKEN)
      expect(ok).toMatchObject({ status: 200, body: { history: [], nextCursor: null } })
    }), { destinations: DESTINATIONS }), 120_000)
})

describe("a replay's body", () => {
  // Probing found {"full": true} on a replay taken without a word: a replay sends the dead letters again and reads no
  // "full", so a caller meaning a full sync got a replay and was not told.
  it("takes no \"full\": it is refused naming the field and what a replay takes; an empty body or a tenant pass", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      for (const full of [true, false, "yes"]) {
        const res = yield* callApi(url, "POST", "/v1/exports/lake/replay?tenant=acme", TEST_ADMIN_TOKEN, { full })
        checkResponse("/v1/exports/{destination}/replay", "POST", res.status, res.body)
        expect(res, String(full)).toMatchObject({ status: 400, body: { rule: "bad_body", field: "/full", error: 'unknown field "full" (a replay takes only "tenant")' } })
      }
      for (const body of [{}, { tenant: "acme" }]) {
        expect((yield* callApi(url, "POST", "/v1/exports/lake/replay?tenant=acme", TEST_ADMIN_TOKEN, body)).status, JSON.stringify(body)).toBe(200)
      }
    }), { destinations: DESTINATIONS }), 120_000)
})
