// A poison record on a Kafka stage topic (not JSON, from a producer outside cdp) ends as a dead letter that
// `cdp dlq list` shows, with its rule, topic, partition and offset, while its neighbours land; `cdp dlq retry`
// says why it cannot re-drive it. Against a real broker: runs when CDP_INTEGRATION=1 (eval "$(deploy/services/up)").
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import kafkajs from "kafkajs"
import { afterAll, describe, expect, it } from "vitest"
import { type KafkaBusOptions, kafkaBus, makeKafkaBus } from "../../ingest/bus-kafka.ts"
import { type Topic, Topics } from "../../ingest/bus.ts"
import { listDeadLetters, retryDeadLetters } from "../../ingest/dlq.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { kafkaBrokers, viewedEvent as event } from "../support/kafka.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"


describe.runIf(enabled)("poison Kafka records become dead letters", () => {
  const prefixes: Array<string> = []
  afterAll(async () => {
    const admin = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING }).admin()
    await admin.connect()
    const topics = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)))
    if (topics.length > 0) await admin.deleteTopics({ topics })
    await admin.disconnect()
  })

  it("a junk record produced to the events topic is listed as a dead letter naming topic, partition and offset; its neighbours land", async () => {
    const o: KafkaBusOptions = { brokers: kafkaBrokers(), prefix: `t${randomUUID().slice(0, 8)}.`, partitions: 1, replication: 1, retentionMs: 3_600_000 }
    prefixes.push(o.prefix)
    const dir = freshDir()
    const producer = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING }).producer()
    await producer.connect()
    try {
      const layer = Pipeline.make({ identity: false }).pipe(
        Layer.provideMerge(Layer.mergeAll(kafkaBus(o), Warehouse.embedded(join(dir, "clickhouse")), ObjectStore.local(join(dir, "objects")))),
      )
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const pipeline = yield* Pipeline
        const warehouse = yield* Warehouse
        yield* pipeline.submit([event("before")], [])
        yield* Effect.promise(() => producer.send({ topic: `${o.prefix}events`, messages: [{ key: "acme/u1", value: '{"tenant":"acme","email":"ann@x.example' }] }))
        yield* pipeline.submit([event("after")], [])
        const landed = () => warehouse.query<{ message_id: string }>("SELECT message_id FROM event_rows WHERE tenant = 'acme' ORDER BY message_id")
        let listed = yield* listDeadLetters({})
        for (let i = 0; i < 300 && (listed.length === 0 || (yield* landed()).length < 2); i++) {
          yield* Effect.sleep("100 millis")
          listed = yield* listDeadLetters({})
        }
        const retried = yield* retryDeadLetters({})
        return { listed, landed: (yield* landed()).map((r) => r.message_id), retried }
      }).pipe(Effect.provide(layer))))
      expect(result.landed).toEqual(["after", "before"])
      expect(result.listed).toHaveLength(1)
      const letter = result.listed[0]!
      expect(letter).toMatchObject({ tenant: "acme", source: `kafka:${o.prefix}events`, rule: "bus_record_not_json", status: "open" })
      expect(letter.reason).toMatch(new RegExp(`parked on ${o.prefix.replace(".", "\\.")}events\\.parked from partition 0 offset 1;`))
      expect(letter.reason).toContain("cdp dlq retry cannot re-drive a bus record")
      expect(letter.reason).not.toContain("ann@")
      expect(result.retried).toMatchObject({ retried: 1, landed: 0 })
      expect(result.retried.results[0]).toMatchObject({ outcome: "still_rejected", rule: "no_raw_parser" })
    } finally {
      await producer.disconnect()
      removeDir(dir)
    }
  }, 120_000)

  it("a dead letter the bus made that its consumer dies on too is parked once, not made into another dead letter", async () => {
    const o: KafkaBusOptions = { brokers: kafkaBrokers(), prefix: `t${randomUUID().slice(0, 8)}.`, partitions: 1, replication: 1, retentionMs: 3_600_000 }
    prefixes.push(o.prefix)
    const topic: Topic<{ readonly n: number }> = { name: "events", key: (r) => `acme/${r.n}` }
    const admin = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING }).admin()
    await admin.connect()
    const high = async (name: string) =>
      (await admin.fetchTopicOffsets(`${o.prefix}${name}`).catch(() => [])).reduce((n, p) => n + Number(p.high), 0)
    try {
      await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const bus = yield* makeKafkaBus(o)
        yield* bus.publish(topic, [{ n: 1 }, { n: 2 }])
        yield* bus.consume(topic, (batch) => batch.some((r) => r.n === 2) ? Effect.die(new Error("a bug on record 2")) : Effect.void)
        yield* bus.consume(Topics.deadLetters, () => Effect.die(new Error("a bug in landing dead letters")))
        for (let i = 0; i < 300 && (yield* Effect.promise(() => high("dead_letters.parked"))) < 1; i++) yield* Effect.sleep("100 millis")
        yield* Effect.sleep("2 seconds")
      })))
      expect(await high("events.parked")).toBe(1)
      expect(await high("dead_letters")).toBe(1)
      expect(await high("dead_letters.parked")).toBe(1)
    } finally {
      await admin.disconnect()
    }
  }, 120_000)
})
