// GET /v1/consent/{identifier} answers a page of the consent history (newest first, ?limit= 1-1000, default 100) with
// the total and a keyset nextCursor, as the profile timeline pages; the per-purpose state is the whole ledger's. Found
// probing cdp serve: the answer held the whole ledger, 5.2 MB with 18,000 entries for a person with 6,000 messages.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { ConsentPoliciesRef, DEFAULT_POLICIES, showConsent } from "../../consent/index.ts"
import { consentPage, consentRoute } from "../../ingest/consent-route.ts"
import { Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const CONSENT = "/v1/consent/user_id%3Aann?tenant=acme"
type Entry = { readonly at: string; readonly purpose: string; readonly messageId: string; readonly state: string }

/** 60 preference updates of one person, a day apart, alternating Advertising: each changes several purposes' rows. */
const seed = (url: string) =>
  Effect.gen(function* () {
    const batch = Array.from({ length: 60 }, (_, i) => ({
      type: "track", event: "Segment Consent Preference Updated", userId: "ann", messageId: `c${i}`,
      timestamp: new Date(Date.UTC(2024, 0, 1 + i)).toISOString(),
      context: { consent: { categoryPreferences: { Analytics: true, Advertising: i % 2 === 0, Personalization: i % 3 === 0 } } },
    }))
    const status = yield* Effect.promise(() => fetch(`${url}/v1/batch`, {
      method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }, body: JSON.stringify({ batch }),
    }).then((r) => r.status))
    expect(status).toBe(200)
    let last = -1
    for (let i = 0; i < 200; i++) {
      const r = yield* callApi(url, "GET", CONSENT, TEST_ADMIN_TOKEN)
      // Before the fix the answer has no total: its history is the whole ledger.
      const total = r.status !== 200 ? -1 : Number(r.body["historyTotal"] ?? (r.body["history"] as Array<unknown>).length)
      if (total > 100 && total === last) return total
      last = total
      yield* Effect.sleep("100 millis")
    }
    throw new Error("the consent history did not land in 20 s")
  })

describe("the consent history over HTTP", () => {
  it("is a page, newest first, with the total and a keyset cursor; pages together are the whole ledger; the state is the ledger's", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const total = yield* seed(url)
      const first = yield* callApi(url, "GET", CONSENT, TEST_ADMIN_TOKEN)
      checkResponse("/v1/consent/{identifier}", "GET", first.status, first.body)
      const history = first.body["history"] as Array<Entry>
      expect(history).toHaveLength(100)
      expect(first.body["historyTotal"]).toBe(total)
      expect(typeof first.body["nextCursor"]).toBe("string")
      expect(history[0]!.messageId).toBe("c59")
      const times = history.map((h) => h.at)
      expect([...times].sort().reverse()).toEqual(times)

      const whole = yield* callApi(url, "GET", `${CONSENT}&limit=1000`, TEST_ADMIN_TOKEN)
      checkResponse("/v1/consent/{identifier}", "GET", whole.status, whole.body)
      expect(whole.body["history"]).toHaveLength(total)
      expect(whole.body["nextCursor"]).toBeNull()
      expect(whole.body["purposes"]).toEqual(first.body["purposes"])

      const walked: Array<Entry> = []
      let cursor: string | null = null
      for (let guard = 0; guard < 100; guard++) {
        const page: { status: number; body: Record<string, unknown> } = yield* callApi(url, "GET",
          `${CONSENT}&limit=37${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`, TEST_ADMIN_TOKEN)
        checkResponse("/v1/consent/{identifier}", "GET", page.status, page.body)
        walked.push(...(page.body["history"] as Array<Entry>))
        expect(page.body["purposes"]).toEqual(first.body["purposes"])
        cursor = page.body["nextCursor"] as string | null
        if (cursor === null) break
      }
      expect(walked).toEqual(whole.body["history"])

      for (const [query, rule] of [["limit=0", "bad_limit"], ["limit=1001", "bad_limit"], ["limit=x", "bad_limit"], ["cursor=nope", "bad_cursor"]] as const) {
        const r = yield* callApi(url, "GET", `${CONSENT}&${query}`, TEST_ADMIN_TOKEN)
        checkResponse("/v1/consent/{identifier}", "GET", r.status, r.body)
        expect(r.body, query).toMatchObject({ success: false, rule })
      }
    })), 120_000)

  it("a page costs the warehouse a page: the ledger is paged in the engine, not read whole and paged here", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const total = yield* seed(url)
      const warehouse = yield* Warehouse
      // A spy warehouse: the size of what each statement reading the consent ledger gives back.
      const ledgerReads: Array<number> = []
      const spy: WarehouseShape = {
        ...warehouse,
        query: <T,>(sql: string, options?: Parameters<WarehouseShape["query"]>[1]) => Effect.tap(warehouse.query<T>(sql, options), (rows) =>
          Effect.sync(() => { if (sql.includes("consent_ledger")) ledgerReads.push(JSON.stringify(rows).length) })),
      }
      const ask = (query: string) => consentRoute({ method: "GET", url: `${CONSENT}&${query}`, headers: {} } as IncomingMessage, { warehouse: spy })
      const whole = yield* callApi(url, "GET", `${CONSENT}&limit=1000`, TEST_ADMIN_TOKEN)
      const wholeBytes = JSON.stringify(whole.body["history"]).length
      // The same answer as the whole ledger read and paged in memory (how the route answered before).
      const inMemory = yield* showConsent("acme", { _tag: "identifier", kind: "user_id", value: "ann" }).pipe(
        Effect.provideService(ConsentPoliciesRef, DEFAULT_POLICIES))
      expect(JSON.parse(JSON.stringify(consentPage(inMemory, { limit: 1000, after: undefined })))).toEqual(whole.body)
      const first = yield* ask("limit=5")
      const body = first.body as Record<string, unknown>
      expect(first.status).toBe(200)
      expect(body["historyTotal"]).toBe(total)
      expect(body["history"]).toEqual((whole.body["history"] as Array<Entry>).slice(0, 5))
      expect(body["purposes"]).toEqual(whole.body["purposes"])
      const second = yield* ask(`limit=5&cursor=${encodeURIComponent(body["nextCursor"] as string)}`)
      expect((second.body as Record<string, unknown>)["history"]).toEqual((whole.body["history"] as Array<Entry>).slice(5, 10))
      // Each page read at most a few pages' worth of ledger text (5 entries, one per purpose, one more), not all 180+.
      expect(ledgerReads.length).toBeGreaterThan(0)
      for (const bytes of ledgerReads) expect(bytes, `read ${bytes} bytes of ledger; the whole history is ${wholeBytes}`).toBeLessThan(wholeBytes / 5)
    })), 120_000)
})
