// A destination's Retry-After is waited out as asked: never less (the server would refuse again), and not the asked
// time plus our own handling of the answer (the pause counts from when the answer arrived).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type DestinationConfig, parseDestinations, syncDestination } from "../../ingest/destinations/index.ts"
import { hubspotServer, salesforceServer } from "../support/crm-replay-servers.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const dest = (d: Record<string, unknown>): DestinationConfig => parseDestinations(JSON.stringify({ acme: [d] }))[0]!

describe("a destination asking to wait", () => {
  it("Salesforce's 503s with Retry-After 0.2 s are each waited out 0.2 s from the answer, and every record lands once", async () => {
    const sf = await salesforceServer()
    try {
      sf.inject429Every = 2
      const config = dest({ name: "sf", type: "salesforce", purpose: "CrmSync", token: "sf-token", url: sf.url, batchSize: 10, maxAttempts: 5, ratePerSecond: 1000, burst: 50 })
      const people = Array.from({ length: 60 }, (_, n) => web(`m-${n}`, 1, {
        type: "identify", userId: `u${n}`, traits: { email: `p${n}@mail.example`, first_name: "F", last_name: `L${n}` }, context: prefs({ CrmSync: true }),
      }))
      const r = await withConsent(dir, Effect.gen(function* () {
        yield* submit(people)
        return yield* syncDestination(config)
      }))
      expect(r.error).toBeUndefined()
      expect([r.upserted, r.deadLettered]).toEqual([60, 0])
      const waits = sf.requests.slice(1).flatMap((q, i) => sf.requests[i]!.status === 503 ? [q.at - sf.requests[i]!.at] : [])
      expect(waits.length).toBeGreaterThanOrEqual(5)
      // Never less than asked. That the wait counts from the answer's arrival, not from after its handling (its delivery
      // logged to the warehouse), is token-bucket's case, on a test clock: here an upper bound would be this machine's
      // wall clock (the median within 60 ms of the asked 0.2 s failed at load), and 48638bf measured the same waits
      // (204-237 ms at load 9) with and without that change.
      for (const w of waits) expect(w).toBeGreaterThanOrEqual(195)
    } finally {
      await sf.close()
    }
  }, 60_000)

  it("HubSpot's spent budget is waited out at most maxRetryAfterMs: a window of years held the run, and the destination, for good", async () => {
    // One request per window, the window a thousand years long: every answer says the budget is spent until then.
    const hs = await hubspotServer({ windowMax: 1, windowMs: 3.2e13 })
    try {
      const config = dest({ name: "crm", type: "hubspot", purpose: "CrmSync", token: "hs-token", url: hs.url, batchSize: 1, maxAttempts: 2, maxRetryAfterMs: 500 })
      const people = [1, 2].map((n) => web(`m-${n}`, 1, {
        type: "identify", userId: `u${n}`, traits: { email: `p${n}@mail.example` }, context: prefs({ CrmSync: true }),
      }))
      // The run ending at all is the check on the wait: one for the window asked would outlast this test's timeout by
      // a thousand years, and no bound on this machine's clock is needed.
      const r = await withConsent(dir, Effect.gen(function* () {
        yield* submit(people)
        return yield* syncDestination(config)
      }))
      // The first batch lands; the second, refused 429 with the same window, is dead-lettered instead of waited for.
      expect([r.upserted, r.deadLettered]).toEqual([1, 1])
      expect(hs.requests.length).toBe(2)
    } finally {
      await hs.close()
    }
  }, 40_000)
})
