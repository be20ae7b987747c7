// Crypto-shredding of the Kafka bus against a real broker (eval "$(deploy/services/up)"; CDP_INTEGRATION=1): two
// people's messages go through the encrypted Kafka bus and the pipeline, one is erased by e-mail, and then every
// record of every topic, read raw from the beginning by a plain kafkajs consumer, holds none of that person's
// identifiers in its key, value or headers, their records no longer open, and the other person's still do.
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import kafkajs from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eraseSubject } from "../../consent/erasure.ts"
import { Keys, makeKeys } from "../../consent/keys.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { defaultIdentityConfig } from "../../identity/index.ts"
import { encryptedKafkaBus, KEY_HEADER, makeBusCodec, warehouseKeyStore } from "../../ingest/bus-crypto.ts"
import type { KafkaBusOptions } from "../../ingest/bus-kafka.ts"
import type { CanonicalEvent, DeadLetter } from "../../ingest/message.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { kafkaBrokers } from "../support/kafka.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"


const secret = new Uint8Array(32).fill(5)

interface Person { readonly userId: string; readonly anonymousId: string; readonly email: string; readonly phone: string }
const ann: Person = { userId: "ann-u-47110815", anonymousId: "ann-browser-9c1e77", email: "ann.shred@mail.example", phone: "+447700900471" }
const bob: Person = { userId: "bob-u-08154711", anonymousId: "bob-browser-3f2a11", email: "bob.keep@mail.example", phone: "+447700900815" }

/** A person's messages: a page view from the browser before login, an identify after it, and a mail with only the address. */
const messagesOf = (p: Person, tag: string): Array<CanonicalEvent> => {
  const base = {
    tenant: "acme", event: "", groupId: "", previousId: "", channel: "web" as const, source: "segment",
    timestamp: "2026-11-02T10:00:00.000Z", originalTimestamp: null, sentAt: null, receivedAt: "2026-11-02T10:00:00.000Z",
    properties: {}, context: {}, extra: {}, text: "", profileId: "",
  }
  const raw = (o: object) => ({ body: JSON.stringify(o), json: true })
  return [
    { ...base, messageId: `${tag}-1`, type: "page", anonymousId: p.anonymousId, userId: "", traits: {}, identifiers: [], raw: raw({ type: "page", anonymousId: p.anonymousId }) },
    {
      ...base, messageId: `${tag}-2`, type: "identify", anonymousId: p.anonymousId, userId: p.userId, traits: { email: p.email, phone: p.phone },
      identifiers: [{ kind: "email", value: p.email }, { kind: "phone", value: p.phone }],
      raw: raw({ type: "identify", userId: p.userId, anonymousId: p.anonymousId, traits: { email: p.email, phone: p.phone } }),
    },
    {
      ...base, messageId: `${tag}-3`, type: "track", event: "Mail Received", channel: "email", source: "email", anonymousId: "", userId: "",
      traits: {}, identifiers: [{ kind: "email", value: p.email }], text: `Hello, this is ${p.email} writing about my order.`,
      raw: { body: `From: ${p.email}\r\nSubject: order\r\n\r\nHello, this is ${p.email} writing about my order.` },
    },
  ]
}

/** A message the edge refused (no valid type), payload as received. */
const refusedOf = (p: Person, tag: string): DeadLetter => ({
  tenant: "acme", source: "segment", receivedAt: "2026-11-02T10:00:00.000Z", messageId: `${tag}-bad`,
  rejection: { rule: "type", field: "/type", message: "type must be one of ..." },
  payload: JSON.stringify({ type: "nonsense", userId: p.userId, traits: { email: p.email } }),
})

/** Every record of the topics, read raw from the beginning by a consumer group of its own. */
const readAll = async (kafka: kafkajs.Kafka, admin: kafkajs.Admin, topics: ReadonlyArray<string>) => {
  let expected = 0
  for (const t of topics) for (const p of await admin.fetchTopicOffsets(t)) expected += Number(p.high) - Number(p.low)
  const out: Array<{ topic: string; message: kafkajs.KafkaMessage }> = []
  const consumer = kafka.consumer({ groupId: `shred-check-${randomUUID()}` })
  await consumer.connect()
  await consumer.subscribe({ topics: [...topics], fromBeginning: true })
  await consumer.run({ eachMessage: async ({ topic, message }) => void out.push({ topic, message }) })
  const end = Date.now() + 60_000
  while (out.length < expected && Date.now() < end) await new Promise((r) => setTimeout(r, 100))
  await consumer.disconnect()
  expect(out.length).toBe(expected)
  return out
}

