// One tenant's webhook posts are read one at a time, and one arriving when its tenant is at its pending limit is
// answered 429 before it is parsed. Seen probing cdp serve: acme's 20 posts of 10,000 SendGrid events (10 MB each) sent
// at once were all parsed, 19 of them only to be answered 429 ingest_busy, holding the event loop up to 2.2 s (a
// request to a missing route waited 2,154 ms; globex's one-message track 3.6 s).
import { request } from "node:http"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { basicAuth, freshDir, OTHER_TENANT_KEY, post, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const cpuMs = () => {
  const { user, system } = process.threadCpuUsage()
  return (user + system) / 1000
}

/** Posts `bodies` at once: every request's headers are in (each past the check made before a body is read) before any body is sent. */
const postTogether = (url: string, key: string, bodies: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const requests = bodies.map(() => request(`${url}/v1/webhooks/sendgrid`, {
      method: "POST", headers: { authorization: basicAuth(key), "content-type": "application/json" },
    }))
    const answers = requests.map((req) => new Promise<number>((resolve, reject) => {
      req.on("response", (res) => { res.resume(); res.on("end", () => resolve(res.statusCode!)) })
      req.on("error", reject)
    }))
    for (const req of requests) req.flushHeaders()
    await new Promise((r) => setTimeout(r, 300))
    requests.forEach((req, i) => req.end(bodies[i]))
    return Promise.all(answers)
  })

const sendgridPost = (prefix: string, items = 10_000) => JSON.stringify(Array.from({ length: items }, (_, i) =>
  ({ email: `p${i}@x.example`, event: "open", sg_event_id: `${prefix}-${i}`, timestamp: 1_725_000_000 + i, note: "n".repeat(900) })))

describe("webhooks: a tenant's posts at its limit", () => {
  it("answers a tenant's posts past its pending limit 429 without parsing them", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        // What one post costs this thread, read and landed (globex's, alone), and one read only (one item too many: 413).
        let before = cpuMs()
        expect(yield* post(`${url}/v1/webhooks/sendgrid`, sendgridPost("g"), { authorization: basicAuth(OTHER_TENANT_KEY) }))
          .toEqual({ status: 200, body: { success: true, accepted: 10_000 } })
        const landed = cpuMs() - before
        before = cpuMs()
        expect((yield* post(`${url}/v1/webhooks/sendgrid`, sendgridPost("h", 10_001), { authorization: basicAuth(OTHER_TENANT_KEY) })).status).toBe(413)
        const parsed = cpuMs() - before
        // acme's 12 at once: one takes its 10,000 pending messages, the others find it full.
        const bodies = Array.from({ length: 12 }, (_, k) => sendgridPost(`a${k}`))
        const start = cpuMs()
        const statuses = yield* postTogether(url, WRITE_KEY, bodies)
        const flood = cpuMs() - start
        expect([...statuses].sort()).toEqual([200, ...Array(11).fill(429)])
        // Before: each of the 12 parsed, the 11 refused ones too (landed + 11 parsed).
        expect(flood).toBeLessThan(landed + 5 * parsed)
      })), 180_000)
})
