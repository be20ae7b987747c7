// Records larger than a Kafka topic takes (max.message.bytes, 8 MiB on the bus's topics) on the real broker
// (eval "$(deploy/services/up)"; CDP_INTEGRATION=1). A whole file of up to 64 MB can be one item (a SendGrid or X JSON
// import, a mail), and its dead letter keeps its bytes (base64 when they are not UTF-8: 4/3 of the file). Before, such
// a dead letter, or such an event, failed the publish: `cdp ingest` stopped at it, every run again, and a dead letter
// a stage made of an event too large for one record failed the consumer's batch, retried for ever while every record
// behind it on the partition (another tenant's) waited. Now a dead letter too large for a record of the bus goes
// straight to the warehouse's dead_letters, its bytes whole; an event past that size is published alone (the broker
// takes it if it fits compressed) and kept as a dead letter too_large if refused; nothing waits behind either.
import { randomBytes, randomUUID } from "node:crypto"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer, Logger, References } from "effect"
import kafkajs from "kafkajs"
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest"
import { makeKeys } from "../../consent/keys.ts"
import { defaultIdentityConfig } from "../../identity/index.ts"
import { encryptedKafkaBus } from "../../ingest/bus-crypto.ts"
import { type KafkaBusOptions, kafkaBus } from "../../ingest/bus-kafka.ts"
import { EventBus, Topics } from "../../ingest/bus.ts"
import { Collector } from "../../ingest/collector.ts"
import { retryDeadLetters } from "../../ingest/dlq.ts"
import { replayArchive, replayIncomplete } from "../../ingest/replay.ts"
import { importFile } from "../../ingest/import.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { splitItems, WEBHOOK_SOURCES } from "../../ingest/sources/index.ts"
import { ok, perMessage, redirect, type Stage } from "../../ingest/stage.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { kafkaBrokers, viewedEvent } from "../support/kafka.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, removeDir, TEST_KEYS, WRITE_KEY } from "../support/pipeline.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"

interface StoredLetter { readonly tenant: string; readonly rule: string; readonly reason: string; readonly payload: string; readonly payload_encoding: string }

const optionsFor = (o: Partial<KafkaBusOptions> = {}): KafkaBusOptions => ({
  brokers: kafkaBrokers(), prefix: `t${randomUUID().slice(0, 8)}.`, partitions: 1, replication: 1, retentionMs: 3_600_000, ...o,
})

/** A page view of globex's user g1 (another tenant, on the same single partition when partitioned by tenant). */
const globexEvent = (messageId: string): CanonicalEvent => ({ ...viewedEvent(messageId), tenant: "globex", userId: "g1" })

