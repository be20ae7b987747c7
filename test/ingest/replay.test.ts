import { cpSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { ArchiveManifest } from "../../ingest/archive.ts"
import { importFile } from "../../ingest/import.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { parseReplayRange, replayArchive } from "../../ingest/replay.ts"
import { parseSocialWebhook } from "../../ingest/sources/social.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDirsPerTest, query, withPipeline } from "../support/pipeline.ts"
import { SIGNALS_DEV } from "../support/shared.ts"

// These tests place items on fixed days of January 2025, older than the archive's default retention (13 months), and
// restart the pipeline over the same data dir, which would expire those days: they test archiving and replay, not
// retention (test/consent/erasure-retention.test.ts does), so the archive is kept here until erased.
process.env["CDP_RETENTION"] = "archive=forever"

const dirs = freshDirsPerTest("a", "b")

const DEV_FILES: ReadonlyArray<readonly [string, string]> = [
  ["segment", "web.ndjson"], ["segment", "invalid.ndjson"], ["sendgrid", "email-events.json"], ["email", "email-inbound"],
  ["chat", "chat.ndjson"], ["twitter", "tweets.json"], ["calls", "calls.csv"],
]

/**
 * Everything the warehouse holds about landed messages, except when each row was written. texts and sentiment keep
 * the profile a message had when it landed (events shows the current one), which depends on what had landed before it.
 */
const snapshot = Effect.gen(function* () {
  return {
    events: yield* query("SELECT * EXCEPT (ingested_at) FROM events ORDER BY tenant, message_id"),
    texts: yield* query("SELECT * EXCEPT (profile_id) FROM texts ORDER BY tenant, message_id"),
    sentiment: yield* query("SELECT * EXCEPT (scored_at, profile_id) FROM sentiment ORDER BY tenant, message_id"),
  }
})

const count = (table: string) => Effect.map(query<{ n: string }>(`SELECT count() AS n FROM ${table}`), (r) => Number(r[0]!.n))

/** The objects directory of a data dir (the local ObjectStore Layer the pipeline runs on). */
const objects = (dataDir: string) => join(dataDir, "objects")

const DAY = 86_400_000
const around = (ms: number) => ({ from: new Date(ms - DAY), to: new Date(ms + DAY) })

const post = (id: string, text = "Love it") =>
  JSON.stringify({ id, network: "reddit", author_handle: "hiker", text, created_at: "2024-10-01T10:00:00Z" })
const socialEvents = (lines: ReadonlyArray<string>, receivedAtMs: number, tenant = "acme"): Array<CanonicalEvent> =>
  parseSocialWebhook(lines.join("\n"), { tenant, receivedAtMs }).flatMap((i) => (i._tag === "event" ? [i.event] : []))

describe("archive replay", () => {
  it("lands the whole dev set from its archive alone into a fresh warehouse, and over landed history lands nothing", async () => {
    const started = Date.now()
    const original = await withPipeline(dirs.a, Effect.gen(function* () {
      let accepted = 0
      for (const [source, file] of DEV_FILES) accepted += (yield* importFile(source, join(SIGNALS_DEV, file), { tenant: "acme" })).accepted
      const store = yield* ObjectStore
      const keys = yield* store.list("archive/")
      const before = yield* snapshot

      // Replaying landed history: every item is read and accepted again, none lands, nothing changes.
      const again = yield* replayArchive(around(started))
      expect(again).toMatchObject({ records: accepted, accepted, rejected: 0, landed: 0, duplicates: accepted, corruptBatches: [], skipped: 0 })
      expect(yield* snapshot).toEqual(before)
      // Replayed items are not archived a second time.
      expect(yield* store.list("archive/")).toEqual(keys)
      return { accepted, before }
    }))
    expect(original.before.events.length).toBe(original.accepted)
    expect(new Set(original.before.events.map((e) => e["source"]))).toEqual(new Set(["segment", "sendgrid", "email", "chat", "twitter", "calls"]))

    // A fresh warehouse that has only the archive gets the same events, texts and scores.
    cpSync(objects(dirs.a), objects(dirs.b), { recursive: true })
    await withPipeline(dirs.b, Effect.gen(function* () {
      expect(yield* count("events")).toBe(0)
      const summary = yield* replayArchive(around(started))
      expect(summary).toMatchObject({ records: original.accepted, landed: original.accepted, duplicates: 0, rejected: 0, corruptBatches: [] })
      expect(yield* snapshot).toEqual(original.before)
    }))
  }, 180_000)

  it("replays only what was received in the range, of the source and tenant asked for", async () => {
    const day1 = Date.parse("2025-01-15T10:00:00.000Z")
    const day2 = Date.parse("2025-01-16T10:00:00.000Z")
    await withPipeline(dirs.a, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit([...socialEvents([post("d1a"), post("d1b")], day1), ...socialEvents([post("g1")], day1, "globex")], [])
      yield* pipeline.submit(socialEvents([post("d2a")], day2), [])
    }))
    cpSync(objects(dirs.a), objects(dirs.b), { recursive: true })
    await withPipeline(dirs.b, Effect.gen(function* () {
      const range = yield* parseReplayRange("2025-01-15", "2025-01-15")
      expect(yield* replayArchive({ ...range, source: "chat" })).toMatchObject({ batches: 0, records: 0, landed: 0 })
      expect(yield* replayArchive({ ...range, tenant: "acme", source: "social" })).toMatchObject({ records: 2, landed: 2 })
      expect(yield* query("SELECT tenant, message_id FROM events ORDER BY message_id")).toEqual([
        { tenant: "acme", message_id: "reddit:d1a" }, { tenant: "acme", message_id: "reddit:d1b" },
      ])
      // The end of a date-time range is exclusive.
      expect(yield* replayArchive({ from: new Date(day1), to: new Date(day2) })).toMatchObject({ records: 3, landed: 1, duplicates: 2 })
      expect(yield* replayArchive({ from: new Date(day1), to: new Date(day2 + 1) })).toMatchObject({ records: 4, landed: 1, duplicates: 3 })
      expect(yield* count("events")).toBe(4)
    }))
  })

  it("reports a corrupt batch and replays the others; a batch the manifest does not list is still replayed", async () => {
    const at = Date.parse("2025-01-15T10:00:00.000Z")
    const prefix = "archive/acme/social/2025-01-15/"
    await withPipeline(dirs.a, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit(socialEvents([post("a1"), post("a2")], at), [])
      yield* pipeline.submit(socialEvents([post("b1")], at), [])
      yield* pipeline.submit(socialEvents([post("c1")], at), [])
    }))
    // The manifest is complete once the pipeline has closed.
    const manifest = JSON.parse(readFileSync(join(objects(dirs.a), `${prefix}manifest.json`), "utf8")) as ArchiveManifest
    const [first, second] = manifest.batches
    // One batch loses a byte to a bad disk; another was written just before a crash kept it out of the manifest.
    const firstPath = join(objects(dirs.a), first!.key)
    const bytes = readFileSync(firstPath)
    bytes[bytes.length - 5]! ^= 0xff
    writeFileSync(firstPath, bytes)
    writeFileSync(join(objects(dirs.a), `${prefix}manifest.json`), JSON.stringify({ ...manifest, batches: [first, second] }))
    cpSync(objects(dirs.a), objects(dirs.b), { recursive: true })
    await withPipeline(dirs.b, Effect.gen(function* () {
      const summary = yield* replayArchive(around(at))
      expect(summary).toMatchObject({ batches: 3, unlistedBatches: 1, records: 2, landed: 2 })
      expect(summary.corruptBatches).toEqual([{ key: first!.key, reason: expect.stringMatching(/^checksum mismatch/) }])
      expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([{ message_id: "reddit:b1" }, { message_id: "reddit:c1" }])
    }))
  })

  it("replaying any range of an archive over what landed changes nothing, however items repeat and spread (property)", () =>
    withPipeline(dirs.a, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const run = Effect.runPromiseWith(yield* Effect.context<Pipeline | ObjectStore | Warehouse>())
      const eventsOf = (tenant: string) => query<{ n: string }>("SELECT count() AS n FROM events WHERE tenant = {tenant:String}", { tenant })
      const base = Date.parse("2025-03-01T12:00:00.000Z")
      let round = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(fc.array(fc.record({ id: fc.integer({ min: 0, max: 12 }), day: fc.integer({ min: 0, max: 3 }) }), { maxLength: 8 }), { minLength: 1, maxLength: 4 }),
            fc.integer({ min: 0, max: 3 }),
            fc.integer({ min: 1, max: 4 }),
            async (batches, firstDay, days) => {
              round++
              const tenant = `t${round}`
              for (const batch of batches) {
                await run(pipeline.submit(batch.flatMap((i) => socialEvents([post(`p${i.id}`)], base + i.day * DAY, tenant)), []))
              }
              const landed = await run(eventsOf(tenant))
              const inRange = batches.flat().filter((i) => i.day >= firstDay && i.day < firstDay + days).length
              const summary = await run(replayArchive({ from: new Date(base + firstDay * DAY - 1000), to: new Date(base + (firstDay + days) * DAY - 1000), tenant }))
              expect(summary).toMatchObject({ records: inRange, accepted: inRange, landed: 0, duplicates: inRange, corruptBatches: [] })
              const after = await run(eventsOf(tenant))
              expect(after).toEqual(landed)
              expect(Number(after[0]!.n)).toBe(new Set(batches.flat().map((i) => i.id)).size)
            },
          ),
          { numRuns: 15 },
        ))
    })))

  it("parses --from and --to: a date-only --to includes its whole day; a backwards range is refused", async () => {
    const range = await Effect.runPromise(parseReplayRange("2025-01-01", "2025-01-31"))
    expect([range.from.toISOString(), range.to.toISOString()]).toEqual(["2025-01-01T00:00:00.000Z", "2025-02-01T00:00:00.000Z"])
    const exact = await Effect.runPromise(parseReplayRange("2025-01-01T06:00:00Z", "2025-01-01T07:00:00Z"))
    expect(exact.to.toISOString()).toBe("2025-01-01T07:00:00.000Z")
    const bad = await Effect.runPromise(Effect.flip(parseReplayRange("2025-02-01", "2025-01-01")))
    expect(bad.message).toMatch(/--to .* must be after --from/)
    expect((await Effect.runPromise(Effect.flip(parseReplayRange("yesterday", "2025-01-01")))).message).toMatch(/--from must be a date/)
  })
})
