// An audience whose purpose was removed from the tenant's consent policy (CDP_CONSENT no longer names the tenant's
// own purpose "Loyalty", or sets it to null) after it was saved: it stayed, was evaluated, exported and renamed as if nothing had
// happened. It is now reported (list and show say it is invalid and why), not evaluated or exported (an error naming
// the purpose), and an edit must give it a purpose the tenant has.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseConsentPolicies } from "../../../consent/index.ts"
import {
  type Audience, AudienceInvalid, AudienceUnusable, createAudience, editAudience, getAudience, listAudiences, refreshAudience, refreshAudiences,
} from "../../../identity/audiences/index.ts"
import { audienceRoute } from "../../../ingest/audience-route.ts"
import { parseDestinations, syncDestination } from "../../../ingest/destinations/index.ts"
import { preReadBodies } from "../../../ingest/query-route.ts"
import { Warehouse } from "../../../warehouse/warehouse.ts"
import { withConsent } from "../../consent/support.ts"
import { checkResponse } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { AS_OF, landPeople } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** The tenant's own purpose, the policy the audience was saved under. */
const ADDED = { acme: { purposes: { Loyalty: { basis: "consent", whenUnknown: "granted", onDenied: "strip", onUnknown: "keep" } } } }
/** The policy after: the purpose gone. */
const REMOVED = { acme: {} }
const WORDS = `its purpose "Loyalty" is no longer a purpose of tenant "acme"`

describe("an audience whose purpose was removed from the consent policy", () => {
  it("is reported invalid, is neither evaluated nor exported, and is saved again only with a purpose the tenant has", async () => {
    const audience = await withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const a = yield* createAudience("acme", { name: "Recent buyers", purpose: "Loyalty", condition: { event: "Order Completed", withinDays: 30 } }, "test")
      expect(yield* refreshAudiences({ tenant: "acme", asOfMs: AS_OF })).toMatchObject({ entered: 1 })
      return a
    }), ADDED)

    await withConsent(dir, Effect.gen(function* () {
      const shown = yield* getAudience("acme", audience.id)
      expect(shown.invalid).toEqual({ field: "purpose", reason: expect.stringContaining(WORDS) })
      expect(shown.invalid!.reason).toContain("change its purpose to one of them")
      expect((yield* listAudiences("acme")).map((a) => [a.id, a.invalid?.field])).toEqual([[audience.id, "purpose"]])

      // Not evaluated: the refresh says why instead of computing members for a purpose that does not exist.
      const refused = yield* Effect.flip(refreshAudience(shown as Audience, undefined, AS_OF))
      expect(refused).toBeInstanceOf(AudienceUnusable)
      expect(refused.message).toBe(`audience ${audience.id} "Recent buyers" cannot be used: ${shown.invalid!.reason}`)
      // A refresh of every audience says which it did not refresh and why, and does not count it as refreshed.
      expect(yield* refreshAudiences({ tenant: "acme", asOfMs: AS_OF })).toMatchObject({
        audiences: 0, entered: 0, exited: 0, notRefreshed: [{ id: audience.id, tenant: "acme", name: "Recent buyers", reason: shown.invalid!.reason }],
      })

      // Not exported: the destination's run names the audience and the purpose.
      const config = parseDestinations(JSON.stringify({ acme: [{ name: "buyers", type: "ndjson", purpose: "CrmSync", audience: audience.id }] }))[0]!
      const report = yield* syncDestination(config)
      expect(report.error).toContain(`audience ${audience.id} "Recent buyers" cannot be used: ${WORDS}`)
      expect(report.upserted).toBe(0)

      // Renaming alone is refused, naming the purpose; with a purpose the tenant has it is saved, valid again.
      const renamed = yield* Effect.flip(editAudience("acme", audience.id, { name: "Buyers" }, "test"))
      expect(renamed).toBeInstanceOf(AudienceInvalid)
      expect((renamed as AudienceInvalid).field).toBe("purpose")
      expect(renamed.message).toContain(WORDS)
      const mended = yield* editAudience("acme", audience.id, { name: "Buyers", purpose: "Analytics" }, "test")
      expect([mended.name, mended.purpose, mended.version, mended.invalid]).toEqual(["Buyers", "Analytics", 2, undefined])
    }), REMOVED)
  }, 120_000)

  it("is shown invalid by GET /v1/audiences/{id} and its preview is refused 409 naming the purpose, as openapi.json says", async () => {
    const audience = await withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      return yield* createAudience("acme", { name: "Recent buyers", purpose: "Loyalty", condition: { event: "Order Completed", withinDays: 30 } }, "test")
    }), ADDED)
    await withConsent(dir, Effect.gen(function* () {
      const route = audienceRoute({ warehouse: yield* Warehouse, policies: parseConsentPolicies(REMOVED) })
      const call = (method: string, url: string, body?: unknown) => {
        const req = { method, url, headers: {} } as IncomingMessage
        if (body !== undefined) preReadBodies.set(req, JSON.stringify(body))
        return route(req, { tokenId: "tok_m", tenant: undefined })
      }
      const got = yield* call("GET", `/v1/audiences/${audience.id}?tenant=acme`)
      checkResponse("/v1/audiences/{id}", "GET", got.status, got.body)
      expect((got.body as { audience: Audience }).audience.invalid).toEqual({ field: "purpose", reason: expect.stringContaining(WORDS) })
      const list = yield* call("GET", "/v1/audiences?tenant=acme")
      checkResponse("/v1/audiences", "GET", list.status, list.body)
      const preview = yield* call("POST", "/v1/audiences/preview", { tenant: "acme", id: audience.id })
      checkResponse("/v1/audiences/preview", "POST", preview.status, preview.body)
      expect(preview).toMatchObject({ status: 409, body: { rule: "audience_invalid", field: "/id" } })
      expect(String((preview.body as { error: string }).error)).toContain(WORDS)
      // With another purpose in the body it is previewed (what an edit would make of it).
      const tried = yield* call("POST", "/v1/audiences/preview", { tenant: "acme", id: audience.id, purpose: "Analytics" })
      expect(tried.status).toBe(200)
    }), REMOVED)
  }, 120_000)
})
