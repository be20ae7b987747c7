// While `cdp serve` holds the data dir, `cdp replay`, `cdp sentiment rescore`, `cdp retention apply` and `cdp identity
// rebuild` run in the server (POST /v1/operations/..., followed until they end) with the same output as on the data dir itself. Before,
// each refused to run: "data dir ... is in use by cdp serve".
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10)

describe("operations through a running server", () => {
  it("replay, rescore, retention apply and identity rebuild go through cdp serve and report what they did", async () => {
    const data = join(dir, "data")
    expect(runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", data]).status).toBe(0)
    const serve = await startServe(["--data-dir", data])
    try {
      const replay = runCdp(["replay", "--from", day(-1), "--to", day(1), "--data-dir", data])
      expect(replay.stderr).toBe("")
      expect(replay.status).toBe(0)
      expect(replay.stdout).toContain("1509 accepted (0 landed, 1509 already there)")

      const rescore = runCdp(["sentiment", "rescore", "--since", "2020-01-01", "--data-dir", data])
      expect(rescore.stderr).toBe("")
      expect(rescore.stdout).toMatch(/^rescored \d+ texts with model \S+: \d+ scored, \d+ unscored\n$/)

      const retention = runCdp(["retention", "apply", "--format", "json", "--data-dir", data])
      expect(retention.stderr).toBe("")
      expect(JSON.parse(retention.stdout)).toMatchObject({ policy: expect.any(Object), tablesChanged: expect.any(Array), archiveDaysRemoved: 0 })

      const rebuild = runCdp(["identity", "rebuild", "--format", "json", "--data-dir", data])
      expect(rebuild.stderr).toBe("")
      const rebuilt = JSON.parse(rebuild.stdout) as { tenants: Array<{ tenant: string; messages: number; moved: number }> }
      expect(rebuilt.tenants).toEqual([expect.objectContaining({ tenant: "default", moved: 0 })])
      expect(rebuilt.tenants[0]!.messages).toBeGreaterThan(1000)

      // A wrong range is still refused before anything runs, naming the flag.
      const wrong = runCdp(["replay", "--from", day(1), "--to", day(-1), "--data-dir", data])
      expect(wrong.status).toBe(1)
      expect(wrong.stderr).toMatch(/^cdp: invalid replay range: --to .* must be after --from/)
    } finally {
      await serve.stop()
    }
  }, 180_000)
})
