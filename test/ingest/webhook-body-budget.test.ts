// The webhook bodies the collector holds at once are bounded: past the budget a large post is answered 503
// server_busy before its body is read. Seen probing cdp serve (a heap of 512 MB): 60 webhook posts of 10 MB sent at
// once from two write keys of one tenant ran the process out of memory ("FATAL ERROR: Reached heap limit"): every
// tenant's requests failed, the server was gone. With the default heap the same needs some hundreds of posts, which
// 800 connections (100 a key) allow. The budget is shared fairly: seen probing cdp serve with two tenants, one
// tenant's flood of 10 MB posts held all of it, and another tenant's one 5 MB post was answered 503.
import { request } from "node:http"
import { Effect, Layer, Logger } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import { Collector } from "../../ingest/collector.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, removeDir, TEST_KEYS, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const MB = 1024 * 1024
const THIRD_TENANT_KEY = "wk_third_key"

const withCollector = <A>(program: (url: string) => Promise<A>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const collector = yield* Collector
    return yield* Effect.promise(() => program(collector.url))
  })).pipe(
    Effect.provide(Collector.layer({
      port: 0, host: "127.0.0.1", writeKeys: writeKeys([...TEST_KEYS, { writeKey: THIRD_TENANT_KEY, tenant: "initech" }]), maxWebhookBodyBytes: 20 * MB,
    }).pipe(Layer.provideMerge(pipelineLayer(backendConfig(dir))))),
    Effect.provide(Logger.layer([])),
  ))

type Answer = { status: number; body: Record<string, unknown>; retryAfter: string | undefined }

/** A SendGrid post of about `bytes`, its headers sent now and its body when `send` is called. */
const openPost = (url: string, key: string, bytes: number) => {
  const body = JSON.stringify([{ email: "a@x.example", event: "open", sg_event_id: `e-${Math.random()}`, timestamp: 1_725_000_000, pad: "x".repeat(bytes) }])
  const req = request(`${url}/v1/webhooks/sendgrid`, {
    method: "POST", headers: { authorization: basicAuth(key), "content-type": "application/json", "content-length": Buffer.byteLength(body) },
  })
  let answered: Answer | undefined
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on("response", (res) => {
      let text = ""
      res.on("data", (c: Buffer) => { text += c.toString() })
      res.on("end", () => resolve(answered = { status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown>, retryAfter: res.headers["retry-after"] as string | undefined }))
    })
    req.on("error", reject)
  })
  req.flushHeaders()
  return { answer, answered: () => answered, send: () => req.end(body), drop: () => req.destroy() }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("webhooks: bodies held at once", () => {
  it("answers a large post past the budget 503 server_busy before its body comes, and takes it again once there is room", () =>
    withCollector(async (url) => {
      const first = [openPost(url, WRITE_KEY, 9 * MB), openPost(url, OTHER_TENANT_KEY, 9 * MB)]
      await pause(500)
      // 18 MB held by two tenants: a third tenant's 9 MB would pass the 20 MB, and is refused with no body sent.
      const third = openPost(url, THIRD_TENANT_KEY, 9 * MB)
      const refused = await third.answer
      expect(refused.status).toBe(503)
      expect(refused.body).toMatchObject({ success: false, rule: "server_busy" })
      expect(refused.retryAfter).toMatch(/^\d+$/)
      third.drop()
      // A small post is never held back.
      const small = await fetch(`${url}/v1/track`, { method: "POST", headers: { authorization: basicAuth(THIRD_TENANT_KEY), "content-type": "application/json" }, body: '{"userId":"g","event":"e"}' })
      expect(small.status).toBe(200)
      for (const p of first) p.send()
      expect((await Promise.all(first.map((p) => p.answer))).map((a) => a.status)).toEqual([200, 200])
      const again = openPost(url, THIRD_TENANT_KEY, 9 * MB)
      again.send()
      expect((await again.answer).status).toBe(200)
    }), 120_000)

  it("keeps room for another tenant's post while one tenant floods: the flooding tenant's own posts are refused", () =>
    withCollector(async (url) => {
      const flood = Array.from({ length: 4 }, () => openPost(url, WRITE_KEY, 6 * MB))
      await pause(1000)
      const refused = flood.filter((p) => p.answered() !== undefined)
      // globex's one post of 9 MB is not refused: its headers are taken, and it waits for its body.
      const other = openPost(url, OTHER_TENANT_KEY, 9 * MB)
      const early = await Promise.race([other.answer, pause(1000).then(() => undefined)])
      expect(early).toBeUndefined()
      // acme's own posts past its share are refused, naming it.
      expect(refused.length).toBeGreaterThan(0)
      for (const p of refused) expect(p.answered()!.body).toMatchObject({ success: false, rule: "server_busy", error: expect.stringContaining("tenant acme") })
      other.send()
      expect(await other.answer).toMatchObject({ status: 200, body: { success: true, accepted: 1 } })
      // What acme was let hold lands whole.
      const held = flood.filter((p) => !refused.includes(p))
      expect(held.length).toBeGreaterThan(0)
      for (const p of held) p.send()
      for (const p of refused) p.drop()
      expect((await Promise.all(held.map((p) => p.answer))).map((a) => a.status)).toEqual(held.map(() => 200))
    }), 120_000)
})
