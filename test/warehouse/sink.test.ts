import { Effect } from "effect"
import fc from "fast-check"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { eventRow, makeEventSink, makeEventSinkWith } from "../../warehouse/sink.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const event = (messageId: string, tenant = "acme"): CanonicalEvent => {
  return {
    tenant, messageId, type: "track", event: "E", anonymousId: "a", userId: "", groupId: "", previousId: "",
    channel: "web", source: "segment", timestamp: "2024-10-01T00:00:00.000Z", originalTimestamp: null, sentAt: null,
    receivedAt: "2024-10-01T00:00:00.000Z", properties: {}, traits: {}, context: {}, extra: {}, identifiers: [],
    text: "", profileId: "a",
  }
}

describe("warehouse sink", () => {
  it("after a partial insert (part of a batch stored, then a failure), the retry lands each message once", () =>
    withPipeline(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const batch = ["p1", "p2", "p3", "p4"].map((id) => event(id))
      // What a killed insert can leave behind: the first rows of the batch.
      yield* warehouse.insert("event_rows", batch.slice(0, 2).map(eventRow))
      const sink = yield* makeEventSink
      // The restarted sink knows what is stored, whatever the sender retries.
      expect(yield* sink.landEvents(batch)).toEqual({ landed: 2, duplicates: 2 })
      expect(yield* query("SELECT message_id, count() AS n FROM events GROUP BY message_id ORDER BY message_id")).toEqual(
        ["p1", "p2", "p3", "p4"].map((message_id) => ({ message_id, n: "1" })))
    })))

  it("keeps the same messageId of two tenants apart", () =>
    withPipeline(dir, Effect.gen(function* () {
      const sink = yield* makeEventSink
      expect(yield* sink.landEvents([event("same", "acme"), event("same", "globex"), event("same", "acme")])).toEqual({ landed: 2, duplicates: 1 })
    })))

  it("replaying any sequence of batches, with repeats, lands exactly the distinct messages (property)", () =>
    withPipeline(dir, Effect.gen(function* () {
      const sink = yield* makeEventSink
      const warehouse = yield* Warehouse
      let round = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 25 }), { minLength: 1, maxLength: 6 }),
            async (batches) => {
              round++
              const tenant = `t${round}`
              const before = new Set<number>()
              for (const ids of batches) {
                await Effect.runPromise(sink.landEvents(ids.map((i) => event(`m${i}`, tenant))))
                for (const i of ids) before.add(i)
              }
              const rows = await Effect.runPromise(warehouse.query<{ message_id: string; n: string }>(
                "SELECT message_id, count() AS n FROM events WHERE tenant = {tenant:String} GROUP BY message_id",
                { params: { tenant } }))
              return rows.length === before.size && rows.every((r) => r.n === "1")
            },
          ),
          { numRuns: 25, verbose: true },
        ))
    })))

  it("a repeated messageId lands once after a restart, though the restarted sink loads no landed ids", () =>
    withPipeline(dir, Effect.gen(function* () {
      const sink = yield* makeEventSink
      expect(yield* sink.landEvents([event("r1"), event("r2")])).toEqual({ landed: 2, duplicates: 0 })
    })).then(() =>
      withPipeline(dir, Effect.gen(function* () {
        const restarted = yield* makeEventSink
        expect(yield* restarted.landEvents([event("r2"), event("r3")])).toEqual({ landed: 1, duplicates: 1 })
        expect(yield* query("SELECT message_id, count() AS n FROM events GROUP BY message_id ORDER BY message_id")).toEqual(
          ["r1", "r2", "r3"].map((message_id) => ({ message_id, n: "1" })))
      }))))

  it("an old messageId, long out of the sink's window of recent ids, lands once", () =>
    withPipeline(dir, Effect.gen(function* () {
      const sink = yield* makeEventSinkWith(2)
      for (const id of ["old", "b", "c", "d"]) yield* sink.landEvents([event(id)])
      expect(yield* sink.landEvents([event("old"), event("e"), event("old", "globex")])).toEqual({ landed: 2, duplicates: 1 })
      expect(yield* query("SELECT tenant, count() AS n FROM events WHERE message_id = 'old' GROUP BY tenant ORDER BY tenant")).toEqual([
        { tenant: "acme", n: "1" }, { tenant: "globex", n: "1" },
      ])
    })))

  it("event rows carry a data-skipping index on message_id for the sink's lookups", () =>
    withPipeline(dir, Effect.gen(function* () {
      expect(yield* query("SELECT name, type, expr FROM system.data_skipping_indices WHERE table = 'event_rows'")).toEqual([
        { name: "message_id_bloom", type: "bloom_filter", expr: "message_id" },
      ])
    })))
})
