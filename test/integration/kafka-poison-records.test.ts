// Poison records produced straight to a pipeline's events topic (by a producer outside cdp, or a buggy one): each is
// parked and listed as a dead letter naming what is wrong, never its content; the partition's offsets are committed
// to its end (nothing blocks it) and the good records around it land. Against a real broker: runs when
// CDP_INTEGRATION=1 (eval "$(deploy/services/up)"). One partition, so a blocked record would hold back the next.
import { execFileSync } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { createRequire } from "node:module"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import kafkajs from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Keys, makeKeys } from "../../consent/keys.ts"
import { encryptedKafkaBus } from "../../ingest/bus-crypto.ts"
import { type KafkaBusOptions, kafkaBus } from "../../ingest/bus-kafka.ts"
import { type DeadLetterEntry, listDeadLetters } from "../../ingest/dlq.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { kafkaBrokers, viewedEvent as event } from "../support/kafka.ts"
import { migratedTemplate, type MigratedTemplate } from "../support/migrated-dir.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"


/**
 * A producer that sends argv[2]'s value Snappy-compressed (one raw block of literals) and argv[3]'s LZ4-compressed (a
 * frame of one stored block), each as its own batch, to topic argv[1]. Plain kafkajs with two codecs of its own.
 */
const FOREIGN_PRODUCER = `
const kafkajs = require(${JSON.stringify(createRequire(import.meta.url).resolve("kafkajs"))})
const { CompressionTypes, CompressionCodecs } = kafkajs
const varint = (n) => { const out = []; while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7 } out.push(n); return Buffer.from(out) }
const snappy = (b) => {
  const parts = [varint(b.length)]
  for (let i = 0; i < b.length; i += 60000) {
    const chunk = b.subarray(i, i + 60000); const h = Buffer.alloc(3); h[0] = 61 << 2; h.writeUInt16LE(chunk.length - 1, 1); parts.push(h, chunk)
  }
  return Buffer.concat(parts)
}
const lz4 = (b) => { const n = Buffer.alloc(4); n.writeUInt32LE((b.length | 0x80000000) >>> 0); return Buffer.concat([Buffer.from([4, 0x22, 0x4d, 0x18, 0x60, 0x70, 0x73]), n, b, Buffer.alloc(4)]) }
CompressionCodecs[CompressionTypes.Snappy] = () => ({ compress: async (e) => snappy(e.buffer) })
CompressionCodecs[CompressionTypes.LZ4] = () => ({ compress: async (e) => lz4(e.buffer) })
;(async () => {
  const [topic, first, second] = process.argv.slice(1)
  const p = new kafkajs.Kafka({ brokers: process.env.CDP_KAFKA_BROKERS.split(","), logLevel: kafkajs.logLevel.NOTHING }).producer()
  await p.connect()
  await p.send({ topic, compression: CompressionTypes.Snappy, messages: [{ key: "acme/u1", value: first }] })
  await p.send({ topic, compression: CompressionTypes.LZ4, messages: [{ key: "acme/u1", value: second }] })
  await p.disconnect()
})().catch((e) => { console.error(e.message); process.exit(1) })
`

interface Scene {
  readonly landed: ReadonlyArray<string>
  readonly listed: ReadonlyArray<DeadLetterEntry>
  /** The events group's committed offset and the topic's end, partition 0. */
  readonly committed: number
  readonly end: number
}

/**
 * Sends the records; again while the broker refuses their timestamps. A topic setting just altered
 * (message.timestamp.after.max.ms, below) reaches the partition's log a moment after the alter has answered: a CI
 * run sent in that moment and got "The timestamp of the message is out of acceptable range". Nothing of a refused
 * send is written, so sending it again adds nothing twice.
 */
