import { createHash } from "node:crypto"
import { gunzipSync } from "node:zlib"
import { join } from "node:path"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type ArchiveManifest, keySegment, makeArchiveWriter } from "../../ingest/archive.ts"
import type { ArchiveRecord, CanonicalEvent, DeadLetter } from "../../ingest/message.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { processSegmentRequest } from "../../ingest/segment-api.ts"
import type { ImportedItem } from "../../ingest/sources/index.ts"
import { parseSendgridWebhook } from "../../ingest/sources/sendgrid.ts"
import { parseSocialWebhook } from "../../ingest/sources/social.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

// These tests place items on fixed days of January 2025, older than the archive's default retention (13 months), and
// restart the pipeline over the same data dir, which would expire those days: they test archiving and replay, not
// retention (test/consent/erasure-retention.test.ts does), so the archive is kept here until erased.
process.env["CDP_RETENTION"] = "archive=forever"

const DAY1 = Date.parse("2025-01-15T23:59:59.000Z")
const DAY2 = Date.parse("2025-01-16T08:00:00.000Z")

const post = (id: string, text = "Love it") =>
  JSON.stringify({ id, network: "reddit", author_handle: "hiker", text, created_at: "2024-10-01T10:00:00Z" })
const sendgridEvent = (id: string) =>
  ({ email: "ann@example.com", timestamp: 1727776800, event: "open", sg_event_id: id, sg_message_id: "sg-1" })

const eventsOf = (items: ReadonlyArray<ImportedItem>): Array<CanonicalEvent> => items.flatMap((i) => (i._tag === "event" ? [i.event] : []))
const deadLettersOf = (items: ReadonlyArray<ImportedItem>): Array<DeadLetter> => items.flatMap((i) => (i._tag === "deadLetter" ? [i.deadLetter] : []))

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

