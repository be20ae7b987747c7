// Kill -9 on the Kafka path, with real processes: `cdp serve --edge-only` publishes to Kafka, `cdp worker` lands into
// its warehouse. Clients send batches with fixed message ids and retry every batch not answered 2xx; midway the
// worker is killed with SIGKILL and restarted, later the collector is killed with SIGKILL and restarted. Afterwards
// every id answered 2xx is in the warehouse exactly once, and no dead letter or parked record exists.
// One worker: the embedded warehouse belongs to one process and no modern ClickHouse server installs here, so N
// workers sharing one warehouse are not run here (README, "Scale-out"); N members sharing partitions are tested
// in kafka-bus.test.ts. Size: CDP_KAFKA_TEST_MESSAGES (default the 200,000: about 90 s here under load).
// Runs when CDP_INTEGRATION=1 (eval "$(deploy/services/up)" first); fails, not skips, when the broker is missing.
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freePort, KafkaScene, sleep, untilHealthy } from "../support/kafka.ts"
import { basicAuth, freshDir } from "../support/pipeline.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"
const MESSAGES = Number(process.env["CDP_KAFKA_TEST_MESSAGES"] ?? 200_000)
const BATCH = 100
const SENDERS = 4
const KEY = "wk_kafka_test"

describe.runIf(enabled)("Kafka path survives kill -9 of the worker and of the collector", () => {
  const prefix = `w${randomUUID().slice(0, 8)}.`
  const scene = new KafkaScene(prefix)
  afterAll(() => scene.cleanup())

  it(`every id answered 2xx lands exactly once (${MESSAGES} messages, 6 partitions)`, async () => {
    const admin = await scene.connect()
    const env = {
      CDP_BUS: "kafka", CDP_KAFKA_BROKERS: process.env["CDP_KAFKA_BROKERS"]!, CDP_KAFKA_PREFIX: prefix, CDP_KAFKA_PARTITIONS: "6", CDP_WRITE_KEYS: `${KEY}=acme`,
      // Edge and worker each run an embedded warehouse here (no shared ClickHouse server installs on these machines),
      // so they cannot share the bus's data keys: encrypted, the worker would wait for keys it can never read
      // (test/integration/kafka-shred.test.ts covers the encrypted bus with one shared warehouse).
      CDP_KAFKA_ENCRYPTION: "off",
    }
    const edgeDir = freshDir("cdp-edge-")
    const workerDir = freshDir("cdp-worker-")
    scene.dirs.push(edgeDir, workerDir)
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const startCollector = () => scene.start(["serve", "--edge-only", "--port", String(port), "--data-dir", edgeDir], env)
    const startWorker = () => scene.start(["worker", "--data-dir", workerDir], env)

    let collector = startCollector()
    let worker = startWorker()
    await untilHealthy(url, collector)

    const batches = Math.ceil(MESSAGES / BATCH)
    const acknowledged = new Set<string>()
    let next = 0
    let answered = 0
    let refusedOrLost = 0
    const idOf = (n: number) => `msg-${String(n).padStart(7, "0")}`
    const bodyOf = (b: number) => JSON.stringify({
      batch: Array.from({ length: Math.min(BATCH, MESSAGES - b * BATCH) }, (_, i) => {
        const n = b * BATCH + i
        return { type: "track", event: "Viewed Item", userId: `user-${n % 997}`, messageId: idOf(n), timestamp: "2026-11-02T10:00:00.000Z", properties: { n } }
      }),
    })
    const sender = async () => {
      for (let b = next++; b < batches; b = next++) {
        const body = bodyOf(b)
        // Retries the same batch, with the same ids, until it is answered 2xx (a killed collector answers nothing).
        for (;;) {
          const status = await fetch(`${url}/v1/batch`, {
            method: "POST", body, headers: { authorization: basicAuth(KEY), "content-type": "application/json" }, signal: AbortSignal.timeout(30_000),
          }).then((r) => r.status, () => 0)
          if (status >= 200 && status < 300) break
          refusedOrLost++
          await sleep(100)
        }
        answered++
        for (let i = 0; i < BATCH && b * BATCH + i < MESSAGES; i++) acknowledged.add(idOf(b * BATCH + i))
      }
    }

    const committedOf = async (topic: string) => {
      const groups = await admin.fetchOffsets({ groupId: topic, topics: [topic] }).catch(() => [])
      return new Map((groups[0]?.partitions ?? []).map((p) => [p.partition, Math.max(0, Number(p.offset))]))
    }
    /** Records published to a topic and not yet committed by its group. */
    const lag = async (name: string) => {
      const topic = `${prefix}${name}`
      const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), committedOf(topic)])
      return ends.reduce((n, p) => n + Number(p.high) - (committed.get(p.partition) ?? 0), 0)
    }
    const started = Date.now()
    let workerKilledAt = -1
    const chaos = (async () => {
      // The worker dies mid-stream: once it has committed some of the events, long before all of them.
      for (;;) {
        const done = [...(await committedOf(`${prefix}events`)).values()].reduce((a, b) => a + b, 0)
        if (done >= MESSAGES * 0.3) break
        await sleep(50)
      }
      workerKilledAt = [...(await committedOf(`${prefix}events`)).values()].reduce((a, b) => a + b, 0)
      worker.child.kill("SIGKILL")
      await worker.exited
      worker = startWorker()
    })()
    const collectorChaos = (async () => {
      while (answered < batches * 0.6) await sleep(20)
      collector.child.kill("SIGKILL")
      await collector.exited
      await sleep(500)
      collector = startCollector()
    })()
    await Promise.all([...Array.from({ length: SENDERS }, sender), collectorChaos])
    const sentMs = Date.now() - started
    expect(acknowledged.size).toBe(MESSAGES)
    await chaos
    expect(workerKilledAt).toBeLessThan(MESSAGES)

    // Done when the worker's groups have committed everything published: every effect is then durable.
    let left = -1
    for (let i = 0; i < 2_400; i++) {
      left = (await lag("events")) + (await lag("dead_letters"))
      if (left === 0) break
      if (worker.child.exitCode !== null) throw new Error(`worker exited ${worker.child.exitCode}: ${worker.log.join("").slice(-2000)}`)
      await sleep(250)
    }
    expect(left).toBe(0)
    process.stderr.write(`kafka-workers: ${MESSAGES} acknowledged in ${sentMs} ms, all committed after ${Date.now() - started} ms; ` +
      `worker killed with ${workerKilledAt} committed; ${refusedOrLost} requests unanswered or refused and retried\n`)
    worker.child.kill("SIGTERM")
    collector.child.kill("SIGTERM")
    // SIGTERM is a clean stop for both (the batch in hand finishes, consumers leave the group, stores close).
    expect(await Promise.all([worker.exited, collector.exited])).toEqual([0, 0])

    const parked = (await admin.listTopics()).filter((t) => t.startsWith(prefix) && t.endsWith(".parked"))
    expect(parked).toEqual([])
    const rows = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const copies = yield* warehouse.query<{ message_id: string; n: string }>(
        "SELECT message_id, count() AS n FROM event_rows WHERE tenant = 'acme' GROUP BY message_id")
      const dead = yield* warehouse.query<{ n: string }>("SELECT count() AS n FROM dead_letters")
      return { copies, dead: Number(dead[0]!.n) }
    })).pipe(Effect.provide(Warehouse.embedded(join(workerDir, "clickhouse")))))
    const ids = new Set(rows.copies.map((r) => r.message_id))
    expect(rows.copies.filter((r) => Number(r.n) !== 1)).toEqual([])
    expect([...acknowledged].filter((id) => !ids.has(id))).toEqual([])
    expect(ids.size).toBe(MESSAGES)
    expect(rows.dead).toBe(0)
    // The chaos did happen: requests went unanswered while the collector was down.
    expect(refusedOrLost).toBeGreaterThan(0)
  }, 900_000)
})