const sendOnceConfigured = async (producer: kafkajs.Producer, topic: string, messages: Array<kafkajs.Message>) => {
  const deadline = Date.now() + 15_000
  for (;;) {
    try {
      return await producer.send({ topic, messages })
    } catch (e) {
      if (!/timestamp of the message is out of acceptable range/.test(String(e)) || Date.now() > deadline) throw e
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

describe.runIf(enabled)("poison records on a Kafka stage topic", () => {
  const prefixes: Array<string> = []
  const admin = new kafkajs.Kafka({ brokers: enabled ? kafkaBrokers() : [], logLevel: kafkajs.logLevel.NOTHING }).admin()
  /** Each scene's warehouse starts as a copy of one migrated once for the file (a fresh one migrates for seconds). */
  let template: MigratedTemplate
  beforeAll(async () => {
    await admin.connect()
    template = await migratedTemplate((d) => Effect.runPromise(Effect.scoped(Layer.build(Warehouse.embedded(d)))))
  })
  afterAll(async () => {
    template?.remove()
    const topics = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)))
    if (topics.length > 0) await admin.deleteTopics({ topics })
    await admin.disconnect()
  })

  /**
   * Submits "before", produces the poison records raw, submits "after", and waits until the events group has
   * committed the topic's end and the expected dead letters are listed (or 40 s pass).
   */
  const scene = async (
    poison: ReadonlyArray<kafkajs.Message>,
    letters: number,
    bus: {
      readonly encrypted: boolean
      readonly graceMs?: number
      /** Runs after "before" is submitted; returns more records to produce (made from what is on the topic). */
      readonly before?: (submit: (events: ReadonlyArray<CanonicalEvent>) => Effect.Effect<void, unknown>, topic: string) => Effect.Effect<ReadonlyArray<kafkajs.Message>, unknown>
    },
  ): Promise<Scene> => {
    const o: KafkaBusOptions = { brokers: kafkaBrokers(), prefix: `t${randomUUID().slice(0, 8)}.`, partitions: 1, replication: 1, retentionMs: 3_600_000 }
    prefixes.push(o.prefix)
    const dir = freshDir()
    const producer = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING }).producer()
    await producer.connect()
    const topic = `${o.prefix}events`
    const offsets = async () => {
      const [end] = await admin.fetchTopicOffsets(topic)
      const [group] = await admin.fetchOffsets({ groupId: topic, topics: [topic] })
      return { end: Number(end!.high), committed: Number(group!.partitions[0]!.offset) }
    }
    try {
      const keys = makeKeys(new Uint8Array(32).fill(7))
      const storage = Layer.mergeAll(Warehouse.embedded(template.copyTo(join(dir, "clickhouse"))), ObjectStore.local(join(dir, "objects")), Layer.succeed(Keys, keys))
      const layer = Pipeline.make({ identity: false }).pipe(
        Layer.provideMerge(bus.encrypted ? encryptedKafkaBus(o, keys, bus.graceMs) : kafkaBus(o)),
        Layer.provideMerge(storage),
      )
      return await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const pipeline = yield* Pipeline
        const warehouse = yield* Warehouse
        yield* pipeline.submit([event("before")], [])
        const more = bus.before === undefined ? [] : yield* bus.before((events) => pipeline.submit(events, []), topic)
        yield* Effect.promise(() => sendOnceConfigured(producer, topic, [...poison, ...more]))
        yield* pipeline.submit([event("after")], [])
        const done = Effect.gen(function* () {
          const { end, committed } = yield* Effect.promise(offsets)
          const listed = yield* listDeadLetters({ all: true })
          return { end, committed, listed, settled: committed === end && listed.length >= letters }
        })
        let state = yield* done
        for (let i = 0; i < 400 && !state.settled; i++) {
          yield* Effect.sleep("100 millis")
          state = yield* done
        }
        const rows = yield* warehouse.query<{ message_id: string }>("SELECT message_id FROM event_rows ORDER BY message_id")
        return { landed: rows.map((r) => r.message_id), listed: state.listed, committed: state.committed, end: state.end }
      }).pipe(Effect.provide(layer))))
    } finally {
      await producer.disconnect()
      removeDir(dir)
    }
  }

  it("JSON of the wrong shape is parked as a dead letter naming the field and rule; its partition is committed to its end", async () => {
    const poison = [
      JSON.stringify({ ...event("t5"), tenant: 5 }),
      "null", "42", "[]", "{}",
      JSON.stringify({ ...event("ids"), identifiers: "ann@x.example" }),
    ].map((value) => ({ key: "acme/u1", value }))
    const s = await scene(poison, poison.length, { encrypted: false })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    const reasons = s.listed.map((l) => {
      expect(l).toMatchObject({ tenant: "acme", rule: "bus_record_wrong_shape" })
      expect(l.reason).not.toContain("ann@")
      return l.reason.split(";")[0]
    }).sort()
    expect(reasons).toEqual([
      "the record's value is not a record of topic events: /identifiers must be an array of {kind, value} strings",
      // {} and the event whose tenant is 5
      ...Array(2).fill("the record's value is not a record of topic events: /tenant must be a string"),
      // null, 42 and []
      ...Array(3).fill("the record's value is not a record of topic events: the value must be a JSON object"),
    ].sort())
  }, 120_000)

  it("a record nested deeper than the edge takes is parked as too_deep naming the field, not left to overflow the warehouse", async () => {
    // Before: properties 100,000 deep were parsed, overflowed the stack encoding the row and became a dead letter
    // warehouse_rejected "Maximum call stack size exceeded", which says nothing of what is wrong with the record.
    const nested = (depth: number) => {
      let v = "1"
      for (let i = 0; i < depth; i++) v = `{"a":${v}}`
      return v
    }
    const withValue = (id: string, field: "properties" | "extra", depth: number) =>
      JSON.stringify({ ...event(id), [field]: {} }).replace(`"${field}":{}`, `"${field}":${nested(depth)}`)
    const poison = [
      withValue("deep-100000", "properties", 100_000),
      withValue("deep-101", "properties", 101),
      // The edge takes a message 100 levels deep, whose unknown fields the record keeps one level down, in extra.
      withValue("deep-100", "extra", 100),
      // Not even an object: too deep is what the edge says first.
      "[".repeat(100_000) + "]".repeat(100_000),
    ].map((value) => ({ key: "acme/u1", value }))
    const s = await scene(poison, 3, { encrypted: false })
    expect(s.landed).toEqual(["after", "before", "deep-100"])
    expect(s.committed).toBe(s.end)
    const refused = (field: string) => [
      "acme", "too_deep", field, `the record's value is refused as the edge refuses a message: ${field.slice(0, 60)}…: objects and arrays are nested more than 100 levels deep (the limit)`,
    ]
    expect(s.listed.map((l) => [l.tenant, l.rule, l.field, l.reason.split(";")[0]]).sort()).toEqual([
      refused(`/properties${"/a".repeat(100)}`), refused(`/properties${"/a".repeat(100)}`), refused("/0".repeat(101)),
    ].sort())
  }, 120_000)

  it("on the encrypted bus an unsealed record nested 100,000 levels deep is parked as too_deep", async () => {
    let value = "1"
    for (let i = 0; i < 100_000; i++) value = `{"a":${value}}`
    const s = await scene([{ key: "acme/u1", value: JSON.stringify(event("deep")).replace(`"properties":{}`, `"properties":${value}`) }], 1, { encrypted: true })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule, l.field])).toEqual([["acme", "too_deep", `/properties${"/a".repeat(100)}`]])
  }, 120_000)

  // A record whose Kafka key names one tenant and whose value another was made by no cdp producer (both come from
  // the same record at publish): it lands under neither, and its dead letter is no tenant's (either claim may be the
  // forgery). Before, the value's tenant won: globex's key carried a message into acme's warehouse.
  const forged = [
    { key: "globex/u1", value: JSON.stringify(event("forged-key")) },
    { key: "globex", value: JSON.stringify(event("forged-tenant-key")) },
    { key: null, value: JSON.stringify(event("keyless")) },
  ]
  const forgedReasons = [
    `the record's Kafka key names tenant "globex" but its value is of tenant "acme"`,
    `the record's Kafka key names tenant "globex" but its value is of tenant "acme"`,
    `the record has no Kafka key but its value is of tenant "acme"`,
  ]

  it("a record whose Kafka key names another tenant than its value is a dead letter of no tenant and lands under neither", async () => {
    const s = await scene(forged, forged.length, { encrypted: false })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule])).toEqual(forged.map(() => ["", "bus_record_wrong_tenant"]))
    expect(s.listed.map((l) => l.reason.split(";")[0]).sort()).toEqual([...forgedReasons].sort())
  }, 120_000)

  it("on the encrypted bus an unsealed record whose Kafka key names another tenant is refused the same way", async () => {
    const s = await scene(forged.slice(0, 1), 1, { encrypted: true })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule, l.reason.split(";")[0]])).toEqual([["", "bus_record_wrong_tenant", forgedReasons[0]]])
  }, 120_000)

  it("a junk record forging the cdp-parked-from header on the events topic is still a dead letter", async () => {
    const s = await scene([{ key: "acme/u1", value: "junk", headers: { "cdp-parked-from": `cdp.events` } }], 1, { encrypted: false })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule])).toEqual([["acme", "bus_record_not_json"]])
  }, 120_000)

  it("on the encrypted bus an unsealed record that is not JSON is bus_record_not_json, without its content", async () => {
    const s = await scene([{ key: "acme/u1", value: "ann@x.example" }], 1, { encrypted: true })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule])).toEqual([["acme", "bus_record_not_json"]])
    expect(s.listed[0]!.reason).toMatch(/^the record's value is not JSON \(13 bytes\); parked on /)
    expect(s.listed[0]!.reason).not.toContain("ann@")
  }, 120_000)

  it("on the encrypted bus a cdp-made record altered on the topic is parked under its own tenant, not its key id", async () => {
    // The pipeline's own sealed record of "victim", read back raw and produced again with one byte of its value flipped.
    const s = await scene([], 1, {
      encrypted: true,
      before: (submit, topic) => Effect.gen(function* () {
        yield* submit([{ ...event("victim"), userId: "u2" }])
        const consumer = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING }).consumer({ groupId: `${topic}.reader` })
        const sealed = yield* Effect.promise(async () => {
          await consumer.connect()
          await consumer.subscribe({ topics: [topic], fromBeginning: true })
          const found = await new Promise<kafkajs.KafkaMessage>((resolve) => {
            void consumer.run({ eachMessage: async ({ message }) => { if (Number(message.offset) === 1) resolve(message) } })
          })
          await consumer.disconnect()
          return found
        })
        const value = Buffer.from(sealed.value!)
        value.writeUInt8(value.readUInt8(value.length - 1) ^ 1, value.length - 1)
        return [{ key: sealed.key, value, headers: sealed.headers as Record<string, Buffer> }]
      }),
    })
    expect(s.landed).toEqual(["after", "before", "victim"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule])).toEqual([["acme", "bus_record_unreadable"]])
  }, 120_000)

  it("a record whose key is not UTF-8 is listed under no tenant (\"\"), not under the replacement characters", async () => {
    const s = await scene([{ key: Buffer.from([0xff, 0xfe, 0x2f, 0x41]), value: "junk" }], 1, { encrypted: false })
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule])).toEqual([["", "bus_record_not_json"]])
  }, 120_000)

  it("a record whose key does not start with a tenant name is listed under no tenant, not under what the key says", async () => {
    // Before: the key's first segment was the dead letter's tenant whatever it held: 100,000 characters, or markup.
    const keys = ["x".repeat(100_000) + "/u1", "<script>alert(1)</script>/u1", "../u1", " acme/u1"]
    // Four values: dead letters of one source, rule and payload are one (their id is a hash of those).
    const s = await scene(keys.map((key, i) => ({ key, value: `junk ${i}` })), keys.length, { encrypted: false })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule])).toEqual(keys.map(() => ["", "bus_record_not_json"]))
  }, 120_000)

  it("an event whose tenant is no tenant name is a dead letter of no tenant, even when its key agrees", async () => {
    // Before: key and value agreeing on "a b" (or "..") landed the event in the warehouse under that tenant.
    const odd = ["a b", "..", "x".repeat(65)]
    const s = await scene(odd.map((tenant) => ({ key: `${tenant}/u1`, value: JSON.stringify({ ...event(`odd-${tenant.length}`), tenant }) })), odd.length, { encrypted: false })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule, l.reason.split(";")[0]])).toEqual(odd.map(() => [
      "", "bus_record_wrong_shape", "the record's value is not a record of topic events: /tenant must be a tenant name (1-64 letters, digits, '.', '_' or '-' (not '.' or '..'))",
    ]))
  }, 120_000)

  it("batches another producer compressed with Snappy or LZ4 (codecs kafkajs lacks) are read and land; the consumer goes on", async () => {
    const s = await scene([], 0, {
      encrypted: false,
      before: (_submit, topic) => Effect.sync(() => {
        // Produced by another process, as by a Java or librdkafka client: this one's kafkajs writes neither codec.
        execFileSync(process.execPath, ["-e", FOREIGN_PRODUCER, topic, JSON.stringify(event("snappy")), JSON.stringify(event("lz4"))], { env: process.env })
        return []
      }),
    })
    expect(s.landed).toEqual(["after", "before", "lz4", "snappy"])
    expect(s.committed).toBe(s.end)
    expect(s.listed).toEqual([])
  }, 120_000)

  it("a dead letter produced to the dead_letters topic with a receivedAt the warehouse cannot read is listed, not dropped", async () => {
    const s = await scene([], 1, {
      encrypted: false,
      before: (_submit, topic) => Effect.promise(async () => {
        const producer = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING }).producer()
        await producer.connect()
        await producer.send({
          topic: topic.replace(/events$/, "dead_letters"),
          messages: [{
            key: "acme",
            value: JSON.stringify({ tenant: "acme", source: "segment", receivedAt: "yesterday", messageId: "m1", payload: "{}", rejection: { rule: "r", field: "", message: "m" } }),
          }],
        })
        await producer.disconnect()
        return []
      }),
    })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.listed.map((l) => [l.tenant, l.rule, l.reason.split(";")[0]])).toEqual([
      ["acme", "bus_record_wrong_shape", "the record's value is not a record of topic dead_letters: /receivedAt must be an ISO-8601 date and time"],
    ])
  }, 120_000)

  it("records whose producer set a time no date holds (or the warehouse cannot store) are parked and listed at the time they were parked", async () => {
    // Kafka before 4.0 takes any CreateTime >= 0 (4.0 refuses those over an hour ahead by default; the topic is set
    // as a 3.x broker has it): year 287,000 (beyond what a Date holds) and year 2500 (beyond the warehouse's 2299).
    const before = Date.now()
    const s = await scene([], 2, {
      encrypted: false,
      before: (_submit, topic) => Effect.promise(async () => {
        await admin.alterConfigs({
          validateOnly: false,
          resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: "message.timestamp.after.max.ms", value: "9223372036854775807" }] }],
        })
        return [
          { key: "acme/u1", value: "junk", timestamp: "9000000000000000" },
          { key: "acme/u1", value: "more junk", timestamp: String(Date.UTC(2500, 0, 1)) },
        ]
      }),
    })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule])).toEqual([["acme", "bus_record_not_json"], ["acme", "bus_record_not_json"]])
    for (const l of s.listed) expect(Date.parse(l.receivedAt)).toBeGreaterThanOrEqual(before - 1000)
  }, 120_000)

  it("a 7 MB record of random bytes is parked and listed under its key's tenant; its neighbours land", async () => {
    // Random bytes: no codec shrinks them, and as text (replacement characters, escapes) they grow.
    const junk = randomBytes(7_000_000)
    const s = await scene([{ key: "acme/u1", value: junk }], 1, { encrypted: false })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule])).toEqual([["acme", "bus_record_not_json"]])
  }, 120_000)

  it("a record of random bytes as large as the topic takes is parked and listed; its neighbours land", async () => {
    // The largest value of one record under key acme/u1 that the topic's max.message.bytes (8 MiB) takes uncompressed:
    // a copy of it with a header more is not taken.
    const s = await scene([{ key: "acme/u1", value: randomBytes(8 * 1024 * 1024 - 85) }], 1, { encrypted: false })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule])).toEqual([["acme", "bus_record_not_json"]])
  }, 120_000)

  it("a record whose data key is unknown (retried until its grace ends) holds only its own partition, not the others", async () => {
    // The key id has the bus's form, so the record is retried for the grace period (a key not replicated yet): before,
    // the consumer retried it while every other partition's batches waited behind it, for 10 minutes by default,
    // and a producer could hold the whole topic with one forged header a time.
    const o: KafkaBusOptions = { brokers: kafkaBrokers(), prefix: `t${randomUUID().slice(0, 8)}.`, partitions: 2, replication: 1, retentionMs: 3_600_000 }
    prefixes.push(o.prefix)
    const dir = freshDir()
    const producer = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING }).producer()
    await producer.connect()
    try {
      const keys = makeKeys(new Uint8Array(32).fill(7))
      const storage = Layer.mergeAll(Warehouse.embedded(template.copyTo(join(dir, "clickhouse"))), ObjectStore.local(join(dir, "objects")), Layer.succeed(Keys, keys))
      const layer = Pipeline.make({ identity: false }).pipe(Layer.provideMerge(encryptedKafkaBus(o, keys, 60_000)), Layer.provideMerge(storage))
      const waited = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const warehouse = yield* Warehouse
        yield* Effect.promise(() => producer.send({ topic: `${o.prefix}events`, messages: [
          { partition: 0, key: "acme/u1", value: "sealed?", headers: { "cdp-key": `${"a".repeat(32)}.${"b".repeat(16)}` } },
        ] }))
        yield* Effect.sleep("2 seconds")
        const started = Date.now()
        // A record in the clear (as written before encryption was on) on the other partition.
        yield* Effect.promise(() => producer.send({ topic: `${o.prefix}events`, messages: [
          { partition: 1, key: "acme/u9", value: JSON.stringify({ ...event("other-partition"), userId: "u9" }) },
        ] }))
        for (let i = 0; i < 450; i++) {
          const rows = yield* warehouse.query<{ message_id: string }>("SELECT message_id FROM event_rows")
          if (rows.some((r) => r.message_id === "other-partition")) return Date.now() - started
          yield* Effect.sleep("100 millis")
        }
        return Date.now() - started
      }).pipe(Effect.provide(layer))))
      expect(waited).toBeLessThan(20_000)
    } finally {
      await producer.disconnect()
      removeDir(dir)
    }
  }, 120_000)

  it("on the encrypted bus records forging the cdp-key header are parked as unreadable and block nothing", async () => {
    const s = await scene([
      { key: "acme/u1", value: JSON.stringify(event("forged-form")), headers: { "cdp-key": "zz" } },
      { key: "acme/u1", value: "sealed?", headers: { "cdp-key": `${"a".repeat(32)}.${"b".repeat(16)}` } },
    ], 2, { encrypted: true, graceMs: 2_000 })
    expect(s.landed).toEqual(["after", "before"])
    expect(s.committed).toBe(s.end)
    expect(s.listed.map((l) => [l.tenant, l.rule])).toEqual([["acme", "bus_record_unreadable"], ["acme", "bus_record_unreadable"]])
    const reasons = s.listed.map((l) => l.reason.split(";")[0]).sort()
    expect(reasons[0]).toBe("an encrypted bus record cannot be opened: it names data key aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, which this warehouse has neither held nor shredded for " + reasons[0]!.split("for ")[1])
    expect(reasons[1]).toBe("an encrypted bus record cannot be opened: its cdp-key header is not a key id and key (2 characters)")
  }, 120_000)
})
