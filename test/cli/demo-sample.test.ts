// The bundled demo sample: it is exactly what its generator writes, it is ours (nothing shipped knows the shared
// synthetic data set), and `cdp demo` lands every channel of it, showing one customer across all of them.
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { generateSample, invalidRules, SAMPLE_FILES, WEB_MESSAGES } from "../../ingest/samples/generate.ts"
import { REPO_ROOT, runCdp } from "../support/cli.ts"
import { landed } from "../support/landed.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { SHARED_DIR } from "../support/shared.ts"

const SAMPLES = join(REPO_ROOT, "ingest/samples")
const SHIPPED = ["ingest", "identity", "consent", "sentiment", "warehouse", "cli", "bin"]

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

const filesUnder = (root: string): Array<string> =>
  readdirSync(root, { recursive: true, encoding: "utf8" }).map((f) => join(root, f)).filter((f) => statSync(f).isFile())

/** The shared data set's brand and product names, as its generator defines them. */
const sharedSetNames = (): Array<string> => {
  const text = readFileSync(join(SHARED_DIR, "data/signals/lib/text.mjs"), "utf8")
  const products = [...text.matchAll(/\['[A-Z]{2}-\d+', '([^']+)'/g)].map((m) => m[1]!)
  expect(products.length).toBeGreaterThan(10)
  return ["lumen", ...products]
}

describe("the demo sample", () => {
  it("is byte for byte what `node ingest/samples/generate.ts` writes, and nothing else is in its folder", () => {
    const out = join(dir, "regenerated")
    spawnSync("mkdir", [out])
    const run = spawnSync(process.execPath, [join(SAMPLES, "generate.ts"), out], { encoding: "utf8" })
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
    const expected = generateSample()
    expect(readdirSync(out).sort()).toEqual([...expected.keys()].sort())
    for (const [name, text] of expected) {
      expect(readFileSync(join(out, name), "utf8"), `${name} as the script writes it`).toBe(text)
      expect(readFileSync(join(SAMPLES, name), "utf8"), `ingest/samples/${name} is stale: run node ingest/samples/generate.ts`).toBe(text)
    }
    expect(readdirSync(SAMPLES).sort()).toEqual([...expected.keys(), "generate.ts"].sort())
  })

  it("stays small: a few hundred people, the fixed number of web messages, under 1.6 MB in all", () => {
    const sample = generateSample()
    const web = sample.get("web.ndjson")!.trimEnd().split("\n").map((l) => JSON.parse(l) as { anonymousId: string })
    expect(web).toHaveLength(WEB_MESSAGES)
    expect(new Set(web.map((m) => m.anonymousId)).size).toBeGreaterThan(200)
    const bytes = [...sample.values()].reduce((n, text) => n + Buffer.byteLength(text), 0)
    expect(bytes).toBeLessThan(1_600_000)
  })

  it("no shipped file names the shared data set's brand, domains or products", () => {
    const names = sharedSetNames()
    const found: Array<string> = []
    for (const root of SHIPPED) {
      for (const file of filesUnder(join(REPO_ROOT, root))) {
        const text = readFileSync(file, "utf8").toLowerCase()
        for (const name of names) if (text.includes(name.toLowerCase())) found.push(`${file.slice(REPO_ROOT.length)}: ${name}`)
      }
    }
    expect(found).toEqual([])
  })
})

describe("cdp demo", () => {
  it("lands every file of the sample, refuses each broken line for its stated rule, and names a customer seen on every channel", async () => {
    const data = join(dir, "demo")
    const r = runCdp(["demo", "--data-dir", data], { cwd: dir })
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    for (const { file, source } of SAMPLE_FILES) {
      const line = new RegExp(`  ${file}: (\\d+) accepted \\((\\d+) landed, 0 duplicates\\), (\\d+) rejected  \\[--source ${source}\\]`).exec(r.stdout)
      expect(line, file).not.toBeNull()
      const [accepted, landed, rejected] = line!.slice(1).map(Number)
      if (file === "invalid.ndjson") {
        expect([accepted, rejected]).toEqual([0, invalidRules().length])
      } else {
        expect([landed, rejected], file).toEqual([accepted, 0])
        expect(accepted, file).toBeGreaterThan(10)
      }
    }
    // The README's table of invalid.ndjson is what the pipeline says, line by line. (What landed is read in this
    // process: this test is about cdp demo, not cdp query, and each cdp process costs seconds of start-up.)
    const rules = await landed<{ reason: string; rule: string }>(data, "SELECT reason, rule FROM dead_letters ORDER BY toUInt32(extract(reason, '^line (\\\\d+):'))")
    expect(rules.map((x) => x.rule)).toEqual(invalidRules())
    expect(rules.map((x) => x.reason.split(":")[0])).toEqual(invalidRules().map((_, i) => `line ${i + 1}`))

    const email = /npx cdp profile show (\S+) --data-dir demo/.exec(r.stdout)?.[1]
    expect(email).toMatch(/@[a-z.]*example/)
    const profile = runCdp(["profile", "show", email!, "--format", "json", "--data-dir", data])
    expect(profile.stderr).toBe("")
    const view = JSON.parse(profile.stdout) as { channels: Record<string, number> }
    expect(Object.keys(view.channels).sort()).toEqual(["call", "chat", "email", "social", "web"])

    // Relationships are brought to the day after the sample's last event (not today, when all would be distant):
    // every profile has one, and the customer shown has evidence.
    const asOf = /How customers relate to the brand as of (\d{4}-\d{2}-\d{2}), the day after the last event/.exec(r.stdout)?.[1]
    const [last] = await landed<{ day: string }>(data, "SELECT toString(toDate(max(timestamp)) + 1) AS day FROM events")
    expect(asOf).toBe(last!.day)
    const [counts] = (await landed<{ n: string; unscored: string; types: string }>(data,
      "SELECT count() AS n, countIf(relationship_type = '') AS unscored, uniqExact(relationship_type) AS types FROM profiles")) as [{ n: string; unscored: string; types: string }]
    expect(Number(counts.unscored)).toBe(0)
    expect(Number(counts.types)).toBeGreaterThanOrEqual(3)
    const shown = [...r.stdout.matchAll(/│ (advocate|loyal_quiet|love_hate|at_risk|detractor|distant|new) +│ (\d+) +│/g)]
    expect(shown.map((m) => m[1])).toEqual(["advocate", "loyal_quiet", "love_hate", "at_risk", "detractor", "distant", "new"])
    expect(shown.reduce((n, m) => n + Number(m[2]), 0)).toBe(Number(counts.n))
    expect(r.stdout).toContain(`npx cdp relations explain ${email} --data-dir demo`)
    const explained = runCdp(["relations", "explain", email!, "--data-dir", data])
    expect(explained.stderr).toBe("")
    expect(explained.stdout).toMatch(new RegExp(`as of ${asOf}: [a-z_]+, health \\d+/100, churn risk 0\\.\\d\\d`))
  }, 120_000)
})
