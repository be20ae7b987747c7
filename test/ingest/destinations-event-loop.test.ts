// An export sync or dry run builds a record (and its fingerprint) for every candidate profile of the tenant; in `cdp
// serve` (POST /v1/exports/{destination}/dry-run or /run, CDP_EXPORT_EVERY) that runs on the event loop every request
// and every tenant's batch share, so it must give the loop a turn often. Seen probing cdp serve: a dry run of a
// tenant's 100,000 profiles held the loop so that another tenant's CORS preflight (no engine, pure JavaScript) waited up
// to 1.7 s (one dry run) and 3.3 s (four at once), against 0.2 s beside nothing.
import { Effect, Layer } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseDestinations, syncDestination } from "../../ingest/destinations/index.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { longestStall } from "../support/event-loop.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const PROFILES = 100_000

/** PROFILES people of tenant acme, each with an e-mail address and an order, made in the engine. */
const seed = Effect.gen(function* () {
  const w = yield* Warehouse
  yield* w.command(
    "INSERT INTO event_rows (tenant, message_id, type, event, anonymous_id, user_id, group_id, previous_id, profile_id, channel, source, " +
      "timestamp, received_at, properties, traits, context, extra, identifiers) " +
      "SELECT 'acme', concat('m', toString(number)), 'identify', '', '', concat('u', toString(number)), '', '', " +
      "concat('prof_', toString(number)), 'web', 'segment', " +
      "toDateTime64('2024-09-01 00:00:00', 3, 'UTC') + toIntervalMinute(number % 100000), now64(3), '{}', " +
      "concat('{\"email\":\"u', toString(number), '@mail.example\",\"plan\":\"pro\",\"first_name\":\"F', toString(number), '\"}'), '{}', '{}', " +
      "[('user_id', concat('u', toString(number))), ('email', concat('u', toString(number), '@mail.example'))] FROM numbers({n:UInt64})",
    { n: PROFILES })
})

/**
 * CPU time without a turn (test/support/event-loop.ts): far above a slice (about 20 ms) and what reading the
 * candidates' rows holds it, far below what building 100,000 records at once took (709 ms at load 17).
 */
const BOUND_MS = 250

describe("an export dry run shares the event loop", () => {
  it("planning 100,000 profiles gives the event loop a turn at least every 250 ms of CPU", async () => {
    const [hook, lake] = parseDestinations(JSON.stringify({
      acme: [
        { name: "hook", type: "webhook", purpose: "EmailMarketing", url: "https://hooks.example/cdp", secret: "whsec_0123456789abcdef" },
        { name: "lake", type: "ndjson", purpose: "EmailMarketing" },
      ],
    }))
    const { result, longestMs } = await Effect.runPromise(Effect.gen(function* () {
      yield* seed
      return yield* longestStall(Effect.forEach([hook!, lake!], (d) => syncDestination(d, { dryRun: true, full: true })))
    }).pipe(Effect.provide(Layer.mergeAll(Layer.fresh(Warehouse.embedded(`${dir}/clickhouse`)), ObjectStore.local(`${dir}/objects`)))))
    for (const r of result) {
      expect(r.error, r.destination).toBeUndefined()
      expect(r.plannedTotals!.upsert, r.destination).toBe(PROFILES)
    }
    expect(longestMs, `the loop ran ${longestMs} ms of CPU without a turn`).toBeLessThan(BOUND_MS)
  }, 180_000)
})
