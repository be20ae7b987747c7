// One tenant's flood of batches cannot fill the pipeline for every tenant: the messages a tenant has accepted and not
// yet landed (on Kafka: not yet acknowledged) are capped, and a post past the cap is answered 429 at once. Seen probing
// `cdp serve` (two tenants, in-process bus): tenant acme posting 100 batches at once of 2,500 messages (472 KB) for
// 25 s made globex's one-message POST /v1/batch wait 31,167 ms for 503 backend_timeout, then 503 not_ready ("topic
// events: the oldest of 150001 records has waited 45 s") for every tenant for a minute after; globex's profile reads
// took 8 s (the server held 1.7 GB). 20 such batches at once made globex's one message take 2.4-5.6 s.
import { Effect, Layer, Logger } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import { Collector, type CollectorOptions } from "../../ingest/collector.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, removeDir, TEST_KEYS, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withCollector = <A>(options: Partial<CollectorOptions>, program: (url: string) => Promise<A>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const collector = yield* Collector
    return yield* Effect.promise(() => program(collector.url))
  })).pipe(
    Effect.provide(Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS), ...options }).pipe(
      Layer.provideMerge(pipelineLayer(backendConfig(dir))))),
    Effect.provide(Logger.layer([])),
  ))

const batchOf = (prefix: string, n: number) =>
  JSON.stringify({ batch: Array.from({ length: n }, (_, i) => ({ type: "track", userId: `${prefix}-${i % 50}`, event: "Page Viewed", messageId: `${prefix}-${i}` })) })

const postBatch = async (url: string, key: string, body: string) => {
  const started = performance.now()
  const res = await fetch(`${url}/v1/batch`, { method: "POST", headers: { authorization: basicAuth(key), "content-type": "application/json" }, body })
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as Record<string, unknown>, ms: performance.now() - started }
}

it("a tenant's posts past its pending messages are answered 429 naming the limit, and another tenant's batch lands meanwhile", () =>
  withCollector({ maxPendingPerTenant: 3000 }, async (url) => {
    let flooding = true
    let mostPending = 0
    const watch = (async () => {
      while (flooding) {
        const health = (await (await fetch(`${url}/health`)).json()) as { backends: { bus: { pending: Record<string, number> } } }
        mostPending = Math.max(mostPending, health.backends.bus.pending["events"] ?? 0)
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
    const flood = Promise.all(Array.from({ length: 12 }, (_, i) => postBatch(url, WRITE_KEY, batchOf(`a${i}`, 1000))))
    await new Promise((r) => setTimeout(r, 100))
    const other = await postBatch(url, OTHER_TENANT_KEY, batchOf("b", 1))
    const answers = await flood
    flooding = false
    await watch

    expect(other.status).toBe(200)
    const refused = answers.filter((a) => a.status === 429)
    expect(answers.filter((a) => a.status === 200).length + refused.length).toBe(12)
    expect(refused.length).toBeGreaterThan(0)
    for (const r of refused) {
      expect(r.retryAfter).toMatch(/^\d+$/)
      expect(r.body).toMatchObject({ success: false, rule: "ingest_busy", limit: 3000 })
      expect(r.body["error"]).toMatch(/tenant acme .*3000 messages.*limit/)
    }
    // Never more of a tenant's messages waiting to land than its limit (globex's one besides).
    expect(mostPending).toBeLessThanOrEqual(3001)
    // Once they landed, the tenant is taken again.
    expect((await postBatch(url, WRITE_KEY, batchOf("again", 10))).status).toBe(200)
  }), 120_000)

it("a post of more messages than the limit lands when its tenant has none pending", () =>
  withCollector({ maxPendingPerTenant: 100 }, async (url) => {
    const alone = await postBatch(url, WRITE_KEY, batchOf("big", 500))
    expect(alone.status).toBe(200)
    expect(alone.body).toMatchObject({ accepted: 500 })
  }), 60_000)
