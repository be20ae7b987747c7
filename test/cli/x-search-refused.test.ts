// `cdp x-search` with two queries, the first refused by X (400, a query X cannot parse): the pass stopped at the
// first, so the second was never asked, and the error did not say which query X refused. Each query now gets its
// pass; the refused one is named in one line on stderr (exit 1) after the summaries of the others.
import type { Server } from "node:http"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdpAsync } from "../support/cli-async.ts"
import { listen } from "../support/local-server.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let server: Server | undefined
beforeEach(() => { dir = freshDir() })
afterEach(async () => {
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))
  server = undefined
  removeDir(dir)
})

describe("cdp x-search with a query X refuses", () => {
  it("polls the other queries, prints their summaries, and names the refused query in one line, exit 1", async () => {
    const asked: Array<string | null> = []
    const started = await listen((req, res) => {
      const query = new URL(req.url ?? "/", "http://x").searchParams.get("query")
      asked.push(query)
      if (query === "bad: x") {
        res.writeHead(400, { "content-type": "application/json" })
          .end(JSON.stringify({ title: "Invalid Request", detail: "One or more parameters to your request was invalid." }))
        return
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ meta: { result_count: 0 } }))
    })
    server = started.server
    const r = await runCdpAsync(["x-search", "--data-dir", join(dir, "data")], {
      env: { CDP_X_BEARER_TOKEN: "test-token", CDP_X_QUERIES: '["bad: x","coffee"]', CDP_X_API_BASE: started.url },
    })
    expect(asked).toEqual(["bad: x", "coffee"])
    const summaries = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { query: string; error?: string })
    expect(summaries.map((s) => [s.query, s.error === undefined])).toEqual([["bad: x", false], ["coffee", true]])
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^cdp: query "bad: x": X rejected GET tweets\/search\/recent \(400\)/)])
    expect(r.stderr).not.toContain("test-token")
    expect(r.status).toBe(1)
  })
})
