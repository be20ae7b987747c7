// Issue 14's measure on a small generated variant (--people 600): land it with `cdp ingest`, compute the
// relationships, read them from `profiles` as the scorer does, and score them with the data set's own scorer. The
// thresholds sit below what the small set gives (F1 0.902, AUC 0.869, models trained on twenty seeds scored by
// sentiment lexicon-4) and the lowest the full-size held-out runs give (F1 0.870, AUC 0.859 over five seeds none of
// the training used, the default mix and three others, README "Relational intelligence"). F1 0.86 and AUC 0.84, not
// higher: training on eleven more seeds moved single full-size sets by -0.004 to +0.032, one more signal by up to
// 0.011, landing them again with a newer resolver by up to 0.007, a new sentiment model with trees refitted by -0.001
// to +0.014.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCdpAsync as runCdp, runNodeAsync } from "../../support/cli-async.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { SHARED_DIR } from "../../support/shared.ts"

const SIGNALS = join(SHARED_DIR, "data", "signals")
const ENV = { CDP_PHONE_REGIONS: "US,GB" }
const SOURCES: ReadonlyArray<readonly [string, string]> = [
  ["segment", "web.ndjson"], ["sendgrid", "email-events.json"], ["email", "email-inbound"], ["chat", "chat.ndjson"],
  ["twitter", "tweets.json"], ["calls", "calls.csv"],
]

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

/** Generates the variant (optionally cut), lands it, computes as of `asOf` and scores it; returns the scorer's output. */
const measure = async (name: string, asOf: string, cut: boolean): Promise<string> => {
  const set = join(dir, name)
  const data = join(dir, `${name}-data`)
  const gen = await runNodeAsync([join(SIGNALS, "relational.mjs"), "--out", set, "--people", "600", ...(cut ? ["--until", asOf] : [])])
  expect(gen.status, gen.stderr).toBe(0)
  for (const [source, file] of SOURCES) {
    const r = await runCdp(["ingest", "--source", source, join(set, file), "--data-dir", data], { env: ENV })
    expect(r.stderr, `${source} ${file}`).toBe("")
  }
  expect((await runCdp(["relations", "compute", "--as-of", asOf, "--data-dir", data])).stderr).toBe("")
  const map = await runCdp(["query", "SELECT message_id AS item_id, profile_id FROM events", "--data-dir", data])
  const pred = await runCdp(["query", "SELECT profile_id, relationship_type, churn_risk FROM profiles", "--data-dir", data])
  expect(map.stderr + pred.stderr).toBe("")
  writeFileSync(join(dir, `${name}-map.ndjson`), map.stdout)
  writeFileSync(join(dir, `${name}-pred.ndjson`), pred.stdout)
  const scored = await runNodeAsync([join(SIGNALS, "score-relational.mjs"), "--truth", join(set, "truth"),
    join(dir, `${name}-map.ndjson`), join(dir, `${name}-pred.ndjson`), ...(cut ? ["--cutoff", asOf] : [])])
  expect(scored.status, scored.stderr).toBe(0)
  console.log(`relations on the ${name} variant (--people 600):\n${scored.stdout}`)
  return scored.stdout
}

const figure = (output: string, name: string) => Number(new RegExp(`${name}=([0-9.]+)`).exec(output)?.[1] ?? NaN)

// The two measures run at once (it.concurrent, with the test context's expect): each generates, lands and scores a
// variant of its own in its own data dir, and a cdp process waits on its engine as much as it computes.
describe("relational intelligence on a generated variant", () => {
  it.concurrent("reads each customer's relationship over the whole window: macro F1 >= 0.86", async ({ expect }) => {
    const out = await measure("full", "2024-12-01", false)
    expect(figure(out, "relationship_macro_f1")).toBeGreaterThanOrEqual(0.86)
  }, 300_000)

  it.concurrent("ranks who will leave from the data up to the cut: churn ROC AUC >= 0.84", async ({ expect }) => {
    const out = await measure("cut", "2024-11-01", true)
    expect(figure(out, "churn_auc")).toBeGreaterThanOrEqual(0.84)
  }, 300_000)
})
