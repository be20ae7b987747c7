// Issue 4's acceptance: the whole dev data set lands through the connectors, each item once, and every invalid
// line is a dead letter with its reason. Issue 12's: identity resolution scored with the data set's own scorer.
import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type CdpResult, runCdpAsync } from "../support/cli-async.ts"
import { landed as read } from "../support/landed.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { SHARED_DIR, SIGNALS_DEV } from "../support/shared.ts"

/** The tenant's phone regions: the dev set's people write US and UK numbers without a country code. */
const ENV = { CDP_PHONE_REGIONS: "US,GB" }

const SOURCES: ReadonlyArray<[string, string]> = [
  ["segment", "web.ndjson"], ["segment", "invalid.ndjson"], ["sendgrid", "email-events.json"], ["email", "email-inbound"],
  ["chat", "chat.ndjson"], ["twitter", "tweets.json"], ["calls", "calls.csv"],
]

/** Each source's `cdp ingest` into `dataDir`, one after another, in the order given. */
const land = async (dataDir: string, sources: ReadonlyArray<[string, string]>) => {
  const results: Array<[string, string, CdpResult]> = []
  for (const [source, file] of sources) {
    results.push([source, file, await runCdpAsync(["ingest", "--source", source, join(SIGNALS_DEV, file), "--data-dir", dataDir], { env: ENV })])
  }
  return results
}

let dir: string
/** The same sources landed in reverse order into a data dir of their own (the order-independence test's). */
let reversed: Array<[string, string, CdpResult]>
beforeAll(async () => {
  dir = freshDir()
  // The two landings are processes on two data dirs: they run at once (each is mostly waiting on its engine).
  const [forward, reverse] = await Promise.all([land(join(dir, "data"), SOURCES), land(join(dir, "reverse"), [...SOURCES].reverse())])
  reversed = reverse
  for (const [source, file, r] of forward) {
    // invalid.ndjson is every line refused: `cdp ingest` says nothing landed (exit 1).
    expect(r.stderr, `${source} ${file}`).toMatch(file === "invalid.ndjson" ? /^cdp: .*nothing landed: all 54 items were rejected/ : /^$/)
    // Each says what it landed: a file of the set lands something, the broken one nothing.
    expect(r.stdout, `${source} ${file}`).toMatch(file === "invalid.ndjson" ? /: 0 accepted \(0 landed, 0 duplicates\), 54 rejected/ : /: [1-9]\d* accepted \([1-9]\d* landed, /)
  }
}, 240_000)
afterAll(() => removeDir(dir))

/**
 * What landed, read in this process: these tests are about the connectors and identity, not `cdp query` (test/cli/
 * commands.test.ts), and a cdp process costs seconds of start-up each.
 */
const query = <T>(sql: string, dataDir = join(dir, "data")) => read<T>(dataDir, sql)

describe("the whole dev data set through the connectors", () => {
  it("lands every item id of truth/items.ndjson as a message_id exactly once, with its channel, and nothing else", async () => {
    const truth = readFileSync(join(SIGNALS_DEV, "truth/items.ndjson"), "utf8").trim().split("\n")
      .map((l) => JSON.parse(l) as { item_id: string; channel: string })
    const landed = await query<{ message_id: string; channel: string; n: string }>(
      "SELECT message_id, any(channel) AS channel, count() AS n FROM events GROUP BY message_id")
    expect(landed.filter((r) => r.n !== "1")).toEqual([])
    const byId = new Map(landed.map((r) => [r.message_id, r.channel]))
    expect(landed.length).toBe(truth.length)
    expect(truth.filter((t) => byId.get(t.item_id) !== t.channel)).toEqual([])
  })

  it("keeps every line of invalid.ndjson as a dead letter with its reason, and nothing else", async () => {
    const kinds = readFileSync(join(SIGNALS_DEV, "truth/invalid.ndjson"), "utf8").trim().split("\n")
      .map((l) => (JSON.parse(l) as { kind: string }).kind)
    const dead = await query<{ rule: string; reason: string }>("SELECT rule, reason FROM dead_letters ORDER BY rule")
    expect(dead.map((d) => d.rule).sort()).toEqual([...kinds].sort())
    for (const d of dead) expect(d.reason).toMatch(/^line \d+: /)
  })

  it("scores every customer text or marks it unscored with a reason", async () => {
    const [texts] = await query<{ texts: string; scored: string; unscored_without_reason: string }>(
      "SELECT (SELECT count() FROM texts) AS texts, (SELECT count() FROM sentiment FINAL) AS scored, " +
      "(SELECT countIf(status = 'unscored' AND reason = '') FROM sentiment FINAL) AS unscored_without_reason")
    expect(Number(texts!.texts)).toBeGreaterThan(1000)
    expect(texts!.scored).toBe(texts!.texts)
    expect(texts!.unscored_without_reason).toBe("0")
  })

  it("resolves one profile per person: scored by the data set's scorer, precision >= 0.996, recall >= 0.91, at most 2 people a profile", async () => {
    const mapping = join(dir, "mapping.ndjson")
    const rows = await query<{ item_id: string; profile_id: string }>("SELECT message_id AS item_id, profile_id FROM events")
    writeFileSync(mapping, rows.map((r) => JSON.stringify(r)).join("\n") + "\n")
    const scored = spawnSync(process.execPath, [join(SHARED_DIR, "data/signals/score.mjs"), "--truth", join(SIGNALS_DEV, "truth"), "--json", mapping], { encoding: "utf8" })
    expect(scored.status, scored.stderr).toBe(0)
    const score = JSON.parse(scored.stdout) as Record<string, unknown>
    console.log(`identity on the dev set: ${JSON.stringify(score)}`)
    expect(score).toMatchObject({ missing: 0 })
    expect(Number(score["precision"])).toBeGreaterThanOrEqual(0.996)
    expect(Number(score["recall"])).toBeGreaterThanOrEqual(0.91)
    expect(Number(score["max_persons_per_profile"])).toBeLessThanOrEqual(2)
  })
})

describe("identity resolution does not depend on the order of ingestion", () => {
  it("ingesting the sources in reverse order gives the same clustering", async () => {
    const reverse = join(dir, "reverse")
    // Landed by beforeAll, at the same time as the forward order.
    expect(reversed.map(([source, file]) => `${source} ${file}`)).toEqual([...SOURCES].reverse().map(([source, file]) => `${source} ${file}`))
    for (const [source, file, r] of reversed) {
      expect(r.stderr, `${source} ${file}`).toMatch(file === "invalid.ndjson" ? /nothing landed/ : /^$/)
    }
    const clustering = async (dataDir: string) =>
      (await query<{ ids: Array<string> }>("SELECT arraySort(groupArray(message_id)) AS ids FROM events GROUP BY profile_id", dataDir))
        .map((r) => r.ids.join(",")).sort()
    const forward = await clustering(join(dir, "data"))
    expect(forward.length).toBeGreaterThan(1000)
    expect(await clustering(reverse)).toEqual(forward)
  }, 240_000)
})
