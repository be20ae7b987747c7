// The EventBus contract against a real Kafka broker (deploy/services/up): acknowledged publish, per-key order,
// offsets committed only after the handler succeeded, re-delivery of what was not committed, partitions shared in
// a consumer group, poison records parked, an unreachable broker named in one line; and the pipeline over Kafka.
// Runs when CDP_INTEGRATION=1 (eval "$(deploy/services/up)" first); fails, not skips, when the broker is missing.
import { randomBytes, randomUUID } from "node:crypto"
import { Context, Effect, Exit, Layer, Logger, References, Scope } from "effect"
import kafkajs from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type KafkaBusOptions, kafkaBus, makeKafkaBus } from "../../ingest/bus-kafka.ts"
import { type EventBusShape, type Topic } from "../../ingest/bus.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { defaultIdentityConfig } from "../../identity/index.ts"
import { makeKeys } from "../../consent/keys.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { kafkaBrokers } from "../support/kafka.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { join } from "node:path"

const enabled = process.env["CDP_INTEGRATION"] === "1"


/** Each test gets topics and groups of its own. */
const optionsFor = (partitions = 6): KafkaBusOptions => ({
  brokers: kafkaBrokers(), prefix: `t${randomUUID().slice(0, 8)}.`, partitions, replication: 1, retentionMs: 3_600_000,
})

interface Rec { readonly key: string; readonly n: number }
const topic: Topic<Rec> = { name: "events", key: (r) => r.key }

const records = (count: number, keys = 20): Array<Rec> =>
  Array.from({ length: count }, (_, n) => ({ key: `k${n % keys}`, n }))

/** Runs `program` with a Kafka bus open in its own scope (closed afterwards). */
const withBus = <A, E>(options: KafkaBusOptions, program: (bus: EventBusShape, scope: Scope.Scope) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const bus = yield* makeKafkaBus(options)
    return yield* program(bus, yield* Effect.scope)
  })))

/** Polls until `done` or the time is up. */
const until = (done: () => boolean, ms = 30_000) =>
  Effect.gen(function* () {
    const end = Date.now() + ms
    while (!done() && Date.now() < end) yield* Effect.sleep("50 millis")
    return done()
  })

