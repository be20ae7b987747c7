// `cdp listen report` while `cdp serve` holds the data dir: the report comes from the server's
// GET /v1/listening/report (the embedded engine is the server's), the same JSON as on the data dir itself.
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { basicAuth, freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("cdp listen report through cdp serve", () => {
  it("reports what the running server landed, with --since and --until passed on", async () => {
    const data = join(dir, "data")
    const serve = await startServe(["--data-dir", data, "--write-key", "wk_listen"])
    try {
      const day = new Date(Date.now() - 86_400_000).toISOString()
      for (const [id, text] of [["l1", "love the new roast, great taste"], ["l2", "my order arrived broken and late"]]) {
        const res = await fetch(`${serve.url}/v1/webhooks/social`, {
          method: "POST", headers: { authorization: basicAuth("wk_listen"), "content-type": "application/json" },
          body: JSON.stringify({ id, network: "forum", author_handle: `a-${id}`, author_followers: 10, text, created_at: day }),
        })
        expect(res.status).toBe(200)
      }
      let report: { tenant: string; mentions: { total: number }; since: string } | undefined
      for (let i = 0; i < 60 && (report?.mentions.total ?? 0) < 2; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 500))
        const r = runCdp(["listen", "report", "--since", "7d", "--format", "json", "--no-alerts", "--data-dir", data])
        expect(r.status, r.stderr).toBe(0)
        report = JSON.parse(r.stdout) as typeof report
      }
      expect(report).toMatchObject({ tenant: "default", mentions: { total: 2 } })
      const none = runCdp(["listen", "report", "--since", "2020-01-01", "--until", "2020-01-31", "--format", "json", "--data-dir", data])
      expect(none.status, none.stderr).toBe(0)
      expect(JSON.parse(none.stdout)).toMatchObject({ since: "2020-01-01T00:00:00.000Z", mentions: { total: 0 } })
    } finally {
      expect(await serve.stop()).toBe(0)
    }
  }, 150_000)
})
