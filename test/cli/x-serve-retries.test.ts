// cdp serve's X search stopped for good at its first failed pass: a rate limit X said would last past any window, or an
// outage longer than the client's retries, logged "x search stopped" and no query was asked again until a restart.
// Such a pass is now logged and tried again at the next poll (CDP_X_POLL_SECONDS); a wrong token still stops it.
import type { Server } from "node:http"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type ServeProcess, startServe } from "../support/cli.ts"
import { listen } from "../support/local-server.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const X_ENV = ["CDP_X_BEARER_TOKEN", "CDP_X_QUERIES", "CDP_X_RULES", "CDP_X_API_BASE", "CDP_X_POLL_SECONDS"] as const
const SPENT_TILL_3000 = { "content-type": "application/json", "x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": "32503680000" }
let dir: string
let server: Server | undefined
let serve: ServeProcess | undefined
beforeEach(() => { dir = freshDir() })
afterEach(async () => {
  await serve?.stop()
  serve = undefined
  for (const name of X_ENV) delete process.env[name]
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))
  server = undefined
  removeDir(dir)
})

describe("cdp serve's X connectors after a failed pass", () => {
  it("ask X again at the next poll (search and the stream's rule sync), and the bearer token is in no log line", async () => {
    let searches = 0
    let ruleReads = 0
    let streams = 0
    const started = await listen((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname
      const json = (body: unknown) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body))
      // Each endpoint's first answer: spent until the year 3000; the client refuses to wait that long, so the pass fails.
      if (path === "/2/tweets/search/recent") {
        if (searches++ === 0) return res.writeHead(429, SPENT_TILL_3000).end(JSON.stringify({ title: "Too Many Requests" }))
        return json({ meta: { result_count: 0 } })
      }
      if (path === "/2/tweets/search/stream/rules" && req.method === "GET") {
        if (ruleReads++ === 0) return res.writeHead(429, SPENT_TILL_3000).end(JSON.stringify({ title: "Too Many Requests" }))
        return json({ meta: { result_count: 0 } })
      }
      if (path === "/2/tweets/search/stream/rules") return json({ data: [{ id: "1", value: "coffee" }], meta: { summary: { created: 1 } } })
      streams++
      res.writeHead(200, { "content-type": "application/json" }).write("\r\n")
    })
    server = started.server
    Object.assign(process.env, {
      CDP_X_BEARER_TOKEN: "serve-secret-token", CDP_X_QUERIES: '["coffee"]', CDP_X_RULES: '["coffee"]', CDP_X_API_BASE: started.url, CDP_X_POLL_SECONDS: "1",
    })
    serve = await startServe(["--data-dir", join(dir, "data")])
    const until = Date.now() + 15_000
    while ((searches < 3 || streams < 1) && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
    expect(searches).toBeGreaterThanOrEqual(3)
    expect([ruleReads, streams]).toEqual([2, 1])
    expect(serve.stdout()).toContain("trying again at the next poll")
    expect(serve.stdout()).not.toContain("serve-secret-token")
  })
})
