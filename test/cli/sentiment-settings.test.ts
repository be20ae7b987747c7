// The sentiment settings (CDP_BRAND_TERMS, CDP_ASPECTS_FILE, CDP_TERMS_FILE, CDP_ALERT_WEBHOOK_URL) are read through
// cli/config.ts: a wrong value is one line naming the variable, exit 1; a right one reaches the scorer; a .env file
// in the working directory is not read.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { REPO_ROOT, runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const UNSET = { CDP_BRAND_TERMS: undefined, CDP_ASPECTS_FILE: undefined, CDP_TERMS_FILE: undefined, CDP_ALERT_WEBHOOK_URL: undefined, CDP_ALERT_WEBHOOK_PRIVATE_NETWORK: undefined }

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

const score = (text: string, env: Record<string, string | undefined>, cwd?: string) =>
  runCdp(["sentiment", "score"], { input: `${text}\n`, env: { ...UNSET, ...env }, ...(cwd === undefined ? {} : { cwd }) })

const expectOneLine = (r: { status: number | null; stderr: string; stdout: string }, variable: string, problem: RegExp) => {
  expect(r.status).toBe(1)
  expect(r.stdout).toBe("")
  expect(r.stderr.split("\n")).toHaveLength(2)
  expect(r.stderr).toMatch(new RegExp(`^cdp: ${variable} must be `))
  expect(r.stderr).toMatch(problem)
}

describe("sentiment settings through the real CLI", () => {
  it("a missing or malformed CDP_ASPECTS_FILE is one line naming the variable and the file, exit 1", () => {
    expectOneLine(score("the fit is great", { CDP_ASPECTS_FILE: "/nonexistent/aspects.json" }), "CDP_ASPECTS_FILE", /cannot read \/nonexistent\/aspects\.json: ENOENT/)
    const file = join(dir, "aspects.json")
    writeFileSync(file, JSON.stringify({ acme: { loyalty: [] } }))
    expectOneLine(score("the fit is great", { CDP_ASPECTS_FILE: file }), "CDP_ASPECTS_FILE", /"acme"\."loyalty" must be a non-empty list/)
  })

  it("a malformed CDP_TERMS_FILE is one line naming the variable, exit 1, for scoring and for ingest alike", () => {
    const file = join(dir, "terms.json")
    writeFileSync(file, JSON.stringify({ acme: { "big deal": 9 } }))
    expectOneLine(score("a big deal", { CDP_TERMS_FILE: file }), "CDP_TERMS_FILE", /"acme"\."big deal" must be a number from -4 to 4/)
    const ingest = runCdp(["ingest", "--source", "segment", join(REPO_ROOT, "ingest/samples/web.ndjson"), "--data-dir", join(dir, "ingest")],
      { env: { ...UNSET, CDP_TERMS_FILE: "{not a file}" } })
    expectOneLine(ingest, "CDP_TERMS_FILE", /cannot read \{not a file\}/)
  })

  it("a CDP_ALERT_WEBHOOK_URL that is not an http(s) URL is one line naming the variable, exit 1", () => {
    const r = runCdp(["listen", "report", "--data-dir", join(dir, "listen")], { env: { ...UNSET, CDP_ALERT_WEBHOOK_URL: "hooks.example/alerts" } })
    expectOneLine(r, "CDP_ALERT_WEBHOOK_URL", /not an http\(s\) URL/)
  })

  it("a CDP_ALERT_WEBHOOK_PRIVATE_NETWORK that is not true or false is one line naming the variable, exit 1", () => {
    const r = runCdp(["listen", "report", "--data-dir", join(dir, "listen")], { env: { ...UNSET, CDP_ALERT_WEBHOOK_URL: "https://hooks.example/alerts", CDP_ALERT_WEBHOOK_PRIVATE_NETWORK: "yes please" } })
    expectOneLine(r, "CDP_ALERT_WEBHOOK_PRIVATE_NETWORK", /true or false/)
  })

  it("the terms and aspects files and the brand terms reach the scorer", () => {
    const terms = join(dir, "shop-terms.json")
    writeFileSync(terms, JSON.stringify({ "*": { "killer heels": 0 } }))
    const aspects = join(dir, "shop-aspects.json")
    writeFileSync(aspects, JSON.stringify({ "*": { loyalty: ["reward points"] } }))
    const plain = JSON.parse(score("I ordered the killer heels", {}).stdout) as { label: string }
    expect(plain.label).toBe("negative")
    const configured = score("I ordered the killer heels", { CDP_TERMS_FILE: terms })
    expect(configured.stderr).toBe("")
    expect(JSON.parse(configured.stdout)).toMatchObject({ score: 0 })
    const withAspects = JSON.parse(score("my reward points vanished, awful", { CDP_ASPECTS_FILE: aspects }).stdout) as { aspects: Array<{ aspect: string }> }
    expect(withAspects.aspects.map((a) => a.aspect)).toEqual(["loyalty"])
    expect(JSON.parse(score("Killer Heels Co is here", {}).stdout)).toMatchObject({ label: "negative" })
    expect(JSON.parse(score("Killer Heels Co is here", { CDP_BRAND_TERMS: "Killer Heels Co" }).stdout)).toMatchObject({ score: 0 })
  })

  it("a .env file in the working directory does not change a setting", () => {
    writeFileSync(join(dir, ".env"), "CDP_ASPECTS_FILE=/nonexistent/aspects.json\n")
    const r = score("the jacket is great", {}, dir)
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ label: "positive" })
  })
})
