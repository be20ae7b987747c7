// Several cdp processes starting at once on a busy broker: each creates its topics, publishes and subscribes at once.
// A topic just created is not yet in the broker's metadata for a moment, and kafkajs's createTopics (waiting for
// leaders), producer and consumer took the broker's UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this
// topic-partition") for a failure: the bus's start failed, or its consumer's subscribe died. The start now waits
// (bounded) until the broker's metadata has every topic with a leader for each partition.
// Runs when CDP_INTEGRATION=1 (eval "$(deploy/services/up)" first); fails, not skips, when the broker is missing.
import { randomUUID } from "node:crypto"
import { Effect, Exit } from "effect"
import kafkajs from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeKafkaBus } from "../../ingest/bus-kafka.ts"
import type { Topic } from "../../ingest/bus.ts"
import { kafkaBrokers } from "../support/kafka.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"

interface Rec { readonly k: string }
const topic: Topic<Rec> = { name: "events", key: (r) => r.k }

describe.runIf(enabled)("Kafka buses starting at once", () => {
  let admin: kafkajs.Admin
  const prefix = `race${randomUUID().slice(0, 8)}.`
  beforeAll(async () => {
    admin = new kafkajs.Kafka({ brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.NOTHING, connectionTimeout: 3000, retry: { retries: 2 } }).admin()
    await admin.connect().catch((e: Error) => {
      throw new Error(`no Kafka broker at ${kafkaBrokers().join(",")} (${e.message}): run eval "$(deploy/services/up)" first`)
    })
  })
  afterAll(async () => {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix))
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined)
    await admin.disconnect()
  })

  it("every one starts, publishes and consumes: the topics' metadata is awaited, not taken as a failure", async () => {
    // Half the buses share a prefix (processes of one deployment: one consumer group), half have their own
    // (deployments on one cluster). Each publishes its record; any member of its group may take it.
    const seen = new Set<string>()
    const all = Array.from({ length: 16 }, (_, i) => `k${i}`)
    const starts = all.map((key, i) => Effect.scoped(Effect.gen(function* () {
      const bus = yield* makeKafkaBus({
        brokers: kafkaBrokers(), prefix: `${prefix}${i % 2 === 0 ? "shared" : i}.`, partitions: 6, replication: 1, retentionMs: 3_600_000,
        clientId: `race-${i}`,
      })
      yield* bus.consume(topic, (batch) => Effect.sync(() => { for (const r of batch) seen.add(r.k) }))
      yield* bus.publish(topic, [{ k: key }])
      // Every member stays until every record is taken (one leaving would move its partitions to the others).
      yield* Effect.sleep("100 millis").pipe(Effect.repeat({ until: () => all.every((k) => seen.has(k)) }), Effect.timeout("40 seconds"))
    })))
    const exits = await Promise.all(starts.map((s) => Effect.runPromiseExit(s)))
    const failures = exits.flatMap((e, i) => Exit.isSuccess(e) ? [] : [`bus ${i}: ${String(e.cause).slice(0, 300)}`])
    expect(failures).toEqual([])
  }, 120_000)
})
