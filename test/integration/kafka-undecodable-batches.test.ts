// Compressed record batches the consumer cannot read, on a stage topic of a real broker: a gzip batch that does not
// decompress and batches that expand past MAX_BATCH_BYTES (ingest/bus-kafka-codecs.ts). Each is parked as one dead
// letter naming its codec, defect, topic, partition and offsets; the consumer goes past it: the good records after it
// on its partition and those of the other partition land, and both partitions are committed to their end.
// The same on the encrypted bus. Runs when CDP_INTEGRATION=1 (eval "$(deploy/services/up)").
import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { createRequire } from "node:module"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import kafkajs from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Keys, makeKeys } from "../../consent/keys.ts"
import { encryptedKafkaBus } from "../../ingest/bus-crypto.ts"
import { type KafkaBusOptions, kafkaBus } from "../../ingest/bus-kafka.ts"
import { MAX_BATCH_BYTES } from "../../ingest/bus-kafka-codecs.ts"
import { listDeadLetters } from "../../ingest/dlq.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { kafkaBrokers, viewedEvent as event } from "../support/kafka.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"

/**
 * Another process's producer (as a Java or librdkafka client would be) that sends to partition 0 of topic argv[1]:
 * - a gzip batch of the events argv[2] and argv[3] with bytes after its gzip member that are not one: the broker's
 *   GZIPInputStream ignores them and accepts the batch, node:zlib refuses it ("incorrect header check");
 * - when argv[4] is "large", an LZ4 batch and a zstd batch, each of 140 records of 1 MiB: valid, but 140 MiB once
 *   decompressed.
 * Its kafkajs has codecs of its own (this process's kafkajs has cdp's, which read only).
 */
const FOREIGN_PRODUCER = `
const kafkajs = require(${JSON.stringify(createRequire(import.meta.url).resolve("kafkajs"))})
const zlib = require("node:zlib")
const { CompressionTypes, CompressionCodecs } = kafkajs
// LZ4 frame (independent blocks of at most 4 MiB; header checksum of these flags 0x73) whose blocks encode runs of
// one byte as matches one byte back, and the rest as literals; a block's last 12 bytes are literals, as LZ4 requires.
const lengthBytes = (n) => { const out = []; while (n >= 255) { out.push(255); n -= 255 } out.push(n); return out }
const lz4Block = (b) => {
  const out = []
  const sequence = (literals, match) => {
    const token = (Math.min(literals.length, 15) << 4) | (match === 0 ? 0 : Math.min(match - 4, 15))
    out.push(Buffer.from([token, ...(literals.length >= 15 ? lengthBytes(literals.length - 15) : [])]), literals)
    if (match > 0) out.push(Buffer.from([1, 0, ...(match - 4 >= 15 ? lengthBytes(match - 4 - 15) : [])]))
  }
  const end = b.length - 12
  let from = 0, i = 1
  while (i < end) {
    let j = i
    while (j < end && b[j] === b[i - 1]) j++
    if (j - i >= 16) { sequence(b.subarray(from, i), j - i); from = i = j } else i = Math.max(j, i + 1)
  }
  sequence(b.subarray(from), 0)
  return Buffer.concat(out)
}
const lz4 = (b) => {
  const parts = [Buffer.from([4, 0x22, 0x4d, 0x18, 0x60, 0x70, 0x73])]
  for (let i = 0; i < b.length; i += 4 * 1024 * 1024) {
    const block = lz4Block(b.subarray(i, i + 4 * 1024 * 1024)); const n = Buffer.alloc(4); n.writeUInt32LE(block.length); parts.push(n, block)
  }
  parts.push(Buffer.alloc(4))
  return Buffer.concat(parts)
}
CompressionCodecs[CompressionTypes.GZIP] = () => ({ compress: async (e) => Buffer.concat([zlib.gzipSync(e.buffer), Buffer.from("not a gzip member")]) })
CompressionCodecs[CompressionTypes.LZ4] = () => ({ compress: async (e) => lz4(e.buffer) })
CompressionCodecs[CompressionTypes.ZSTD] = () => ({ compress: async (e) => zlib.zstdCompressSync(e.buffer) })
;(async () => {
  const [topic, first, second, large] = process.argv.slice(1)
  const p = new kafkajs.Kafka({ brokers: process.env.CDP_KAFKA_BROKERS.split(","), logLevel: kafkajs.logLevel.NOTHING }).producer()
  await p.connect()
  await p.send({ topic, compression: CompressionTypes.GZIP, messages: [first, second].map((value) => ({ key: "acme/u1", value, partition: 0 })) })
  if (large === "large") {
    const mib = Buffer.alloc(1024 * 1024, 0x61)
    const records = Array.from({ length: 140 }, () => ({ key: "acme/u1", value: mib, partition: 0 }))
    await p.send({ topic, compression: CompressionTypes.LZ4, messages: records })
    await p.send({ topic, compression: CompressionTypes.ZSTD, messages: records })
  }
  await p.disconnect()
})().catch((e) => { console.error(e.message); process.exit(1) })
`

