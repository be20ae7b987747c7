// `cdp dlq list|retry` while `cdp serve` holds the data dir: they go through its /v1/dead-letters route (before, both
// stopped on "data dir in use by cdp serve", so refused input could not be seen or re-driven without stopping it).
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCdp, type ServeProcess, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let serve: ServeProcess
beforeAll(async () => {
  dir = freshDir()
  serve = await startServe(["--data-dir", dir, "--write-key", "wk_dlq=default"])
}, 60_000)
afterAll(async () => {
  await serve.stop()
  removeDir(dir)
})

describe("cdp dlq through a running cdp serve", () => {
  it("lists what the server refused and re-drives it through the server's pipeline", async () => {
    const res = await fetch(`${serve.url}/v1/batch`, {
      method: "POST", headers: { authorization: `Basic ${Buffer.from("wk_dlq:").toString("base64")}`, "content-type": "application/json" },
      body: JSON.stringify({ batch: [{ type: "track", userId: "u1", messageId: "m-bad", timestamp: "not a time", event: "E" }] }),
    })
    expect(res.status).toBe(400)
    let listed: Array<Record<string, unknown>> = []
    for (let i = 0; i < 100 && listed.length === 0; i++) {
      const r = runCdp(["dlq", "list", "--format", "json", "--data-dir", dir])
      expect(r.stderr).toBe("")
      listed = r.stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>)
      if (listed.length === 0) await new Promise((r) => setTimeout(r, 100))
    }
    expect(listed.map((l) => [l["rule"], l["status"]])).toEqual([["bad_timestamp", "open"]])
    const retried = runCdp(["dlq", "retry", "--rule", "bad_timestamp", "--data-dir", dir])
    expect(retried.stderr).toBe("")
    expect(retried.stdout).toContain("retried 1 dead letters: 0 landed, 1 still rejected")
    expect(retried.stdout).toContain("still rejected: segment bad_timestamp")
    const wrong = runCdp(["dlq", "list", "--since", "2024-02-30", "--data-dir", dir])
    expect(wrong.status).toBe(1)
  }, 120_000)

  it("retries through the server with the server's source settings: a wrong CDP_SOURCE_OPTIONS in the CLI's shell is not read", async () => {
    const res = await fetch(`${serve.url}/v1/batch`, {
      method: "POST", headers: { authorization: `Basic ${Buffer.from("wk_dlq:").toString("base64")}`, "content-type": "application/json" },
      body: JSON.stringify({ batch: [{ type: "track", userId: "u2", messageId: "m-bad-2", timestamp: "still not a time", event: "E" }] }),
    })
    expect(res.status).toBe(400)
    const wrongShell = { CDP_SOURCE_OPTIONS: '{"social":{"timeZone":"Mars/Olympus"}}' }
    let retried = runCdp(["dlq", "retry", "--rule", "bad_timestamp", "--data-dir", dir], { env: wrongShell })
    // The server records the dead letter after its answer: wait until the retry finds it.
    for (let i = 0; i < 100 && retried.status === 0 && retried.stdout.startsWith("retried 0 "); i++) {
      await new Promise((r) => setTimeout(r, 100))
      retried = runCdp(["dlq", "retry", "--rule", "bad_timestamp", "--data-dir", dir], { env: wrongShell })
    }
    expect(retried.stderr).toBe("")
    expect(retried.status).toBe(0)
    expect(retried.stdout).toMatch(/^retried [1-9]\d* dead letters: 0 landed, [1-9]\d* still rejected\n/)
    // Working on a data dir itself, the CLI re-drives with its own settings, so there it still refuses them.
    const other = freshDir()
    try {
      const direct = runCdp(["dlq", "retry", "--data-dir", other], { env: wrongShell })
      expect(direct.status).toBe(1)
      expect(direct.stderr).toContain("CDP_SOURCE_OPTIONS")
      expect(direct.stderr).toContain("Mars/Olympus")
    } finally {
      removeDir(other)
    }
  }, 120_000)
})