describe.runIf(enabled)("crypto-shredding of the Kafka bus", () => {
  let kafka: kafkajs.Kafka
  let admin: kafkajs.Admin
  const prefix = `s${randomUUID().slice(0, 8)}.`
  const dir = freshDir("cdp-shred-")

  beforeAll(async () => {
    kafka = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING, connectionTimeout: 3000, retry: { retries: 2 } })
    admin = kafka.admin()
    await admin.connect().catch((e: Error) => {
      throw new Error(`no Kafka broker at ${kafkaBrokers().join(",")} (${e.message}): run eval "$(deploy/services/up)" first`)
    })
  })
  afterAll(async () => {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix))
    if (topics.length > 0) await admin.deleteTopics({ topics })
    await admin.disconnect()
    removeDir(dir)
  })

  it("an erased person's records on every topic are unreadable and name none of their identifiers; another's still open", async () => {
    const o: KafkaBusOptions = { brokers: kafkaBrokers(), prefix, partitions: 3, replication: 1, retentionMs: 3_600_000 }
    const keys = makeKeys(secret)
    const storage = Layer.mergeAll(Warehouse.embedded(join(dir, "clickhouse")), ObjectStore.local(join(dir, "objects")), Layer.succeed(Keys, keys))
    const layer = Pipeline.make({ identity: defaultIdentityConfig(), keys }).pipe(
      Layer.provideMerge(encryptedKafkaBus(o, keys)),
      Layer.provideMerge(storage),
    )
    const receipt = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const warehouse = yield* Warehouse
      yield* pipeline.submit([...messagesOf(ann, "ann"), ...messagesOf(bob, "bob")], [refusedOf(ann, "ann"), refusedOf(bob, "bob")])
      for (let i = 0; i < 600; i++) {
        const [e] = yield* warehouse.query<{ n: string }>("SELECT count() AS n FROM event_rows WHERE tenant = 'acme'")
        const [d] = yield* warehouse.query<{ n: string }>("SELECT count() AS n FROM dead_letters WHERE tenant = 'acme'")
        if (Number(e!.n) >= 6 && Number(d!.n) >= 2) break
        yield* Effect.sleep("100 millis")
      }
      const subject = yield* resolveSubject("acme", `email:${ann.email}`)
      return yield* eraseSubject(subject, "r-shred-1")
    }).pipe(Effect.provide(layer))))
    const shredded = receipt.find((c) => c.where === "bus_data_keys")
    // Ann's browser id, user id and address each chose data keys (the dead letter by its payload's userId).
    expect(shredded?.count).toBeGreaterThanOrEqual(3)

    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix))
    for (const name of ["events", "raw", "dead_letters", "identity_changes"]) expect(topics).toContain(`${prefix}${name}`)
    const all = await readAll(kafka, admin, topics)
    const annTexts = [ann.userId, ann.anonymousId, ann.email, ann.phone, ann.phone.slice(1), "ann.shred", "ann-u-", "ann-browser"]
    for (const { topic, message } of all) {
      const bytes = [message.key, message.value, ...Object.entries(message.headers ?? {}).flatMap(([k, v]) => [Buffer.from(k), v as Buffer])]
        .map((b) => (b === null || b === undefined ? "" : Buffer.from(b).toString("latin1"))).join("\u0000")
      for (const text of annTexts) expect(bytes.includes(text), `${text} in clear on ${topic}`).toBe(false)
      // Bob's identifiers are not in clear either: every topic that can carry personal data is encrypted.
      if (!topic.endsWith("identity_changes")) expect(bytes.includes(bob.email), `bob in clear on ${topic}`).toBe(false)
    }

    // A process starting now (empty cache) opens Bob's records and finds Ann's shredded, on every personal topic.
    const opened = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const codec = makeBusCodec(keys, warehouseKeyStore(yield* Warehouse))
      const out: Record<string, { records: ReadonlyArray<unknown>; shredded: number }> = {}
      for (const name of ["events", "raw", "dead_letters"]) {
        const messages = all.filter((m) => m.topic === `${prefix}${name}`).map((m) => m.message)
        expect(messages.every((m) => m.headers?.[KEY_HEADER] !== undefined), name).toBe(true)
        out[name] = yield* codec.decode(messages)
      }
      return out
    }).pipe(Effect.provide(Warehouse.embedded(join(dir, "clickhouse"))))))
    const text = (name: string) => JSON.stringify(opened[name]!.records)
    expect(opened["events"]!.shredded).toBe(3)
    expect(opened["events"]!.records).toHaveLength(3)
    expect(text("events")).toContain(bob.email)
    expect(opened["raw"]!.shredded).toBe(3)
    expect(text("raw")).toContain(bob.email)
    expect(opened["dead_letters"]!.shredded).toBe(1)
    expect(text("dead_letters")).toContain(bob.email)
    for (const name of ["events", "raw", "dead_letters"]) expect(text(name)).not.toContain(ann.email)
  }, 180_000)
})
