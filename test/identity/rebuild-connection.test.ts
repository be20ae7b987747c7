// A rebuild reads a tenant's whole stored history. The embedded engine runs one statement at a time on the pipeline's
// connection, which every tenant's landing uses: read as one statement, a big tenant's history held every other
// tenant's batches for as long (seen on cdp serve: another tenant's one-message batch waited 3.5-10 s at the start of
// a rebuild of 750,000 messages). It is read a page at a time, so landing goes on between the pages.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { rebuildIdentity } from "../../identity/rebuild.ts"
import { defaultIdentityConfig, makeIdentityStage } from "../../identity/stage.ts"
import { loadObservationsPage, type ObservationRow, storeIdentity } from "../../warehouse/identity.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { historyRows } from "../support/identity-history.ts"
import { connectionWaits } from "../support/connection-waits.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const MESSAGES = 200_000

/** 200,000 messages of 20,000 people, each with a user id, an anonymous id and an e-mail address. */
const history = (from: number, to: number): Array<ObservationRow> => historyRows({ people: 20_000, browsers: 1 }, from, to)

/**
 * The longest a small statement waited for the pipeline's connection beside the work must be under half of what one
 * waits behind the tenant's stored history read as one statement there (what the rebuild and the reload did before
 * their pages), measured in the same run, before and after the work (the longer of the two, so a change of the
 * machine's load meanwhile does not make it the shorter): a page's read and an insert of 10,000 rows are each a small
 * part of it. Or under FLOOR_MS, whichever is larger: half alone left legitimate waits a margin of 1.6 at load 13-16
 * (407 ms against 659) and CI runs the file beside others. On a quiet machine the history read as one statement takes
 * about 0.5 s, under the floor, so there the floor lets that defect pass; under load (1-4 s) it is caught.
 */
const FLOOR_MS = 1_000
const underHalfOfWhole = (longest: number, whole: ReadonlyArray<number>) => {
  console.log(`behind the history read as one statement, a small statement waited ${whole.map(Math.round).join(" ms, then ")} ms`)
  expect(longest, `a statement waited ${Math.round(longest)} ms beside the work; behind the history read as one statement, ` +
    `${whole.map(Math.round).join(" and ")} ms`).toBeLessThan(Math.max(FLOOR_MS, Math.max(...whole) / 2))
}

/** How long a small statement waits for the pipeline's connection beside `read`. */
const waitBehind = <E>(read: Effect.Effect<unknown, E, Warehouse>) => connectionWaits(read).pipe(Effect.map((probe) => probe.longest))

/** The rebuild's read of the stored history as one statement, as loadStoredObservations read it before 5030fba. */
const wholeStoredHistory = Effect.gen(function* () {
  const w = yield* Warehouse
  return yield* w.query(
    "SELECT tenant, message_id, toUnixTimestamp64Milli(argMax(timestamp, observed_at)) AS ms, argMax(sightings, observed_at) AS sightings, " +
      "argMax(refused, observed_at) AS refused FROM identity_observations WHERE tenant = {tenant:String} GROUP BY tenant, message_id",
    { params: { tenant: "acme" } })
})

describe("a rebuild shares the pipeline's connection", () => {
  it("a statement of another tenant waits for no more than a page of a big tenant's history", async () => {
    const { longest, result, whole } = await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      for (let i = 0; i < MESSAGES; i += 50_000) yield* storeIdentity({ observations: history(i, i + 50_000), links: [], moved: [], merges: [], nodes: [] })
      const before = yield* waitBehind(wholeStoredHistory)
      const probe = yield* connectionWaits(rebuildIdentity(defaultIdentityConfig(), "acme", { reread: true }))
      return { ...probe, whole: [before, yield* waitBehind(wholeStoredHistory)] }
    }))
    expect(result.tenants.map((t) => t.tenant)).toEqual(["acme"])
    underHalfOfWhole(longest, whole)
  }, 180_000)

  // The running graph's reload of one tenant (after an operator's decision, and after a rebuild in cdp serve) read the
  // tenant's history 200,000 messages a statement on the pipeline's connection (2.7 s seen on cdp serve at 100,000).
  it("a statement of another tenant does not wait for a big tenant's graph reload", async () => {
    const { longest, whole } = await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      // Stored an hour ago, as storeIdentity stores them: the reload reads again only what was stored in its last
      // minute (what landed while it loaded), not this history twice.
      const warehouse = yield* Warehouse
      const at = new Date(Date.now() - 3_600_000).toISOString().replace("T", " ").replace("Z", "")
      for (let i = 0; i < MESSAGES; i += 50_000) {
        const rows = history(i, i + 50_000)
        yield* warehouse.insert("identity_observations", rows.map((o) => ({
          tenant: o.tenant, message_id: o.messageId, timestamp: o.timestamp.replace("T", " ").replace("Z", ""), sightings: o.sightings, refused: o.refused, observed_at: at,
        })))
        yield* warehouse.insert("identity_sightings", rows.flatMap((o) => o.sightings.map((s) => ({
          tenant: o.tenant, kind: s.kind, value: s.value, message_id: o.messageId, timestamp: o.timestamp.replace("T", " ").replace("Z", ""),
          sightings: o.sightings.map(({ kind, value, trust }) => ({ kind, value, trust })), observed_at: at,
        }))))
      }
      const { reloadTenant } = yield* makeIdentityStage(defaultIdentityConfig())
      // The reload's read of the tenant's history as one statement on the pipeline's connection, as before its pages.
      const wholeHistory = loadObservationsPage(undefined, MESSAGES, "acme")
      const before = yield* waitBehind(wholeHistory)
      const probe = yield* connectionWaits(reloadTenant("acme"))
      return { ...probe, whole: [before, yield* waitBehind(wholeHistory)] }
    }))
    underHalfOfWhole(longest, whole)
  }, 180_000)
})
