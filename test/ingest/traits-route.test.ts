// POST /v1/traits/preview on a real collector (embedded engine): a marketer previews a computed-trait definition
// while the server holds the data dir, and gets what previewComputedTrait (what `cdp traits preview` prints) answers,
// with e-mail addresses and phone numbers masked; every answer as openapi.json describes it.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseDefinition, previewComputedTrait } from "../../identity/index.ts"
import { callApi as call, createToken, landBatch, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { traitsRoute } from "../../ingest/traits-route.ts"
import { preReadBodies } from "../../ingest/query-route.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const PATH = "/v1/traits/preview"
const preview = (url: string, token: string, body: unknown) =>
  Effect.map(call(url, "POST", PATH, token, body), (res) => {
    checkResponse(PATH, "POST", res.status, res.body)
    return res
  })

/** Three people of tenant acme (the test write key's) who order, each with an address and a phone in the properties. */
const seed = (url: string) =>
  Effect.gen(function* () {
    const people = [["ann", 40, "+44 20 7946 0958"], ["bob", 15, "020 7946 0111"], ["cy", 7, "07700 900123"]] as const
    const batch = people.flatMap(([who, total, phone], p) => Array.from({ length: p + 1 }, (_, i) => ({
      type: "track", userId: who, messageId: `${who}-${i}`, event: "Order Completed", timestamp: `2024-10-0${i + 1}T10:00:00Z`,
      properties: { total, email: `${who}@acme.example`, phone, product: i === 0 ? "mug" : "beans" },
    })))
    yield* landBatch(url, batch, { identifier: "user_id:cy", events: 3 })
  })

const token = createToken

const SPEND = { name: "spend", kind: "sum", events: ["Order Completed"], of: "properties.total" }
const TOP_EMAIL = { name: "top_address", kind: "most_frequent", of: "properties.email" }
const PHONE = { name: "last_contact", kind: "last", of: "properties.phone" }

describe("POST /v1/traits/preview", () => {
  it("a marketer's preview is the direct function's answer on the same data; a collector token is refused", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const marketer = yield* token(url, { role: "marketer", tenant: "acme" })
      const res = yield* preview(url, marketer, { definition: SPEND, sample: 2 })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      const direct = yield* previewComputedTrait("acme", parseDefinition(JSON.stringify(SPEND)), 2)
      const { success, ...answer } = res.body
      expect(success).toBe(true)
      expect(answer).toEqual(JSON.parse(JSON.stringify(direct)))
      expect(answer).toMatchObject({ tenant: "acme", profiles: 3, distribution: { type: "number", min: 21, max: 40 } })
      expect((answer.sample as Array<unknown>).length).toBe(2)
      // The default sample is 10 (all three here), and "tenant" may be named in the body.
      const all = yield* preview(url, marketer, { definition: SPEND, tenant: "acme" })
      expect((all.body.sample as Array<unknown>).length).toBe(3)

      const collector = yield* token(url, { role: "collector", tenant: "acme" })
      const denied = yield* preview(url, collector, { definition: SPEND })
      expect(denied).toMatchObject({ status: 403, body: { success: false, rule: "missing_scope" } })
      expect(denied.body.error).toContain("profiles:read")
    })), 120_000)

  it("masks e-mail addresses and phone numbers for a marketer; an admin (profiles:identifiers) sees them", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const marketer = yield* token(url, { role: "marketer", tenant: "acme" })
      for (const definition of [TOP_EMAIL, PHONE]) {
        const seen = yield* preview(url, ADMIN, { definition, tenant: "acme" })
        expect(seen.status, JSON.stringify(seen.body)).toBe(200)
        const direct = yield* previewComputedTrait("acme", parseDefinition(JSON.stringify(definition)), 10)
        expect(seen.body).toEqual({ success: true, ...JSON.parse(JSON.stringify(direct)) })
        expect(JSON.stringify(seen.body)).toMatch(/acme\.example|7946/)

        const masked = yield* preview(url, marketer, { definition })
        expect(masked.status, JSON.stringify(masked.body)).toBe(200)
        const text = JSON.stringify(masked.body)
        expect(text, definition.name).not.toMatch(/@acme\.example|7946|900123/)
        expect(masked.body.profiles).toBe(3)
        const sample = masked.body.sample as Array<{ profileId: string; value: unknown; events: number }>
        // Only the values are masked: who and how many events are as the admin sees them.
        expect(sample.map((s) => [s.profileId, s.events])).toEqual((seen.body.sample as typeof sample).map((s) => [s.profileId, s.events]))
        expect(sample.every((s) => s.value === "[masked]"), text).toBe(true)
        expect(masked.body.masked).toEqual({ kinds: ["email", "phone"] })
      }
      // A trait named for a phone is masked whole, a sum too; a sum named for nothing is shown (the first test).
      const named = yield* preview(url, marketer, { definition: { ...SPEND, name: "phone_spend" } })
      expect(named.status, JSON.stringify(named.body)).toBe(200)
      expect((named.body.sample as Array<{ value: unknown }>).map((s) => s.value)).toEqual(["[masked]", "[masked]", "[masked]"])
      expect(named.body.distribution).toMatchObject({ type: "number", min: "[masked]", max: "[masked]", mean: "[masked]" })
      // What holds no address or phone is shown as it is.
      const product = { name: "fav", kind: "most_frequent", of: "properties.product" }
      const plain = yield* preview(url, marketer, { definition: product })
      expect((plain.body.distribution as { top: Array<{ value: unknown }> }).top.map((t) => t.value).sort()).toEqual(["beans", "mug"])
    })), 120_000)

  it("a bad definition or body is a 400 naming the field; another tenant than the token's is refused", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const marketer = yield* token(url, { role: "marketer", tenant: "acme" })
      const bad = yield* preview(url, marketer, { definition: { name: "x", kind: "sum" } })
      expect(bad).toMatchObject({ status: 400, body: { success: false, rule: "bad_definition", field: "/definition/of" } })
      // The words `cdp traits preview --definition` gives for the same definition.
      let cli = ""
      try {
        parseDefinition(JSON.stringify({ name: "x", kind: "sum" }))
      } catch (e) {
        cli = (e as Error).message
      }
      expect(cli).toMatch(/^\/of: is needed by sum/)
      expect(bad.body.error).toBe(`definition${cli}`)
      const kind = yield* preview(url, marketer, { definition: { name: "x", kind: "median" } })
      expect(kind).toMatchObject({ status: 400, body: { field: "/definition/kind" } })
      expect(kind.body.error).toMatch(/must be one of count, sum/)

      // An unknown field of kilobytes is named cut, in the body and in the definition, not quoted back whole.
      const long = "f".repeat(20_000)
      for (const body of [{ definition: SPEND, [long]: 1 }, { definition: { ...SPEND, [long]: 1 } }]) {
        const refused = yield* preview(url, marketer, body)
        expect(refused.status).toBe(400)
        expect(JSON.stringify(refused.body).length, JSON.stringify(refused.body).slice(0, 200)).toBeLessThan(1000)
      }
      expect(yield* preview(url, marketer, {})).toMatchObject({ status: 400, body: { rule: "bad_body", field: "/definition" } })
      expect(yield* preview(url, marketer, { definition: "count" })).toMatchObject({ status: 400, body: { rule: "bad_body", field: "/definition" } })
      for (const sample of [0, 1001, 2.5, "10"]) {
        expect(yield* preview(url, marketer, { definition: SPEND, sample }), String(sample)).toMatchObject({ status: 400, body: { rule: "bad_body", field: "/sample" } })
      }
      expect(yield* preview(url, marketer, { definition: SPEND, limit: 3 })).toMatchObject({ status: 400, body: { rule: "bad_body", field: "/limit" } })
      expect(yield* preview(url, marketer, "{not json")).toMatchObject({ status: 400 })

      expect(yield* preview(url, marketer, { definition: SPEND, tenant: "globex" }))
        .toMatchObject({ status: 403, body: { rule: "tenant_forbidden", field: "/tenant" } })
      const query = yield* call(url, "POST", `${PATH}?tenant=globex`, marketer, { definition: SPEND })
      expect(query).toMatchObject({ status: 403, body: { rule: "tenant_forbidden", field: "tenant" } })
      const unknown = yield* call(url, "POST", `${PATH}?sample=3`, ADMIN, { definition: SPEND })
      expect(unknown).toMatchObject({ status: 400, body: { rule: "unknown_parameter", field: "sample" } })
      const method = yield* call(url, "GET", PATH, marketer)
      expect(method).toMatchObject({ status: 405, body: { rule: "method_not_allowed" } })
      checkResponse(PATH, "POST", 405, method.body)
    })), 120_000)

  it("a preview past its time is 422 preview_too_slow naming the definition, not a 500", async () => {
    const reply = await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      // 300,000 orders of 100,000 people: more than a preview of 1 ms reads.
      yield* warehouse.command(
        "INSERT INTO event_rows (tenant, message_id, type, event, anonymous_id, user_id, group_id, previous_id, profile_id, channel, source, " +
          "timestamp, received_at, properties, traits, context, extra, identifiers) SELECT 'acme', concat('m', toString(number)), 'track', " +
          "'Order Completed', '', '', '', '', concat('prof_', toString(number % 100000)), 'web', 'segment', " +
          "toDateTime64('2024-09-01 00:00:00', 3, 'UTC') + toIntervalMinute(number), now64(3), '{\"total\":20}', '{}', '{}', '{}', [] FROM numbers(300000)")
      const req = { method: "POST", url: PATH, headers: {} } as IncomingMessage
      preReadBodies.set(req, JSON.stringify({ definition: SPEND, tenant: "acme" }))
      const route = traitsRoute({ warehouse, previewSeconds: 0.001 })
      return yield* route(req, { tokenId: "tok_m", role: "marketer", tenant: undefined, scopes: new Set(["profiles:read"]) })
    }))
    checkResponse(PATH, "POST", reply.status, reply.body)
    expect(reply).toMatchObject({ status: 422, body: { rule: "preview_too_slow", field: "/definition" } })
    expect(String((reply.body as { error: string }).error)).toContain("the preview ran longer than the 0.001 s it may take")
  }, 60_000)
})
