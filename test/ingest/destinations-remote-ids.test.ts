// Record ids a CRM answers are kept (export_state) so an erasure can delete the record later: an answer whose id is not
// a short plain string (a number, an object, a megabyte, control characters, half a surrogate pair) is that record's
// error, dead-lettered with words naming it, while the batch's other records, and other destinations, go on.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { type DestinationConfig, parseDestinations, syncDestinations } from "../../ingest/destinations/index.ts"
import { openDeadLetters } from "../../warehouse/exports.ts"
import { hubspotServer, salesforceServer } from "../support/crm-replay-servers.ts"
import { exportTestDirs } from "../support/export-dirs.ts"
import { query } from "../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"

let dir: string
const { keep } = exportTestDirs((d) => { dir = d })

const person = (n: number): CanonicalEvent =>
  web(`m-${n}`, 1, {
    type: "identify", userId: `u${n}`, traits: { email: `person${n}@mail.example`, first_name: `First${n}`, last_name: `Last${n}` },
    context: prefs({ CrmSync: true }),
  })

const dest = (d: Record<string, unknown>): DestinationConfig => parseDestinations(JSON.stringify({ acme: [d] }))[0]!
const fast = { maxAttempts: 3, timeoutMs: 5000, maxRetryAfterMs: 5000 }

/** What each person's record id is answered as: one good, then each kind of malformed id. */
const IDS: ReadonlyArray<unknown> = ["1001", 123, { id: "1" }, "9".repeat(1_000_000), "10\u0007", "\ud800"]

/** The remote ids kept per destination, and the open dead letters' reasons. */
const outcome = (destination: string) => Effect.gen(function* () {
  const kept = yield* query<{ remote_id: string }>(
    "SELECT argMax(remote_id, version) AS remote_id FROM export_state WHERE tenant = 'acme' AND destination = {destination:String} GROUP BY profile_id HAVING remote_id != '' ORDER BY remote_id",
    { destination })
  const letters = yield* openDeadLetters("acme", destination)
  return { kept: kept.map((k) => k.remote_id), reasons: letters.map((l) => l.reason).sort() }
})

const WORDS = [
  "an empty string", "a number", "an object", "a string of 1000000 characters",
  "a string holding U+0007 at character 3", "a string holding U+D800 at character 1",
]

describe("record ids a destination answers", () => {
  it("HubSpot: a malformed contact id is that contact's dead letter; the others, and Salesforce, are synced", async () => {
    const hs = keep(await hubspotServer({ windowMs: 100 }))
    const sf = keep(await salesforceServer())
    const configs = [
      dest({ name: "crm", type: "hubspot", purpose: "CrmSync", token: "hs-token", url: hs.url, idProperty: "email", fields: { email: "identifier:email", lastname: "trait:last_name" }, ...fast }),
      dest({ name: "sf", type: "salesforce", purpose: "CrmSync", token: "sf-token", url: sf.url, ...fast }),
    ]
    const results = [...IDS, ""].map((id, i) => ({ id, properties: { email: `person${i + 1}@mail.example` } }))
    hs.script.push({ kind: "answer", status: 200, body: { status: "COMPLETE", results } })
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* submit([1, 2, 3, 4, 5, 6, 7].map(person))
      const runs = yield* syncDestinations(configs)
      return { runs, crm: yield* outcome("crm"), sf: yield* outcome("sf") }
    }))
    expect(r.runs.map((x) => [x.destination, x.error, x.upserted, x.deadLettered])).toEqual([["crm", undefined, 1, 6], ["sf", undefined, 7, 0]])
    expect(r.crm.kept).toEqual(["1001"])
    expect(r.crm.reasons).toHaveLength(6)
    for (const [i, words] of WORDS.entries()) {
      expect(r.crm.reasons.some((reason) => reason.startsWith("unusable record id: HubSpot answered") && reason.includes(words)), words).toBe(true)
      expect(r.crm.reasons[i]!.length).toBeLessThan(300)
    }
    expect(r.sf.kept).toHaveLength(7)
  }, 120_000)

  it("Salesforce: a malformed record Id is that record's dead letter; the others, and HubSpot, are synced", async () => {
    const hs = keep(await hubspotServer({ windowMs: 100 }))
    const sf = keep(await salesforceServer())
    const configs = [
      dest({ name: "sf", type: "salesforce", purpose: "CrmSync", token: "sf-token", url: sf.url, ...fast }),
      dest({ name: "crm", type: "hubspot", purpose: "CrmSync", token: "hs-token", url: hs.url, ...fast }),
    ]
    sf.script.push({ kind: "answer", status: 200, body: [...IDS.map((id) => ({ id, success: true, errors: [] })), { id: null, success: true, errors: [] }] })
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* submit([1, 2, 3, 4, 5, 6, 7].map(person))
      const runs = yield* syncDestinations(configs)
      return { runs, sf: yield* outcome("sf"), crm: yield* outcome("crm") }
    }))
    expect(r.runs.map((x) => [x.destination, x.error, x.upserted, x.deadLettered])).toEqual([["sf", undefined, 1, 6], ["crm", undefined, 7, 0]])
    expect(r.sf.kept).toEqual(["1001"])
    const words = [...WORDS.slice(1), "null"]
    for (const w of words) {
      expect(r.sf.reasons.some((reason) => reason.startsWith("unusable record id: Salesforce answered") && reason.includes(w)), w).toBe(true)
    }
    expect(r.crm.kept).toHaveLength(7)
  }, 120_000)
})
