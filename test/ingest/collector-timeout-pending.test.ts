// A submission answered 503 backend_timeout (the pipeline did not take it within the publish timeout) still waits in
// the bus and will land. Before, the collector gave its tenant's pending count back at the timeout, so a flooding
// tenant retrying after each 503 queued far past its maxPendingPerTenant while the old messages drained (memory grew,
// other tenants waited longer). Now the count covers every message of the tenant queued or being handled, answered
// or not, and goes down only when they are handled; the retries land nothing twice (the sink drops a landed id).
import { join } from "node:path"
import { Effect, Layer, Logger } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { defaultIdentityConfig } from "../../identity/index.ts"
import { EventBus } from "../../ingest/bus.ts"
import { Collector } from "../../ingest/collector.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, removeDir, TEST_KEYS, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** The in-process bus with a slow stage in front of the events consumer: each call of it takes `stage.ms` more. */
const slowEventsBus = (stage: { ms: number }) => Layer.effect(EventBus, Effect.gen(function* () {
  const bus = yield* EventBus
  return {
    ...bus,
    consume: (topic, handler, options) =>
      bus.consume(topic, topic.name === "events"
        ? (batch) => Effect.suspend(() => Effect.sleep(`${stage.ms} millis`)).pipe(Effect.andThen(handler(batch)))
        : handler, options),
  } satisfies EventBus["Service"]
})).pipe(Layer.provide(EventBus.memory))

const LIMIT = 1_000
const BATCH = 250

const batchOf = (prefix: string, n: number) =>
  JSON.stringify({ batch: Array.from({ length: n }, (_, i) => ({ type: "track", userId: `${prefix}-${i % 10}`, event: "Page Viewed", messageId: `${prefix}-${i}` })) })

const postBatch = async (url: string, key: string, body: string) => {
  const res = await fetch(`${url}/v1/batch`, { method: "POST", headers: { authorization: basicAuth(key), "content-type": "application/json" }, body })
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as Record<string, unknown> }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

it("a tenant retrying after 503 backend_timeout never queues past its limit, another tenant is served, and every message lands once", () => {
  // For the first 6 s of the flood each call of the pipeline takes 4 s, twice the publish timeout: every post then
  // waits past it. After, the pipeline is fast again and the senders' retries are answered. (With a 200 ms timeout a
  // loaded CI machine's calls of 250 messages took longer than it even when fast: every retry timed out again.)
  const stage = { ms: 4_000 }
  const layer = Collector.layer({
    port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS), publishTimeout: "2 seconds", maxPendingPerTenant: LIMIT,
  }).pipe(Layer.provideMerge(Pipeline.make({ identity: defaultIdentityConfig() }).pipe(Layer.provideMerge(Layer.mergeAll(
    slowEventsBus(stage), Warehouse.embedded(join(dir, "clickhouse")), ObjectStore.local(join(dir, "objects")))))))
  return Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const url = (yield* Collector).url
    const bus = yield* EventBus
    const pipeline = yield* Pipeline
    const warehouse = yield* Warehouse
    const result = yield* Effect.promise(async () => {
      let flooding = true
      let mostQueued = 0
      const watch = (async () => {
        while (flooding) {
          mostQueued = Math.max(mostQueued, (await Effect.runPromise(bus.backlog))["events"]?.tenants?.["acme"] ?? 0)
          await sleep(10)
        }
      })()
      const statuses: Record<number, number> = {}
      const refusals: Array<{ status: number; retryAfter: string | null; rule: unknown }> = []
      // Four senders of acme, each sending its batches in turn: a batch refused (503 or 429) is sent again, same ids,
      // after 50 ms (a flooding sender that ignores Retry-After), until it is answered 200.
      const sender = async (s: number) => {
        for (let b = 0; b < 4; b++) {
          const body = batchOf(`a${s}-${b}`, BATCH)
          for (;;) {
            const answer = await postBatch(url, WRITE_KEY, body)
            statuses[answer.status] = (statuses[answer.status] ?? 0) + 1
            if (answer.status === 200) break
            refusals.push({ status: answer.status, retryAfter: answer.retryAfter, rule: answer.body["rule"] })
            await sleep(50)
          }
        }
      }
      const flood = Promise.all([0, 1, 2, 3].map(sender))
      const fast = setTimeout(() => { stage.ms = 0 }, 6_000)
      await sleep(1_500)
      // globex's one message is taken while acme floods. While every call is slow its post too waits past the timeout:
      // it is retried as a sender does, and is refused nothing else (no 429: acme's count is not globex's).
      const globexAnswers: Array<{ status: number; rule: unknown }> = []
      for (let i = 0; i < 100; i++) {
        const answer = await postBatch(url, OTHER_TENANT_KEY, batchOf("g", 1))
        globexAnswers.push({ status: answer.status, rule: answer.body["rule"] })
        if (answer.status !== 503) break
        await sleep(100)
      }
      await flood
      clearTimeout(fast)
      flooding = false
      await watch
      return { mostQueued, statuses, refusals, globexAnswers }
    })
    // Drained: nothing of either tenant still waits.
    for (let i = 0; i < 600 && ((yield* bus.pending)["events"] ?? 0) > 0; i++) yield* Effect.sleep("50 millis")

    expect(result.globexAnswers.at(-1)).toEqual({ status: 200, rule: undefined })
    expect(result.globexAnswers.filter((a) => a.status !== 200)).toEqual(result.globexAnswers.slice(0, -1).map(() => ({ status: 503, rule: "backend_timeout" })))
    // The flood was answered 503 backend_timeout (that is what this test is about), and every refusal said when to retry.
    expect(result.refusals.some((r) => r.status === 503 && r.rule === "backend_timeout")).toBe(true)
    for (const r of result.refusals) {
      expect([429, 503]).toContain(r.status)
      expect(r.retryAfter).toMatch(/^\d+$/)
    }
    // acme's messages queued or being handled never passed its limit (and the flood reached it).
    expect(result.mostQueued).toBeLessThanOrEqual(LIMIT)
    expect(result.mostQueued).toBeGreaterThanOrEqual(LIMIT - BATCH)
    // Every message sent (answered 200 at last) is in the warehouse exactly once.
    const rows = yield* warehouse.query<{ tenant: string; message_id: string; n: string | number }>(
      "SELECT tenant, message_id, count() AS n FROM event_rows GROUP BY tenant, message_id")
    const expected = [...Array.from({ length: 16 }, (_, k) => Array.from({ length: BATCH }, (_, i) => `acme a${k >> 2}-${k & 3}-${i}`)).flat(), "globex g-0"]
    expect(rows.map((r) => `${r.tenant} ${r.message_id}`).sort()).toEqual(expected.sort())
    expect(rows.filter((r) => Number(r.n) !== 1)).toEqual([])
    expect(pipeline.counters.landed).toBe(expected.length)
  })).pipe(Effect.provide(layer), Effect.provide(Logger.layer([]))))
}, 120_000)
