// The webhook bodies the collector holds at once are bounded: past the budget a large post is answered 503
// server_busy before its body is read. Seen probing cdp serve (a heap of 512 MB): 60 webhook posts of 10 MB sent at
// once from two write keys of one tenant ran the process out of memory ("FATAL ERROR: Reached heap limit"): every
// tenant's requests failed, the server was gone. With the default heap the same needs some hundreds of posts, which
// 800 connections (100 a key) allow.
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

const withCollector = <A>(program: (url: string) => Promise<A>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const collector = yield* Collector
    return yield* Effect.promise(() => program(collector.url))
  })).pipe(
    Effect.provide(Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS), maxWebhookBodyBytes: 20 * MB }).pipe(
      Layer.provideMerge(pipelineLayer(backendConfig(dir))))),
    Effect.provide(Logger.layer([])),
  ))

/** A SendGrid post of about `bytes`, its headers sent now and its body when `send` is called. */
const openPost = (url: string, key: string, bytes: number) => {
  const body = JSON.stringify([{ email: "a@x.example", event: "open", sg_event_id: `e-${Math.random()}`, timestamp: 1_725_000_000, pad: "x".repeat(bytes) }])
  const req = request(`${url}/v1/webhooks/sendgrid`, {
    method: "POST", headers: { authorization: basicAuth(key), "content-type": "application/json", "content-length": Buffer.byteLength(body) },
  })
  const answer = new Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | undefined }>((resolve, reject) => {
    req.on("response", (res) => {
      let text = ""
      res.on("data", (c: Buffer) => { text += c.toString() })
      res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown>, retryAfter: res.headers["retry-after"] as string | undefined }))
    })
    req.on("error", reject)
  })
  req.flushHeaders()
  return { answer, send: () => req.end(body), drop: () => req.destroy() }
}

describe("webhooks: bodies held at once", () => {
  it("answers a large post past the budget 503 server_busy before its body comes, and takes it again once there is room", () =>
    withCollector(async (url) => {
      const first = [openPost(url, WRITE_KEY, 9 * MB), openPost(url, WRITE_KEY, 9 * MB)]
      await new Promise((r) => setTimeout(r, 200))
      // 18 MB held: a third of 9 MB (another tenant's too) would pass the 20 MB, and is refused with no body sent.
      const third = openPost(url, OTHER_TENANT_KEY, 9 * MB)
      const refused = await third.answer
      expect(refused.status).toBe(503)
      expect(refused.body).toMatchObject({ success: false, rule: "server_busy" })
      expect(refused.retryAfter).toMatch(/^\d+$/)
      third.drop()
      // A small post is never held back.
      const small = await fetch(`${url}/v1/track`, { method: "POST", headers: { authorization: basicAuth(OTHER_TENANT_KEY), "content-type": "application/json" }, body: '{"userId":"g","event":"e"}' })
      expect(small.status).toBe(200)
      for (const p of first) p.send()
      expect((await Promise.all(first.map((p) => p.answer))).map((a) => a.status)).toEqual([200, 200])
      const again = openPost(url, OTHER_TENANT_KEY, 9 * MB)
      again.send()
      expect((await again.answer).status).toBe(200)
    }), 120_000)
})