describe.runIf(enabled)("records larger than a Kafka topic takes", () => {
  const prefixes: Array<string> = []
  let dir: string
  beforeEach(() => { dir = freshDir() })
  afterEach(() => removeDir(dir))
  afterAll(async () => {
    const admin = await connectedAdmin()
    const topics = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)))
    if (topics.length > 0) await admin.deleteTopics({ topics })
    await admin.disconnect()
  })

  /** An admin client of the broker, connected (the case disconnects it). */
  const connectedAdmin = async () => {
    const admin = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING }).admin()
    await admin.connect()
    return admin
  }
  /** Makes `topics` as an operator would before cdp starts, each holding records of at most `maxMessageBytes`. */
  const makeTopics = (admin: kafkajs.Admin, topics: ReadonlyArray<string>, maxMessageBytes: number) =>
    admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({
        topic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: "max.message.bytes", value: String(maxMessageBytes) }],
      })),
    })

  /** The pipeline over Kafka (plain or encrypted) with an embedded warehouse and local objects in `dir`. */
  const pipelineOn = (o: KafkaBusOptions, encrypted: boolean, identity = false, stages: ReadonlyArray<Stage<CanonicalEvent>> = []) => {
    prefixes.push(o.prefix)
    const storage = Layer.mergeAll(Warehouse.embedded(join(dir, "clickhouse")), ObjectStore.local(join(dir, "objects")))
    const bus = encrypted ? encryptedKafkaBus(o, makeKeys(new Uint8Array(32).fill(7))) : kafkaBus(o)
    return Pipeline.make({ identity: identity ? defaultIdentityConfig() : false, stages }).pipe(Layer.provideMerge(bus), Layer.provideMerge(storage))
  }

  /** Polls the warehouse until `done` holds of what `sql` reads, at most `ms`. */
  const readUntil = <T>(sql: string, done: (rows: ReadonlyArray<T>) => boolean, ms = 60_000) =>
    Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const end = Date.now() + ms
      let rows = yield* warehouse.query<T>(sql)
      while (!done(rows) && Date.now() < end) {
        yield* Effect.sleep("200 millis")
        rows = yield* warehouse.query<T>(sql)
      }
      return rows
    })

  for (const encrypted of [false, true]) {
    it(`a 12 MB SendGrid file that is not UTF-8 imported on the ${encrypted ? "encrypted" : "plain"} Kafka bus is one dead letter holding its bytes; globex's event after it lands`, async () => {
      // Random bytes inside a JSON string: not UTF-8, and base64 of them (16 MB) compresses to about 12 MB, past 8 MiB.
      const file = join(dir, "events.json")
      const bytes = Buffer.concat([Buffer.from('[{"email":"ann@x.example","event":"open","note":"'), randomBytes(12 * 1024 * 1024), Buffer.from('"}]')])
      writeFileSync(file, bytes)
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const pipeline = yield* Pipeline
        const summary = yield* importFile("sendgrid", file, { tenant: "acme" }).pipe(Effect.result)
        yield* pipeline.submit([globexEvent("g-after")], [])
        const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows WHERE tenant = 'globex'", (r) => r.length > 0)
        const letters = yield* readUntil<StoredLetter>("SELECT tenant, rule, reason, payload, payload_encoding FROM dead_letters", (r) => r.length > 0, 10_000)
        return { summary, landed, letters }
      }).pipe(Effect.provide(pipelineOn(optionsFor(), encrypted)))))
      expect(result.summary._tag).toBe("Success")
      expect(result.summary._tag === "Success" ? result.summary.success : undefined).toMatchObject({ accepted: 0, rejected: 1 })
      expect(result.landed.map((r) => r.message_id)).toEqual(["g-after"])
      expect(result.letters.map((l) => [l.tenant, l.rule, l.payload_encoding])).toEqual([["acme", "invalid_utf8", "base64"]])
      expect(Buffer.from(result.letters[0]!.payload, "base64").equals(bytes)).toBe(true)
    }, 180_000)
  }

  it("an event whose dead letter is larger than the topic takes neither stops its partition nor is lost: globex's event behind it lands", async () => {
    // Uncompressed, so the sizes are the bytes on the wire: acme's event (a text of random letters, no usable time,
    // which identity refuses) fits in a record, and its dead letter (the event and why) does not.
    const o = optionsFor({ compression: "none", partitionBy: "tenant" })
    const base = { ...viewedEvent("a-big"), timestamp: "not a time" }
    const room = 8 * 1024 * 1024 - Buffer.byteLength(JSON.stringify({ ...base, text: "" })) - 300
    const big: CanonicalEvent = { ...base, text: randomBytes(room).toString("base64").slice(0, room) }
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const submitted = yield* pipeline.submit([big], []).pipe(Effect.result)
      yield* pipeline.submit([globexEvent("g-after")], [])
      const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows WHERE tenant = 'globex'", (r) => r.length > 0)
      const letters = yield* readUntil<StoredLetter>("SELECT tenant, rule, reason, payload, payload_encoding FROM dead_letters", (r) => r.length > 0, 10_000)
      return { submitted: submitted._tag, landed, letters }
    }).pipe(Effect.provide(pipelineOn(o, false, true)))))
    expect(result.submitted).toBe("Success")
    expect(result.landed.map((r) => r.message_id)).toEqual(["g-after"])
    // Refused by identity (no usable time), kept with the message whole: its text is in the payload.
    expect(result.letters.map((l) => [l.tenant, l.rule])).toEqual([["acme", "bad_timestamp"]])
    expect(result.letters[0]!.payload).toContain(big.text)
  }, 180_000)

  it("an event the broker refuses even compressed is kept as a dead letter too_large holding it; globex's event after it lands", async () => {
    // 12 MB of base64 of random bytes: zstd leaves about 9 MB, past the topic's 8 MiB.
    const big: CanonicalEvent = { ...viewedEvent("a-huge"), text: randomBytes(9 * 1024 * 1024).toString("base64") }
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit([big], [])
      yield* pipeline.submit([globexEvent("g-after")], [])
      const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows", (r) => r.length > 0)
      const letters = yield* readUntil<StoredLetter>("SELECT tenant, rule, reason, payload, payload_encoding FROM dead_letters", (r) => r.length > 0, 10_000)
      return { landed, letters, counters: { ...pipeline.counters } }
    }).pipe(Effect.provide(pipelineOn(optionsFor(), false)))))
    expect(result.landed.map((r) => r.message_id)).toEqual(["g-after"])
    expect(result.letters.map((l) => [l.tenant, l.rule])).toEqual([["acme", "too_large"]])
    expect(result.letters[0]!.reason).toMatch(/^the message is larger than a record of the kafka bus takes, compressed \(its JSON is \d+ bytes\)/)
    expect(result.letters[0]!.payload).toContain(big.text)
    expect(result.counters).toMatchObject({ accepted: 2, deadLettered: 1 })
  }, 180_000)

  it("an event past 8 MiB of JSON that the broker takes compressed (a mail's long text) still lands", async () => {
    const o = optionsFor()
    const text = "Hello, the parcel arrived late and the box was damaged. ".repeat(220_000)
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit([{ ...viewedEvent("a-long"), text, raw: { body: text } }], [])
      const landed = yield* readUntil<{ message_id: string; chars: string }>("SELECT message_id, length(text) AS chars FROM texts WHERE tenant = 'acme'", (r) => r.length > 0)
      const letters = yield* readUntil<StoredLetter>("SELECT tenant, rule, reason, payload, payload_encoding FROM dead_letters", () => true, 0)
      return { landed, letters }
    }).pipe(Effect.provide(pipelineOn(o, false)))))
    expect(Buffer.byteLength(text)).toBeGreaterThan(8 * 1024 * 1024)
    expect(result.landed).toEqual([{ message_id: "a-long", chars: String(text.length) }])
    expect(result.letters).toEqual([])
  }, 180_000)

  it("a stage's dead letter of an event that fits in a record, itself too large for one, is landed without going on the topic", async () => {
    const o = optionsFor({ compression: "none", partitionBy: "tenant" })
    const admin = await connectedAdmin()
    try {
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const pipeline = yield* Pipeline
        const max = (yield* EventBus).maxRecordBytes!(Topics.events.name)
        // The event takes 200 bytes less than a record holds; its dead letter (the event's text and why) more.
        const base = { ...viewedEvent("a-near"), timestamp: "not a time" }
        const room = max - Buffer.byteLength(JSON.stringify({ ...base, text: "" })) - 200
        const near: CanonicalEvent = { ...base, text: "x".repeat(room) }
        yield* pipeline.submit([near], [])
        yield* pipeline.submit([globexEvent("g-after")], [])
        const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows WHERE tenant = 'globex'", (r) => r.length > 0)
        const letters = yield* readUntil<StoredLetter>("SELECT tenant, rule, reason, payload, payload_encoding FROM dead_letters", (r) => r.length > 0, 10_000)
        return { landed, letters, near }
      }).pipe(Effect.provide(pipelineOn(o, false, true)))))
      expect(result.landed.map((r) => r.message_id)).toEqual(["g-after"])
      expect(result.letters.map((l) => [l.tenant, l.rule])).toEqual([["acme", "bad_timestamp"]])
      expect(result.letters[0]!.payload).toContain(result.near.text)
      // Not on the dead_letters topic (the broker would refuse one past 8 MiB); landed by the stage that made it.
      const offsets = await admin.fetchTopicOffsets(`${o.prefix}dead_letters`)
      expect(offsets.map((p) => p.high)).toEqual(["0"])
    } finally {
      await admin.disconnect()
    }
  }, 180_000)

  it("a message a stage hands on to another topic, too large for a record there, neither stops its partition nor is lost: globex's event behind it lands", async () => {
    // Uncompressed, so the sizes are the bytes on the wire: acme's event of 5 MB fits in a record of the events topic;
    // the stage hands it on to `review` with its text twice (a translation beside it, say): 10 MB, which does not.
    const o = optionsFor({ compression: "none", partitionBy: "tenant" })
    const review: Stage<CanonicalEvent> = perMessage((e) => e.messageId.startsWith("r-") ? redirect("review", { ...e, text: `${e.text} ${e.text}` }) : ok(e))
    const admin = await connectedAdmin()
    try {
      const big: CanonicalEvent = { ...viewedEvent("r-big"), text: randomBytes(3_750_000).toString("base64") }
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const pipeline = yield* Pipeline
        yield* pipeline.submit([big], [])
        yield* pipeline.submit([{ ...viewedEvent("r-small"), text: "fine" }], [])
        yield* pipeline.submit([globexEvent("g-after")], [])
        const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows WHERE tenant = 'globex'", (r) => r.length > 0)
        const letters = yield* readUntil<StoredLetter>("SELECT tenant, rule, reason, payload, payload_encoding FROM dead_letters", (r) => r.length > 0, 10_000)
        return { landed, letters, counters: { ...pipeline.counters } }
      }).pipe(Effect.provide(pipelineOn(o, false, false, [review])))))
      expect(result.landed.map((r) => r.message_id)).toEqual(["g-after"])
      expect(result.letters.map((l) => [l.tenant, l.rule])).toEqual([["acme", "too_large"]])
      expect(result.letters[0]!.reason).toMatch(/^the message is larger than a record of the kafka bus takes, compressed \(its JSON is \d+ bytes\).*a stage handed it on to topic review/)
      expect(result.letters[0]!.payload).toContain(`${big.text} ${big.text}`)
      expect(result.counters).toMatchObject({ redirected: 1, deadLettered: 1 })
      // The small one went on to `review`; the large one is only the dead letter.
      const offsets = await admin.fetchTopicOffsets(`${o.prefix}review`)
      expect(offsets.map((p) => p.high)).toEqual(["1"])
    } finally {
      await admin.disconnect()
    }
  }, 180_000)

  it("on topics an operator made with a smaller max.message.bytes (Kafka's default 1 MiB), a stage's dead letter or redirect the broker refuses blocks nothing and is kept", async () => {
    // cdp makes its topics with 8 MiB, and leaves one that exists as it is: here dead_letters and review take 1 MiB.
    const o = optionsFor({ compression: "none", partitionBy: "tenant" })
    const admin = await connectedAdmin()
    try {
      await makeTopics(admin, [`${o.prefix}dead_letters`, `${o.prefix}review`], 1024 * 1024)
      const review: Stage<CanonicalEvent> = perMessage((e) => e.messageId.startsWith("r-") ? redirect("review", e) : ok(e))
      // 2 MB each: acme's event without a usable time (identity refuses it: its dead letter 2 MB), and one handed on.
      const text = () => randomBytes(1_500_000).toString("base64")
      const refused: CanonicalEvent = { ...viewedEvent("a-late"), timestamp: "not a time", text: text() }
      const handedOn: CanonicalEvent = { ...viewedEvent("r-mid"), text: text() }
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const pipeline = yield* Pipeline
        yield* pipeline.submit([refused], [])
        yield* pipeline.submit([handedOn], [])
        yield* pipeline.submit([viewedEvent("a-after")], [])
        yield* pipeline.submit([globexEvent("g-after")], [])
        const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows ORDER BY message_id", (r) => r.length >= 2)
        const letters = yield* readUntil<StoredLetter & { message_id: string }>(
          "SELECT tenant, rule, reason, payload, payload_encoding, message_id FROM dead_letters ORDER BY message_id", (r) => r.length >= 2, 10_000)
        const failing = Object.entries(yield* (yield* EventBus).backlog).filter(([, b]) => b.failing !== undefined).map(([name]) => name)
        return { landed, letters, failing }
      }).pipe(Effect.provide(pipelineOn(o, false, true, [review])))))
      // No consumer is left retrying a batch the broker refuses (before, the events consumer's was, every ~10 s for ever).
      expect(result.failing).toEqual([])
      // acme's event behind the two on the partition lands too: neither is retried for ever in front of it.
      expect(result.landed.map((r) => r.message_id)).toEqual(["a-after", "g-after"])
      expect(result.letters.map((l) => [l.message_id, l.rule])).toEqual([["a-late", "bad_timestamp"], ["r-mid", "too_large"]])
      expect(result.letters[0]!.payload).toContain(refused.text)
      expect(result.letters[1]!.reason).toMatch(/a stage handed it on to topic review/)
      expect(result.letters[1]!.payload).toContain(handedOn.text)
    } finally {
      await admin.disconnect()
    }
  }, 180_000)

  it("on events and raw topics an operator made with a smaller max.message.bytes, the edge's submit keeps the event the broker refuses as a dead letter too_large and hands on the others", async () => {
    const o = optionsFor({ compression: "none" })
    const admin = await connectedAdmin()
    try {
      await makeTopics(admin, [`${o.prefix}events`, `${o.prefix}raw`], 1024 * 1024)
      const text = randomBytes(1_500_000).toString("base64")
      const big: CanonicalEvent = { ...viewedEvent("a-2mb"), text, raw: { body: text } }
      const small: CanonicalEvent = { ...viewedEvent("a-small"), text: "fine", raw: { body: "fine" } }
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const pipeline = yield* Pipeline
        const submitted = yield* pipeline.submit([big, small], []).pipe(Effect.result)
        const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows", (r) => r.length > 0)
        const letters = yield* readUntil<StoredLetter & { message_id: string }>(
          "SELECT tenant, rule, reason, payload, payload_encoding, message_id FROM dead_letters", (r) => r.length > 0, 10_000)
        return { submitted, landed, letters, counters: { ...pipeline.counters } }
      }).pipe(Effect.provide(pipelineOn(o, false)))))
      expect(result.submitted._tag).toBe("Success")
      const kept = result.submitted._tag === "Success" ? result.submitted.success.keptTooLarge : []
      expect(kept.map((k) => [k.event.messageId, k.deadLetter.rejection.rule])).toEqual([["a-2mb", "too_large"]])
      expect(result.landed.map((r) => r.message_id)).toEqual(["a-small"])
      expect(result.letters.map((l) => [l.message_id, l.rule, l.payload === text])).toEqual([["a-2mb", "too_large", true]])
      // The small one's raw text is archived; the large one's is not on the bus (its dead letter keeps it).
      expect(result.counters).toMatchObject({ accepted: 2, deadLettered: 1, archived: 1 })
    } finally {
      await admin.disconnect()
    }
  }, 180_000)

  /**
   * A chat transcript; of `lines` > 1 visitor lines of 100,000 characters of base64 of random bytes (80: 8 MB, within a
   * post's 10 MB): its event holds them twice (text, raw text), which zstd leaves at about 12 MB, past the topic's 8 MiB.
   */
  const transcript = (id: string, lines: number, startedAt = "2026-11-01T10:00:00Z") => JSON.stringify({
    conversation_id: id, visitor_id: `v-${id}`, started_at: startedAt,
    messages: Array.from({ length: lines }, (_, i) => ({ from: "visitor", at: "2026-11-01T10:00:01Z", text: lines === 1 ? `hello ${i}` : randomBytes(75_000).toString("base64") })),
  })

  it("a retry of a dead letter too_large the broker refuses again is still_rejected too_large, not kept as a second dead letter", async () => {
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const items = yield* Effect.promise(async () => WEBHOOK_SOURCES.get("chat")!.parse(transcript("c-huge", 80), { tenant: "acme", receivedAtMs: Date.now() }))
      const { events, deadLetters } = splitItems(items)
      yield* pipeline.submit(events, deadLetters)
      const before = yield* readUntil<{ rule: string }>("SELECT rule FROM dead_letters", (r) => r.length > 0, 10_000)
      const retry = yield* retryDeadLetters({})
      const after = yield* readUntil<{ rule: string }>("SELECT rule FROM dead_letters", () => true, 0)
      return { before, retry, after }
    }).pipe(Effect.provide(pipelineOn(optionsFor(), false)))))
    expect(result.before).toEqual([{ rule: "too_large" }])
    expect(result.retry.results.map((r) => [r.outcome, r.rule, r.messageIds])).toEqual([["still_rejected", "too_large", ["c-huge"]]])
    expect(result.retry.results[0]!.reason).toMatch(/^the message is larger than a record of the kafka bus takes/)
    // Its dead letter stays the one it was: a retry records an outcome, it does not keep the message again.
    expect(result.after).toEqual([{ rule: "too_large" }])
  }, 180_000)

  it("a replay (twice) of an archived message the events topic refuses as too large keeps no dead letter of it: it is counted tooLarge, its raw text stays archived", async () => {
    // Archived through the in-process bus (no record limit), replayed over Kafka whose events topic takes 1 MiB.
    const o = optionsFor({ compression: "none" })
    prefixes.push(o.prefix)
    const objects = ObjectStore.local(join(dir, "objects"))
    const memory = Pipeline.make({ identity: false }).pipe(Layer.provideMerge(EventBus.memory),
      Layer.provideMerge(Layer.mergeAll(Warehouse.embedded(join(dir, "archived")), objects)))
    const at = Date.now()
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const items = yield* Effect.promise(async () => WEBHOOK_SOURCES.get("chat")!.parse(transcript("c-archived", 20), { tenant: "acme", receivedAtMs: at }))
      const { events, deadLetters } = splitItems(items)
      yield* pipeline.submit(events, deadLetters)
    }).pipe(Effect.provide(memory))))
    const admin = await connectedAdmin()
    try {
      await makeTopics(admin, [`${o.prefix}events`], 1024 * 1024)
      const range = { from: new Date(at - 60_000), to: new Date(at + 60_000) }
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const first = yield* replayArchive(range)
        const second = yield* replayArchive(range)
        const letters = yield* readUntil<{ rows: string }>("SELECT count() AS rows FROM dead_letters", () => false, 3_000)
        return { first, second, letters }
      }).pipe(Effect.provide(pipelineOn(o, false)))))
      // Not a dead letter per replay (before, each replay kept one more copy of the 4 MB message).
      expect(result.letters).toEqual([{ rows: "0" }])
      for (const s of [result.first, result.second]) {
        expect(s).toMatchObject({ records: 1, accepted: 0, tooLarge: 1, rejected: 0 })
        expect(replayIncomplete(s)?.message).toMatch(/1 archived message too large for the bus's events topic, not replayed \(its raw text stays archived/)
      }
    } finally {
      await admin.disconnect()
    }
  }, 180_000)

  it("a /v1/batch message the broker refuses as too large (an events topic an operator made with 256 KiB) is named too_large by its index, as an invalid message is", async () => {
    const o = optionsFor({ compression: "none" })
    const admin = await connectedAdmin()
    try {
      await makeTopics(admin, [`${o.prefix}events`], 256 * 1024)
      // The batch's context (110,000 characters) goes into each event twice (its context, its raw text's meta): about
      // 220 KB; a message of 30,000 characters more (its properties, its raw text) passes the topic's 256 KiB.
      const context = { page: { title: "x".repeat(110_000) } }
      const message = (id: string, note: string) => ({ type: "track", event: "Viewed", userId: "u1", messageId: id, properties: { note } })
      const layer = Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS) }).pipe(Layer.provideMerge(pipelineOn(o, false)))
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const { url } = yield* Collector
        const post = (body: unknown) => Effect.promise(async () => {
          const res = await fetch(`${url}/v1/batch`, { method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }, body: JSON.stringify(body) })
          return { status: res.status, body: (await res.json()) as Record<string, unknown> }
        })
        const mixed = yield* post({ context, batch: [message("m-small", "hi"), { type: "track" }, message("m-large", "y".repeat(30_000))] })
        const alone = yield* post({ context, batch: [message("m-large-2", "z".repeat(30_000))] })
        const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows", (r) => r.length > 0)
        const letters = yield* readUntil<{ message_id: string; rule: string }>(
          "SELECT message_id, rule FROM dead_letters WHERE rule = 'too_large' ORDER BY message_id", (r) => r.length >= 2, 10_000)
        return { mixed, alone, landed, letters }
      }).pipe(Effect.provide(layer))))
      expect(result.mixed.status).toBe(400)
      expect(result.mixed.body).toMatchObject({ success: false, accepted: 1, error: "2 of 3 messages were rejected; the others were accepted" })
      const rejected = result.mixed.body["rejected"] as Array<Record<string, unknown>>
      // In the batch's order: the invalid message (1), then the one too large (2).
      expect(rejected.map((r) => r["index"])).toEqual([1, 2])
      expect(rejected[1]).toMatchObject({ index: 2, rule: "too_large", field: "", messageId: "m-large" })
      checkResponse("/v1/batch", "post", result.mixed.status, result.mixed.body)
      expect(result.alone.status).toBe(413)
      expect(result.alone.body).toMatchObject({ success: false, accepted: 0, rejected: [{ index: 0, rule: "too_large", messageId: "m-large-2" }] })
      checkResponse("/v1/batch", "post", result.alone.status, result.alone.body)
      expect(result.landed.map((r) => r.message_id)).toEqual(["m-small"])
      expect(result.letters).toEqual([{ message_id: "m-large", rule: "too_large" }, { message_id: "m-large-2", rule: "too_large" }])
    } finally {
      await admin.disconnect()
    }
  }, 180_000)

  it("at start the bus reads each topic's max.message.bytes: one an operator made smaller is warned of once, naming it and both bounds, and bounds that topic's records", async () => {
    const o = optionsFor({ compression: "none" })
    prefixes.push(o.prefix)
    const admin = await connectedAdmin()
    try {
      await makeTopics(admin, [`${o.prefix}events`, `${o.prefix}dead_letters`], 1024 * 1024)
      const logged: Array<string> = []
      const capture = Logger.layer([Logger.make((l) => { logged.push(JSON.stringify([l.logLevel, l.message, l.fiber.getRef(References.CurrentLogAnnotations)])) })])
      const bounds = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const bus = yield* EventBus
        return [Topics.events.name, Topics.deadLetters.name, Topics.raw.name].map((name) => bus.maxRecordBytes?.(name))
      }).pipe(Effect.provide(kafkaBus(o)), Effect.provide(capture))))
      // events and dead_letters hold records within their 1 MiB; raw keeps cdp's bound (8 MiB less 64 KiB).
      expect(bounds[0]).toBeGreaterThan(512 * 1024)
      expect(bounds[0]).toBeLessThan(1024 * 1024)
      expect(bounds[1]).toBe(bounds[0])
      expect(bounds[2]).toBe(8 * 1024 * 1024 - 64 * 1024)
      const warned = logged.filter((l) => l.includes("max.message.bytes"))
      expect(warned).toHaveLength(2)
      for (const [i, topic] of [`${o.prefix}events`, `${o.prefix}dead_letters`].entries()) {
        expect(warned[i]).toContain('"Warn"')
        expect(warned[i]).toContain(`"topic":"${topic}"`)
        expect(warned[i]).toContain('"maxMessageBytes":1048576')
        expect(warned[i]).toContain(`"cdpMaxMessageBytes":${8 * 1024 * 1024}`)
      }
    } finally {
      await admin.disconnect()
    }
  }, 180_000)

  it("zonelessTimes of a webhook or Segment answer counts only the items handled, not one kept as too_large", async () => {
    const o = optionsFor({ compression: "none" })
    const admin = await connectedAdmin()
    try {
      await makeTopics(admin, [`${o.prefix}events`], 256 * 1024)
      // Times without a zone (read as UTC); the second transcript (5 lines of 100,000 characters, twice in its event)
      // and the second message (its context twice, its properties) pass the topic's 256 KiB.
      const chat = [transcript("c-zoneless", 1, "2026-11-01T10:00:00"), transcript("c-zoneless-big", 5, "2026-11-01T10:00:00")].join("\n")
      const context = { page: { title: "x".repeat(110_000) } }
      const message = (id: string, note: string) => ({ type: "track", event: "Viewed", userId: "u1", messageId: id, timestamp: "2026-11-01T10:00:00", properties: { note } })
      const layer = Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS) }).pipe(Layer.provideMerge(pipelineOn(o, false)))
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const { url } = yield* Collector
        const post = (route: string, body: string) => Effect.promise(async () => {
          const res = await fetch(`${url}${route}`, { method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }, body })
          return { status: res.status, body: (await res.json()) as Record<string, unknown> }
        })
        const webhook = yield* post("/v1/webhooks/chat", chat)
        const segment = yield* post("/v1/batch", JSON.stringify({ context, batch: [message("m-zoneless", "hi"), message("m-zoneless-big", "y".repeat(30_000))] }))
        return { webhook, segment }
      }).pipe(Effect.provide(layer))))
      expect(result.webhook.status).toBe(413)
      expect(result.webhook.body).toMatchObject({ accepted: 1, zonelessTimes: { UTC: 1 } })
      expect((result.webhook.body["rejected"] as Array<Record<string, string>>).map((r) => [r["rule"], r["messageId"]])).toEqual([["too_large", "c-zoneless-big"]])
      checkResponse("/v1/webhooks/chat", "post", result.webhook.status, result.webhook.body)
      expect(result.segment.status).toBe(413)
      expect(result.segment.body).toMatchObject({ accepted: 1, zonelessTimes: { UTC: 1 }, rejected: [{ index: 1, rule: "too_large", messageId: "m-zoneless-big" }] })
      checkResponse("/v1/batch", "post", result.segment.status, result.segment.body)
      // cdp ingest's summary, of the same transcripts in a file: the one kept too_large is rejected, and not counted.
      const file = join(dir, "chat.ndjson")
      writeFileSync(file, chat.replaceAll("c-zoneless", "f-zoneless"))
      const imported = await Effect.runPromise(Effect.scoped(importFile("chat", file, { tenant: "acme" }).pipe(Effect.provide(pipelineOn(o, false)))))
      expect(imported).toMatchObject({ accepted: 1, rejected: 1, zonelessTimes: { UTC: 1 } })
    } finally {
      await admin.disconnect()
    }
  }, 180_000)

  it("a record parked on a .parked topic an operator made with a smaller max.message.bytes is parked without its value, not retried for ever", async () => {
    const o = optionsFor({ compression: "none" })
    const kafka = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING })
    const admin = kafka.admin()
    const producer = kafka.producer()
    await admin.connect()
    await producer.connect()
    try {
      await makeTopics(admin, [`${o.prefix}events.parked`], 1024 * 1024)
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const pipeline = yield* Pipeline
        // 2 MB that is not JSON, produced by another producer: the events consumer parks it (a copy on events.parked).
        yield* Effect.promise(() => producer.send({ topic: `${o.prefix}events`, messages: [{ key: "acme/u1", value: randomBytes(2_000_000) }] }))
        yield* pipeline.submit([globexEvent("g-after")], [])
        const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows", (r) => r.length > 0)
        const letters = yield* readUntil<{ tenant: string; rule: string }>("SELECT tenant, rule FROM dead_letters", (r) => r.length > 0, 10_000)
        return { landed, letters }
      }).pipe(Effect.provide(pipelineOn(o, false)))))
      expect(result.landed.map((r) => r.message_id)).toEqual(["g-after"])
      expect(result.letters).toEqual([{ tenant: "acme", rule: "bus_record_not_json" }])
      const parked = await admin.fetchTopicOffsets(`${o.prefix}events.parked`)
      expect(parked.map((p) => p.high)).toEqual(["1"])
    } finally {
      await producer.disconnect()
      await admin.disconnect()
    }
  }, 180_000)

  it("publishes the bus groups into one request past a smaller topic's max.message.bytes each go alone: every event fitting it lands, none is kept too_large", async () => {
    const o = optionsFor({ compression: "none" })
    const admin = await connectedAdmin()
    try {
      await makeTopics(admin, [`${o.prefix}events`], 1024 * 1024)
      // Six events of about 400 KB, each well within 1 MiB, published at once: group-committed, they make requests of
      // up to 4 MiB, which that topic refuses whole.
      const events = Array.from({ length: 6 }, (_, i): CanonicalEvent => ({ ...viewedEvent(`a-${i}`), userId: `u${i}`, text: "x".repeat(400_000) }))
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const pipeline = yield* Pipeline
        const submitted = yield* Effect.forEach(events, (e) => pipeline.submit([e], []), { concurrency: "unbounded" })
        const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows ORDER BY message_id", (r) => r.length >= 6)
        const letters = yield* readUntil<{ message_id: string }>("SELECT message_id FROM dead_letters", () => true, 0)
        return { kept: submitted.flatMap((s) => s.keptTooLarge.map((k) => k.event.messageId)), landed, letters }
      }).pipe(Effect.provide(pipelineOn(o, false)))))
      expect(result.kept).toEqual([])
      expect(result.letters).toEqual([])
      expect(result.landed.map((r) => r.message_id)).toEqual(events.map((e) => e.messageId))
    } finally {
      await admin.disconnect()
    }
  }, 180_000)

  it("a webhook item the broker refuses even compressed is named too_large in the answer (413 when it is all that was refused), and kept as its dead letter", async () => {
    const o = optionsFor()
    const layer = Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS) }).pipe(Layer.provideMerge(pipelineOn(o, false)))
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const { url } = yield* Collector
      const post = (body: string) => Effect.promise(async () => {
        const res = await fetch(`${url}/v1/webhooks/chat`, { method: "POST", headers: { authorization: basicAuth(WRITE_KEY) }, body })
        return { status: res.status, body: (await res.json()) as Record<string, unknown> }
      })
      // An invalid item (no conversation_id) beside it: the answer is a 400 naming both, in the post's order.
      const mixed = yield* post([transcript("c-ok", 1), JSON.stringify({ visitor_id: "v", started_at: "2026-11-01T10:00:00Z", messages: [] }), transcript("c-huge", 80)].join("\n"))
      const alone = yield* post(transcript("c-huge-2", 80))
      const landed = yield* readUntil<{ message_id: string }>("SELECT message_id FROM event_rows WHERE source = 'chat'", (r) => r.length > 0)
      const letters = yield* readUntil<StoredLetter & { message_id: string }>(
        "SELECT tenant, rule, reason, payload, payload_encoding, message_id FROM dead_letters ORDER BY message_id", (r) => r.length >= 3, 20_000)
      return { mixed, alone, landed, letters }
    }).pipe(Effect.provide(layer))))
    expect(result.mixed.status).toBe(400)
    expect(result.mixed.body).toMatchObject({ success: false, accepted: 1, error: "2 of 3 items were rejected; the others were accepted" })
    const rejected = result.mixed.body["rejected"] as Array<Record<string, string>>
    expect(rejected.map((r) => r["rule"])).toEqual(["missing_conversation_id", "too_large"])
    expect(rejected[1]).toMatchObject({ field: "", messageId: "c-huge" })
    expect(rejected[1]!["message"]).toMatch(/^item 3: .*larger than a record of the kafka bus takes.*kept as a dead letter/)
    checkResponse("/v1/webhooks/chat", "post", result.mixed.status, result.mixed.body)
    expect(result.alone.status).toBe(413)
    expect(result.alone.body).toMatchObject({ success: false, accepted: 0, error: "the item was rejected; nothing was accepted" })
    expect((result.alone.body["rejected"] as Array<Record<string, string>>).map((r) => [r["rule"], r["messageId"]])).toEqual([["too_large", "c-huge-2"]])
    checkResponse("/v1/webhooks/chat", "post", result.alone.status, result.alone.body)
    expect(result.landed.map((r) => r.message_id)).toEqual(["c-ok"])
    // Nothing accepted is lost: each too large item is its dead letter, holding its text whole.
    const kept = result.letters.filter((l) => l.rule === "too_large")
    expect(kept.map((l) => l.message_id)).toEqual(["c-huge", "c-huge-2"])
    for (const l of kept) expect(JSON.parse(l.payload).messages).toHaveLength(80)
  }, 240_000)
})
