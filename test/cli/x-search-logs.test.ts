// The X connector's status lines (a retry, a rate-limit wait) went to a logger of their own (Effect.runFork in
// cli/social.ts): `cdp x-search` against an API that failed printed Effect's default multi-line pretty log
// ('[10:08:35.405] INFO (#14): x connector {' and six more lines per retry) on stdout, among the JSON summary lines
// scripts read, whatever the command's logger was; cdp serve logged them the same way among its JSON log lines. They
// now go through the command's logger: a command logs warnings and errors only (JSON lines, on stderr), so a run that
// recovers prints its summaries alone.
import { mkdirSync, writeFileSync } from "node:fs"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { dirname, join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdpAsync } from "../support/cli-async.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { searchStateKey } from "../../ingest/social/index.ts"

let dir: string
let server: http.Server | undefined
beforeEach(() => { dir = freshDir() })
afterEach(async () => {
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))
  server = undefined
  removeDir(dir)
})

describe("cdp x-search's connector status", () => {
  it("a retry that recovers prints only the JSON summaries: no pretty-printed log on stdout or stderr", async () => {
    let searches = 0
    server = http.createServer((req, res) => {
      if (req.url?.startsWith("/2/tweets/search/recent") === true && searches++ === 0) {
        res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ title: "Service Unavailable", status: 503 }))
        return
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ meta: { result_count: 0 } }))
    })
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve))
    const { port } = server.address() as AddressInfo
    const r = await runCdpAsync(["x-search", "--data-dir", join(dir, "data")], {
      env: { CDP_X_BEARER_TOKEN: "test-token", CDP_X_QUERIES: '["coffee"]', CDP_X_API_BASE: `http://127.0.0.1:${port}` },
    })
    expect(searches).toBeGreaterThanOrEqual(2)
    expect(r.stdout).not.toContain("x connector")
    for (const line of r.stdout.trim().split("\n").filter((l) => l !== "")) expect(() => JSON.parse(line)).not.toThrow()
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
  })

  it("a saved state it cannot read is one warning line on stderr (the pass starts over), and the summary on stdout", async () => {
    server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ meta: { result_count: 0 } }))
    })
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve))
    const { port } = server.address() as AddressInfo
    const state = join(dir, "data", "objects", searchStateKey("default", "coffee"))
    mkdirSync(join(dir, "data"), { mode: 0o700 })
    mkdirSync(dirname(state), { recursive: true })
    writeFileSync(state, "{\"version\":1,")
    const r = await runCdpAsync(["x-search", "--data-dir", join(dir, "data")], {
      env: { CDP_X_BEARER_TOKEN: "test-token", CDP_X_QUERIES: '["coffee"]', CDP_X_API_BASE: `http://127.0.0.1:${port}` },
    })
    expect(r.stderr.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: "WARN", message: "x connector", annotations: { kind: "state_reset", query: "coffee", reason: "not JSON" } }),
    ])
    expect(JSON.parse(r.stdout)).toMatchObject({ query: "coffee", pages: 1, resumed: false })
    expect(r.status).toBe(0)
  })
})