describe.runIf(enabled)("compressed batches a stage topic's consumer cannot read", () => {
  const prefixes: Array<string> = []
  const admin = new kafkajs.Kafka({ brokers: enabled ? kafkaBrokers() : [], logLevel: kafkajs.logLevel.NOTHING }).admin()
  beforeAll(() => admin.connect())
  afterAll(async () => {
    const topics = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)))
    if (topics.length > 0) await admin.deleteTopics({ topics })
    await admin.disconnect()
  })

  /**
   * Produces good records to both partitions, the foreign batches to partition 0, good records after them, and waits
   * until both partitions are committed to their end, `letters` dead letters are listed and four events landed.
   */
  const scene = async (encrypted: boolean, large: boolean, letters: number) => {
    const o: KafkaBusOptions = { brokers: kafkaBrokers(), prefix: `t${randomUUID().slice(0, 8)}.`, partitions: 2, replication: 1, retentionMs: 3_600_000 }
    prefixes.push(o.prefix)
    const topic = `${o.prefix}events`
    const dir = freshDir()
    const producer = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING }).producer()
    await producer.connect()
    const produce = (partition: number, ...ids: Array<string>) =>
      producer.send({ topic, messages: ids.map((id) => ({ key: "acme/u1", value: JSON.stringify(event(id)), partition })) })
    const offsets = async () => {
      const ends = await admin.fetchTopicOffsets(topic)
      const [group] = await admin.fetchOffsets({ groupId: topic, topics: [topic] })
      const committed = new Map(group!.partitions.map((p) => [p.partition, Number(p.offset)]))
      return ends.map((e) => ({ partition: e.partition, end: Number(e.high), committed: committed.get(e.partition) ?? -1 }))
    }
    try {
      const keys = makeKeys(new Uint8Array(32).fill(7))
      const storage = Layer.mergeAll(Warehouse.embedded(join(dir, "clickhouse")), ObjectStore.local(join(dir, "objects")), Layer.succeed(Keys, keys))
      const layer = Pipeline.make({ identity: false }).pipe(Layer.provideMerge(encrypted ? encryptedKafkaBus(o, keys) : kafkaBus(o)), Layer.provideMerge(storage))
      return await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        yield* Pipeline
        const warehouse = yield* Warehouse
        yield* Effect.promise(() => produce(0, "p0-before"))
        yield* Effect.promise(() => produce(1, "p1-before"))
        yield* Effect.sync(() => execFileSync(process.execPath, ["-e", FOREIGN_PRODUCER, topic, JSON.stringify(event("gz1")), JSON.stringify(event("gz2")), large ? "large" : ""], { env: process.env }))
        yield* Effect.promise(() => produce(0, "p0-after"))
        yield* Effect.promise(() => produce(1, "p1-after"))
        const state = Effect.gen(function* () {
          const parts = yield* Effect.promise(offsets)
          const listed = yield* listDeadLetters({ all: true })
          const landed = (yield* warehouse.query<{ message_id: string }>("SELECT message_id FROM event_rows ORDER BY message_id")).map((r) => r.message_id)
          return { parts, listed, landed, settled: parts.every((p) => p.committed === p.end) && listed.length >= letters && landed.length >= 4 }
        })
        let now = yield* state
        for (let i = 0; i < 600 && !now.settled; i++) {
          yield* Effect.sleep("100 millis")
          now = yield* state
        }
        return { ...now, topic }
      }).pipe(Effect.provide(layer))))
    } finally {
      await producer.disconnect()
      removeDir(dir)
    }
  }

  it("are parked as dead letters naming codec, defect and offsets; later records on their partition and the other partition land", async () => {
    const s = await scene(false, true, 3)
    const topic = s.topic
    expect(s.landed).toEqual(["p0-after", "p0-before", "p1-after", "p1-before"])
    for (const p of s.parts) expect(p.committed, `partition ${p.partition}`).toBe(p.end)
    const mib = MAX_BATCH_BYTES / 1024 / 1024
    expect(s.listed.map((l) => [l.tenant, l.rule, l.reason.split("; marked on")[0]]).sort()).toEqual([
      ["", "bus_batch_corrupt", `a Kafka record batch compressed with gzip is corrupt: zlib: incorrect header check; its 2 record(s), offsets 1 to 2 of topic ${topic} partition 0, were not read`],
      ["", "bus_batch_too_large", `a Kafka record batch compressed with LZ4 is too large: it expands past ${mib} MiB, more than any batch cdp takes; its 140 record(s), offsets 3 to 142 of topic ${topic} partition 0, were not read`],
      ["", "bus_batch_too_large", `a Kafka record batch compressed with zstd is too large: it expands past ${mib} MiB, more than any batch cdp takes; its 140 record(s), offsets 143 to 282 of topic ${topic} partition 0, were not read`],
    ])
  }, 180_000)

  it("on the encrypted bus too: the corrupt batch is one dead letter and the consumer goes on", async () => {
    const s = await scene(true, false, 1)
    expect(s.landed).toEqual(["p0-after", "p0-before", "p1-after", "p1-before"])
    for (const p of s.parts) expect(p.committed, `partition ${p.partition}`).toBe(p.end)
    expect(s.listed.map((l) => [l.tenant, l.rule, l.reason.split("; marked on")[0]])).toEqual([
      ["", "bus_batch_corrupt", `a Kafka record batch compressed with gzip is corrupt: zlib: incorrect header check; its 2 record(s), offsets 1 to 2 of topic ${s.topic} partition 0, were not read`],
    ])
  }, 180_000)
})