const readDay = (prefix: string) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const manifest = JSON.parse(text((yield* store.get(`${prefix}manifest.json`))!)) as ArchiveManifest
    const batches = []
    for (const entry of manifest.batches) {
      const bytes = (yield* store.get(entry.key))!
      batches.push({ entry, bytes, lines: gunzipSync(bytes).toString("utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>) })
    }
    return { manifest, batches }
  })

describe("raw archive", () => {
  it("writes each accepted item's raw text as gzip NDJSON batches per tenant, source and day, listed in the day's manifest", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const store = yield* ObjectStore
      const social = parseSocialWebhook([post("p1"), post("p2"), "{not json"].join("\n"), { tenant: "acme", receivedAtMs: DAY1 })
      const sendgrid = parseSendgridWebhook(JSON.stringify([sendgridEvent("sg-a"), sendgridEvent("sg-b")]), { tenant: "globex", receivedAtMs: DAY2 })
      yield* pipeline.submit([...eventsOf(social), ...eventsOf(sendgrid)], deadLettersOf(social))

      const keys = yield* store.list("archive/")
      expect(keys.filter((k) => k.endsWith("manifest.json"))).toEqual([
        "archive/acme/social/2025-01-15/manifest.json",
        "archive/globex/sendgrid/2025-01-16/manifest.json",
      ])
      expect(keys.filter((k) => k.endsWith(".ndjson.gz"))).toHaveLength(2)

      const acme = yield* readDay("archive/acme/social/2025-01-15/")
      expect(acme.manifest).toMatchObject({ version: 1, tenant: "acme", source: "social", date: "2025-01-15" })
      const [batch] = acme.batches
      expect(batch!.entry).toEqual({
        key: expect.stringMatching(/^archive\/acme\/social\/2025-01-15\/20250115T235959\.000Z-[0-9a-f]{12}\.ndjson\.gz$/),
        count: 2,
        firstReceivedAt: "2025-01-15T23:59:59.000Z",
        lastReceivedAt: "2025-01-15T23:59:59.000Z",
        sha256: createHash("sha256").update(batch!.bytes).digest("hex"),
        bytes: batch!.bytes.length,
      })
      // The line that was not JSON is a dead letter, not an accepted item: it is not archived.
      expect(batch!.lines).toEqual([
        { tenant: "acme", source: "social", messageId: "reddit:p1", receivedAt: "2025-01-15T23:59:59.000Z", body: post("p1") },
        { tenant: "acme", source: "social", messageId: "reddit:p2", receivedAt: "2025-01-15T23:59:59.000Z", body: post("p2") },
      ])
      const globex = yield* readDay("archive/globex/sendgrid/2025-01-16/")
      expect(globex.batches[0]!.lines.map((l) => [l["messageId"], JSON.parse(l["body"] as string)])).toEqual([
        ["sg-a", sendgridEvent("sg-a")], ["sg-b", sendgridEvent("sg-b")],
      ])
      expect(pipeline.counters.archived).toBe(4)
    })))

  it("a later batch of the same day is added to its manifest (complete on close); replayed items (archive: false) are not archived again", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const ctx = { tenant: "acme", receivedAtMs: DAY1 }
      yield* pipeline.submit(eventsOf(parseSocialWebhook(post("p1"), ctx)), [])
      yield* pipeline.submit(eventsOf(parseSocialWebhook([post("p2"), post("p3")].join("\n"), ctx)), [])
      yield* pipeline.submit(eventsOf(parseSocialWebhook(post("p4"), ctx)), [], { archive: false })
    })).then(() => withPipeline(dir, Effect.gen(function* () {
      const day = yield* readDay("archive/acme/social/2025-01-15/")
      expect(day.manifest.batches.map((b) => b.count)).toEqual([1, 2])
      expect(day.batches.flatMap((b) => b.lines.map((l) => l["messageId"]))).toEqual(["reddit:p1", "reddit:p2", "reddit:p3"])
      expect((yield* (yield* ObjectStore).list("archive/")).filter((k) => k.endsWith(".ndjson.gz"))).toHaveLength(2)
    }))))

  it("while running, a busy day's manifest is rewritten at most every second, not after every batch", () =>
    // The writer alone, on a test clock: through the pipeline on a loaded machine, two batches a few ms apart in
    // code could land more than a second apart in wall time, and the manifest was then rightly rewritten.
    Effect.gen(function* () {
      const writer = yield* makeArchiveWriter
      const store = yield* ObjectStore
      const listed = Effect.map(store.get("archive/acme/social/2025-01-15/manifest.json"), (b) =>
        b === undefined ? 0 : (JSON.parse(Buffer.from(b).toString("utf8")) as { batches: Array<unknown> }).batches.length)
      const record = (id: string): ArchiveRecord => ({ tenant: "acme", source: "social", messageId: id, receivedAt: "2025-01-15T10:00:00.000Z", body: "{}" })
      yield* TestClock.adjust("1 hour")
      yield* writer.write([record("q1")])
      expect(yield* listed).toBe(1)
      yield* TestClock.adjust("999 millis")
      yield* writer.write([record("q2")])
      expect(yield* listed).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* writer.write([record("q3")])
      expect(yield* listed).toBe(3)
      yield* writer.write([record("q4")])
      expect(yield* listed).toBe(3)
      yield* writer.flush
      expect(yield* listed).toBe(4)
    }).pipe(Effect.provide(ObjectStore.local(join(dir, "objects"))), Effect.provide(TestClock.layer()), Effect.runPromise))

  it("keeps the receive-time facts a raw item needs (Segment batch fields) as the record's meta", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const body = JSON.stringify({ batch: [{ type: "track", event: "E", anonymousId: "a", messageId: "m1", timestamp: "2025-01-15T10:00:00Z" }], sentAt: "2025-01-15T10:00:01Z" })
      const result = processSegmentRequest({ route: "batch", body, tenant: "acme", receivedAtMs: DAY1 })
      yield* pipeline.submit(result.events, result.deadLetters)
      const day = yield* readDay("archive/acme/segment/2025-01-15/")
      expect(day.batches[0]!.lines).toEqual([{
        tenant: "acme", source: "segment", messageId: "m1", receivedAt: "2025-01-15T23:59:59.000Z",
        // A JSON body is embedded as JSON rather than escaped into a string.
        json: { type: "track", event: "E", anonymousId: "a", messageId: "m1", timestamp: "2025-01-15T10:00:00Z" },
        meta: { correctClockSkew: true, batchSentAt: "2025-01-15T10:00:01Z" },
      }])
    })))

  it("names of tenants and sources become safe, distinct key segments", () => {
    expect(keySegment("acme")).toBe("acme")
    expect(keySegment("a/b c")).toBe("a=2Fb=20c")
    expect(keySegment("a=2F")).toBe("a=3D2F")
    expect(keySegment("..")).toBe("=2E.")
    expect(keySegment("zoë")).toBe("zo=C3=AB")
    expect(keySegment("")).toBe("=")
  })
})
