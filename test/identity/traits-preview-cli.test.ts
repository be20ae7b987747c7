// `cdp traits preview` on a data dir and, while `cdp serve` holds it, through the server's POST /v1/traits/preview
// with the same answer (it used to fail with "data dir ... in use by cdp serve").
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { removeDir } from "../support/pipeline.ts"
import { ingestedDataDir } from "../support/seeded-dir.ts"

let dir: string
let data: string

const messages = [
  ...[1, 2, 3].map((d) => ({
    type: "track", event: "Order Completed", messageId: `ann-${d}`, userId: "ann", timestamp: `2024-10-0${d}T10:00:00Z`, properties: { total: 10 * d, email: "ann@x.example" },
  })),
  { type: "track", event: "Order Completed", messageId: "bob-1", userId: "bob", timestamp: "2024-10-02T10:00:00Z", properties: { total: 5, email: "bob@x.example" } },
]

const cdp = (args: ReadonlyArray<string>) => runCdp([...args, "--data-dir", data])
const SPEND = '{"name":"spend","kind":"sum","events":["Order Completed"],"of":"properties.total"}'
const EMAIL = '{"name":"address","kind":"most_frequent","of":"properties.email"}'

beforeAll(() => {
  ({ dir, data } = ingestedDataDir(messages))
}, 60_000)
afterAll(() => removeDir(dir))

describe("cdp traits preview", () => {
  it("while cdp serve holds the data dir, previews through its API with the same answer, and a bad definition is named", async () => {
    const direct = [SPEND, EMAIL].map((d) => cdp(["traits", "preview", "--definition", d, "--sample", "5", "--format", "json"]))
    for (const d of direct) expect(d.stderr).toBe("")
    const directText = cdp(["traits", "preview", "--definition", SPEND])
    expect(directText.stdout).toContain('Computed trait "spend" (sum) over tenant default: 2 profiles')
    const badDirect = cdp(["traits", "preview", "--definition", '{"name":"x","kind":"sum"}'])
    const serve = await startServe(["--data-dir", data])
    try {
      const through = [SPEND, EMAIL].map((d) => cdp(["traits", "preview", "--definition", d, "--sample", "5", "--format", "json"]))
      for (const [i, t] of through.entries()) {
        expect(t.stderr).toBe("")
        expect(t.status).toBe(0)
        expect(JSON.parse(t.stdout)).toEqual(JSON.parse(direct[i]!.stdout))
      }
      expect(JSON.parse(through[0]!.stdout)).toMatchObject({ tenant: "default", profiles: 2, distribution: { type: "number", min: 5, max: 60 } })
      // The admin token of the data dir sees addresses: the same answer as on the data dir.
      expect(through[1]!.stdout).toContain("ann@x.example")
      expect(cdp(["traits", "preview", "--definition", SPEND]).stdout).toBe(directText.stdout)
      const bad = cdp(["traits", "preview", "--definition", '{"name":"x","kind":"sum"}'])
      expect(bad.status).toBe(1)
      expect(bad.stderr).toBe(badDirect.stderr)
      expect(bad.stderr).toMatch(/^cdp: --definition \/of: is needed by sum/)
    } finally {
      await serve.stop()
    }
  }, 120_000)

  it("its help no longer asks to stop cdp serve", () => {
    const help = runCdp(["traits", "preview", "--help"])
    expect(help.stdout).not.toMatch(/stop\s+cdp serve/)
    expect(help.stdout).toMatch(/through it/)
  })
})