describe.runIf(enabled)("EventBus over a real Kafka", () => {
  let admin: kafkajs.Admin
  const prefixes: Array<string> = []
  const tracked = (o: KafkaBusOptions) => (prefixes.push(o.prefix), o)

  beforeAll(async () => {
    const kafka = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING, connectionTimeout: 3000, retry: { retries: 2 } })
    admin = kafka.admin()
    await admin.connect().catch((e: Error) => {
      throw new Error(`no Kafka broker at ${kafkaBrokers().join(",")} (${e.message}): run eval "$(deploy/services/up)" first`)
    })
  })
  afterAll(async () => {
    const topics = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)))
    if (topics.length > 0) await admin.deleteTopics({ topics })
    await admin.disconnect()
  })

  it("creates the bus topics with the configured partitions and retention", async () => {
    const o = tracked(optionsFor(3))
    await withBus(o, () => Effect.void)
    const meta = await admin.fetchTopicMetadata({ topics: [`${o.prefix}events`, `${o.prefix}dead_letters`, `${o.prefix}raw`] })
    expect(meta.topics.map((t) => t.partitions.length)).toEqual([3, 3, 3])
    const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: `${o.prefix}events` }] })
    expect(configs.resources[0]!.configEntries.find((c) => c.configName === "retention.ms")?.configValue).toBe("3600000")
  })

  it("delivers every published record once, in publish order per key", async () => {
    const o = tracked(optionsFor())
    const seen: Array<Rec> = []
    const all = records(5_000)
    await withBus(o, (bus) => Effect.gen(function* () {
      yield* bus.consume(topic, (batch) => Effect.sync(() => { seen.push(...batch) }))
      // Concurrent publishers: the bus must still send in order per key within each publish.
      yield* Effect.all([bus.publish(topic, all.slice(0, 2_500)), bus.publish(topic, all.slice(2_500))], { concurrency: 2 })
      expect(yield* until(() => seen.length >= all.length)).toBe(true)
      yield* Effect.sleep("500 millis")
    }))
    expect(seen.length).toBe(all.length)
    expect(new Set(seen.map((r) => r.n)).size).toBe(all.length)
    const lastPerKey = new Map<string, number>()
    for (const r of seen) {
      const before = lastPerKey.get(r.key)
      if (before !== undefined) expect(r.n).toBeGreaterThan(before)
      lastPerKey.set(r.key, r.n)
    }
  })

  it("records compressed with gzip (CDP_KAFKA_COMPRESSION=gzip) or sent uncompressed come back whole", async () => {
    for (const compression of ["gzip", "none"] as const) {
      const o = tracked({ ...optionsFor(2), compression })
      const seen: Array<Rec> = []
      const all = records(1_000)
      await withBus(o, (bus) => Effect.gen(function* () {
        yield* bus.consume(topic, (batch) => Effect.sync(() => { seen.push(...batch) }))
        yield* bus.publish(topic, all)
        expect(yield* until(() => seen.length >= all.length)).toBe(true)
      }))
      expect(seen.map((r) => r.n).sort((a, b) => a - b), compression).toEqual(all.map((r) => r.n))
    }
  })

  it("commits only after the handler succeeds: a failing handler is retried, and a restarted group re-reads nothing", async () => {
    const o = tracked(optionsFor(2))
    let calls = 0
    const seen: Array<number> = []
    await withBus(o, (bus) => Effect.gen(function* () {
      yield* bus.publish(topic, records(100))
      yield* bus.consume(topic, (batch) => Effect.suspend(() => {
        calls++
        if (calls <= 2) return Effect.fail(new Error("warehouse outage (simulated by the handler)"))
        seen.push(...batch.map((r) => r.n))
        return Effect.void
      }))
      expect(yield* until(() => seen.length >= 100)).toBe(true)
      const backlog = yield* bus.backlog
      expect(Object.values(backlog).every((b) => b.failing === undefined)).toBe(true)
    }))
    expect(calls).toBeGreaterThan(2)
    expect(new Set(seen).size).toBe(100)
    const again: Array<number> = []
    await withBus(o, (bus) => Effect.gen(function* () {
      yield* bus.consume(topic, (batch) => Effect.sync(() => { again.push(...batch.map((r) => r.n)) }))
      yield* bus.publish(topic, [{ key: "k1", n: 1_000 }])
      yield* until(() => again.length >= 1)
      yield* Effect.sleep("300 millis")
    }))
    expect(again).toEqual([1_000])
  })

  it("a member that stops before its handler succeeded leaves its records to the next member, nothing lost", async () => {
    const o = tracked(optionsFor(2))
    await withBus(o, (bus) => bus.publish(topic, records(300)))
    // First member: its handler never succeeds (an outage); it stops without committing anything.
    let attempts = 0
    await withBus(o, (bus) => Effect.gen(function* () {
      yield* bus.consume(topic, () => Effect.suspend(() => (attempts++, Effect.fail(new Error("down")))))
      yield* until(() => attempts >= 2)
    }))
    expect(attempts).toBeGreaterThanOrEqual(2)
    const seen = new Set<number>()
    await withBus(o, (bus) => Effect.gen(function* () {
      yield* bus.consume(topic, (batch) => Effect.sync(() => batch.forEach((r) => seen.add(r.n))))
      expect(yield* until(() => seen.size >= 300)).toBe(true)
    }))
    expect(seen.size).toBe(300)
  })

  it("two members of a group share the partitions: together they handle every record, and none twice", async () => {
    const o = tracked(optionsFor(6))
    const byMember: [Array<number>, Array<number>] = [[], []]
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const a = yield* makeKafkaBus(o)
      const b = yield* makeKafkaBus(o)
      yield* a.consume(topic, (batch) => Effect.sync(() => { byMember[0].push(...batch.map((r) => r.n)) }))
      yield* b.consume(topic, (batch) => Effect.sync(() => { byMember[1].push(...batch.map((r) => r.n)) }))
      // Both joined before publishing, so the assignment is settled and each partition has one owner.
      yield* Effect.sleep("3 seconds")
      yield* a.publish(topic, records(3_000, 60))
      expect(yield* until(() => byMember[0].length + byMember[1].length >= 3_000)).toBe(true)
      yield* Effect.sleep("500 millis")
    })))
    expect(byMember[0].length).toBeGreaterThan(0)
    expect(byMember[1].length).toBeGreaterThan(0)
    const all = [...byMember[0], ...byMember[1]]
    expect(all.length).toBe(3_000)
    expect(new Set(all).size).toBe(3_000)
  })

  it("a broadcast consumer gets every record published after it started, whatever the other members get", async () => {
    const o = tracked(optionsFor(3))
    const got: [Array<number>, Array<number>] = [[], []]
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const a = yield* makeKafkaBus(o)
      const b = yield* makeKafkaBus(o)
      yield* a.consume(topic, (batch) => Effect.sync(() => { got[0].push(...batch.map((r) => r.n)) }), { broadcast: true })
      yield* b.consume(topic, (batch) => Effect.sync(() => { got[1].push(...batch.map((r) => r.n)) }), { broadcast: true })
      yield* Effect.sleep("2 seconds")
      yield* a.publish(topic, records(50))
      expect(yield* until(() => got[0].length >= 50 && got[1].length >= 50)).toBe(true)
    })))
    expect(got[0].sort((x, y) => x - y)).toEqual(records(50).map((r) => r.n))
    expect(got[1].sort((x, y) => x - y)).toEqual(records(50).map((r) => r.n))
  })

  it("a record the handler dies on is parked on <topic>.parked; the rest are handled", async () => {
    const o = tracked(optionsFor(1))
    const seen: Array<number> = []
    await withBus(o, (bus) => Effect.gen(function* () {
      yield* bus.publish(topic, records(20))
      yield* bus.consume(topic, (batch) => batch.some((r) => r.n === 7)
        ? Effect.die(new Error("a bug on record 7"))
        : Effect.sync(() => { seen.push(...batch.map((r) => r.n)) }))
      expect(yield* until(() => seen.length >= 19)).toBe(true)
    }))
    expect(seen.sort((x, y) => x - y)).toEqual(records(20).map((r) => r.n).filter((n) => n !== 7))
    const offsets = await admin.fetchTopicOffsets(`${o.prefix}events.parked`)
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(1)
  })

  it("a record that is not JSON is parked with its cause in a header, its content in no log, and the rest are handled", async () => {
    const o = tracked(optionsFor(1))
    const seen: Array<number> = []
    const logged: Array<string> = []
    const capture = Logger.layer([Logger.make((l) => { logged.push(JSON.stringify([l.message, l.fiber.getRef(References.CurrentLogAnnotations)])) })])
    const producer = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING }).producer()
    await producer.connect()
    await withBus(o, (bus) => Effect.gen(function* () {
      yield* bus.publish(topic, records(5))
      // A producer outside cdp: truncated JSON holding an address, and no key at all.
      yield* Effect.promise(() => producer.send({ topic: `${o.prefix}events`, messages: [{ value: '{"key":"k1","n":99,"email":"ann@x.example' }, { key: "k2", value: "ann@x.example" }] }))
      yield* bus.publish(topic, records(10).slice(5))
      yield* bus.consume(topic, (batch) => Effect.sync(() => { seen.push(...batch.map((r) => r.n)) })).pipe(Effect.provide(capture))
      expect(yield* until(() => seen.length >= 10)).toBe(true)
    }))
    await producer.disconnect()
    expect(seen.sort((x, y) => x - y)).toEqual(records(10).map((r) => r.n))
    const kafka = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING })
    const reader = kafka.consumer({ groupId: `${o.prefix}reader` })
    const parked: Array<{ value: string; cause: string }> = []
    await reader.connect()
    await reader.subscribe({ topic: `${o.prefix}events.parked`, fromBeginning: true })
    await reader.run({ eachMessage: async ({ message }) => { parked.push({ value: String(message.value), cause: String(message.headers?.["cdp-parked-cause"]) }) } })
    await Effect.runPromise(until(() => parked.length >= 2))
    await reader.disconnect()
    expect(parked.map((p) => p.value)).toEqual(['{"key":"k1","n":99,"email":"ann@x.example', "ann@x.example"])
    for (const p of parked) expect(p.cause).toMatch(/^the record's value is not JSON \(\d+ bytes\)$/)
    expect(logged.join("\n")).toContain("parked it")
    expect(logged.join("\n")).not.toContain("ann@")
  })

  // The next three run at once (it.concurrent, with the test context's expect): an unreachable broker's retries take
  // ~10 s of waiting, and of the three only the last creates topics (tests creating topics at once met "This server
  // does not host this topic-partition" from kafkajs) or opens an embedded warehouse (one per process at a time).
  it.concurrent("topics the broker refuses to create fail the bus at start naming the setting, not as an unreachable broker", async ({ expect }) => {
    // Before: "Kafka at 127.0.0.1:9092 is unreachable (creating topics: Topic creation errors); check CDP_KAFKA_BROKERS".
    const exit = await Effect.runPromiseExit(Effect.scoped(makeKafkaBus({ ...optionsFor(), replication: 3 })))
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
    const message = String((error as { error: { message: string } }).error.message)
    expect(message).toMatch(/^Kafka at \S+ refused to create topic \S+\.(events|dead_letters|raw|identity_changes): Replication-factor is invalid \(3 asked: at most the number of brokers\); check CDP_KAFKA_REPLICATION$/)
  })

  it.concurrent("an unreachable broker fails the bus at start with one line naming it", async ({ expect }) => {
    const exit = await Effect.runPromiseExit(Effect.scoped(makeKafkaBus({ ...optionsFor(), brokers: ["127.0.0.1:1"] })))
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
    expect(String((error as { error: { message: string } }).error.message)).toMatch(/^Kafka at 127\.0\.0\.1:1 is unreachable .*CDP_KAFKA_BROKERS$/)
  })

  it.concurrent("the pipeline over Kafka lands every event once, however often it is published", async ({ expect }) => {
    const o = tracked(optionsFor(3))
    const dir = freshDir()
    try {
      const events = Array.from({ length: 200 }, (_, i) => event(`m${i}`, `user${i % 17}`))
      const layer = Pipeline.make({ identity: false }).pipe(
        Layer.provideMerge(Layer.mergeAll(kafkaBus(o), Warehouse.embedded(join(dir, "clickhouse")), ObjectStore.local(join(dir, "objects")))),
      )
      const landed = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const pipeline = yield* Pipeline
        const warehouse = yield* Warehouse
        yield* pipeline.submit(events, [])
        yield* pipeline.submit(events.slice(0, 50), []) // a sender's retry of what it already sent
        const count = () => warehouse.query<{ n: string }>("SELECT count() AS n FROM event_rows WHERE tenant = 'acme'")
        for (let i = 0; i < 300; i++) {
          if (Number((yield* count())[0]!.n) >= 200 && pipeline.counters.duplicates >= 50) break
          yield* Effect.sleep("100 millis")
        }
        return yield* warehouse.query<{ message_id: string; copies: string }>(
          "SELECT message_id, count() AS copies FROM event_rows WHERE tenant = 'acme' GROUP BY message_id")
      }).pipe(Effect.provide(layer))))
      expect(landed.length).toBe(200)
      expect(landed.every((r) => Number(r.copies) === 1)).toBe(true)
    } finally {
      removeDir(dir)
    }
  })

  it.each(["tenant", "person"] as const)("three pipelines on one warehouse share the partitions (CDP_KAFKA_PARTITION_BY=%s): one leaves midway, another joins; every event lands once", async (partitionBy) => {
    const o: KafkaBusOptions = { ...tracked(optionsFor(6)), partitionBy }
    const dir = freshDir()
    try {
      const people = 60
      // Per person: a web message keyed by userId that states an e-mail, and a mail keyed by that e-mail alone.
      const events = Array.from({ length: people }, (_, i) => [
        { ...event(`w${i}`, `user${i}`), identifiers: [{ kind: "email" as const, value: `p${i}@x.example` }] },
        { ...event(`e${i}`, ""), channel: "email" as const, source: "email", timestamp: "2026-01-02T03:05:05.000Z", identifiers: [{ kind: "email" as const, value: `p${i}@x.example` }] },
      ]).flat()
      const others = Array.from({ length: 3_000 }, (_, i) => event(`o${i}`, `other${i % 300}`))
      const member = Pipeline.make({ identity: defaultIdentityConfig() }).pipe(Layer.provideMerge(kafkaBus(o)))
      const shared = Layer.mergeAll(Warehouse.embedded(join(dir, "clickhouse")), ObjectStore.local(join(dir, "objects")))
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        const join1 = yield* Scope.make()
        const a = Context.get(yield* Layer.buildWithScope(member, join1), Pipeline)
        yield* Layer.build(member)
        const leaving = yield* Scope.make()
        yield* Layer.buildWithScope(member, leaving)
        yield* a.submit(others.slice(0, 1_500), [])
        yield* Effect.sleep("1 second")
        yield* Scope.close(leaving, Exit.void) // a member leaves mid-stream: its partitions move to the others
        yield* a.submit(events, [])
        yield* Layer.build(member) // and a new member joins
        yield* a.submit(others.slice(1_500), [])
        const warehouse = yield* Warehouse
        for (let i = 0; i < 600; i++) {
          const n = yield* warehouse.query<{ n: string }>("SELECT count() AS n FROM event_rows WHERE tenant = 'acme'")
          if (Number(n[0]!.n) >= others.length + events.length) break
          yield* Effect.sleep("100 millis")
        }
        yield* Scope.close(join1, Exit.void)
        return {
          copies: yield* warehouse.query<{ message_id: string; n: string }>(
            "SELECT message_id, count() AS n FROM event_rows WHERE tenant = 'acme' GROUP BY message_id"),
          profiles: yield* warehouse.query<{ message_id: string; profile_id: string }>(
            "SELECT message_id, profile_id FROM events WHERE tenant = 'acme' AND (startsWith(message_id, 'w') OR startsWith(message_id, 'e'))"),
        }
      }).pipe(Effect.provide(shared))))
      expect(result.copies.length).toBe(others.length + events.length)
      expect(result.copies.filter((r) => Number(r.n) !== 1)).toEqual([])
      // By tenant, one member at a time resolves the tenant: a person reached through two keys has one profile.
      // By person the two keys can sit on two members, each with its own graph (README, "Scale-out"): not asserted.
      if (partitionBy === "tenant") {
        const profileOf = new Map(result.profiles.map((r) => [r.message_id, r.profile_id]))
        const split = Array.from({ length: people }, (_, i) => i).filter((i) => profileOf.get(`w${i}`) !== profileOf.get(`e${i}`))
        expect(split).toEqual([])
      }
    } finally {
      removeDir(dir)
    }
  }, 120_000)

  it("an erasure's notice reaches the worker resolving the tenant: it forgets the person's profile at once", async () => {
    // cdp serve on Kafka publishes (consume: false) and a cdp worker resolves: the edge's forget goes out as a notice on
    // identity_changes (keyed hashes of profile ids, never identifiers), and the worker's graph forgets the profile
    // before any reload.
    const o = tracked(optionsFor(2))
    const dir = freshDir()
    try {
      // The deployment's keys, which both hold: the notice names the profile by a keyed hash of its id.
      const keys = makeKeys(randomBytes(32))
      const worker = Pipeline.make({ identity: defaultIdentityConfig(), keys }).pipe(Layer.provideMerge(kafkaBus(o)))
      const edge = Pipeline.make({ identity: defaultIdentityConfig(), keys, consume: false }).pipe(Layer.provideMerge(kafkaBus(o)))
      const shared = Layer.mergeAll(Warehouse.embedded(join(dir, "clickhouse")), ObjectStore.local(join(dir, "objects")))
      const identify = (messageId: string, fields: Partial<CanonicalEvent>): CanonicalEvent => ({ ...event(messageId, ""), type: "identify", ...fields })
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
        yield* Layer.build(worker)
        const front = Context.get(yield* Layer.build(edge), Pipeline)
        const warehouse = yield* Warehouse
        const profileOf = (messageId: string) => Effect.gen(function* () {
          for (let i = 0; i < 300; i++) {
            const rows = yield* warehouse.query<{ profile_id: string }>(
              "SELECT profile_id FROM events WHERE tenant = 'acme' AND message_id = {id:String}", { params: { id: messageId } })
            if (rows.length > 0) return rows[0]!.profile_id
            yield* Effect.sleep("100 millis")
          }
          throw new Error(`${messageId} did not land`)
        })
        yield* front.submit([
          identify("ann1", { userId: "ua", anonymousId: "anon-a", traits: { email: "ann@a.example" } }),
          identify("cara1", { userId: "uc", traits: { email: "cara@a.example" } }),
        ], [])
        const ann = yield* profileOf("ann1")
        const cara = yield* profileOf("cara1")
        const forgotten = yield* front.forgetIdentity("acme", { profileIds: [ann], keys: [] })
        // The notice and the events travel on different topics: probe until the worker has read it. Her browser stating
        // Cara's address stays Ann's while the worker knows it (a second user id is refused), and joins Cara once forgotten.
        const probes: Array<string> = []
        for (let i = 0; i < 40 && probes.at(-1) !== cara; i++) {
          yield* front.submit([identify(`probe${i}`, { anonymousId: "anon-a", traits: { email: "cara@a.example" } })], [])
          probes.push(yield* profileOf(`probe${i}`))
          yield* Effect.sleep("250 millis")
        }
        return { ann, cara, forgotten, probes }
      }).pipe(Effect.provide(shared))))
      expect(result.forgotten, "the edge holds no graph, and told the workers").toEqual({ forgotten: 0, toldOthers: true })
      expect(result.ann).not.toBe(result.cara)
      expect(result.probes.at(-1), JSON.stringify(result.probes)).toBe(result.cara)
    } finally {
      removeDir(dir)
    }
  }, 120_000)
})

const event = (messageId: string, userId: string): CanonicalEvent => ({
  tenant: "acme", source: "segment", channel: "web", type: "track", event: "Viewed", messageId, anonymousId: "",
  userId, groupId: "", previousId: "", profileId: "", timestamp: "2026-01-02T03:04:05.000Z", originalTimestamp: null,
  sentAt: null, receivedAt: "2026-01-02T03:04:06.000Z", properties: {}, traits: {}, context: {}, extra: {}, identifiers: [],
  text: "",
})
