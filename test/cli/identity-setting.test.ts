// CDP_IDENTITY: "off" runs the pipeline without identity resolution (the bench measures what identity costs with
// it); a value other than on/off is one line naming the variable.
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { REPO_ROOT, runCdp } from "../support/cli.ts"
import { landed } from "../support/landed.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const SAMPLE = join(REPO_ROOT, "ingest/samples/web.ndjson")

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

/** What landed is read in this process: the test is about the pipeline's setting, and a cdp process costs seconds. */
const observationsAfterIngest = async (dataDir: string, identity: string) => {
  const ingest = runCdp(["ingest", "--source", "segment", SAMPLE, "--data-dir", dataDir], { env: { CDP_IDENTITY: identity } })
  expect(ingest.stderr).toBe("")
  const [counts] = await landed<{ events: string; observations: string }>(dataDir,
    "SELECT (SELECT count() FROM events) AS events, (SELECT count() FROM identity_observations) AS observations")
  return counts!
}

describe("CDP_IDENTITY", () => {
  it("off lands every event without resolving identity; on resolves them", async () => {
    const off = await observationsAfterIngest(join(dir, "off"), "off")
    const on = await observationsAfterIngest(join(dir, "on"), "on")
    expect(Number(off.events)).toBeGreaterThan(1000)
    expect(off).toEqual({ events: off.events, observations: "0" })
    expect(on).toEqual({ events: off.events, observations: off.events })
  }, 120_000)

  it("a value other than on or off is one line naming the variable, exit 1", () => {
    const r = runCdp(["ingest", "--source", "segment", SAMPLE, "--data-dir", join(dir, "bad")], { env: { CDP_IDENTITY: "maybe" } })
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/^cdp: CDP_IDENTITY must be on or off .*\n$/)
    expect(r.stderr.split("\n")).toHaveLength(2)
  })
})
