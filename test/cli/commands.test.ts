import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, it } from "vitest"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { KILLED_AFTER_MS, runCdpAsync } from "../support/cli-async.ts"
import { landed as landedNow } from "../support/landed.ts"
import { SIGNALS_DEV } from "../support/shared.ts"

const DEV = SIGNALS_DEV

// The tests run at once (it.concurrent, each with its own directory and the test context's expect): each is a few
// cdp processes one after another, which wait on their engine as much as they compute.
const dirs: Array<string> = []
afterAll(() => dirs.forEach(removeDir))
/** This test's own directory, removed after the file. */
const ownDir = () => {
  const dir = freshDir()
  dirs.push(dir)
  return dir
}
const runCdp = runCdpAsync

/**
 * A test's time limit when it runs `processes` cdp processes one after another. Each is CPU-bound for seconds and
 * shares 2 cores with the file's other tests (all at once) and other files, so a test's time grows with the load
 * (the whole file took 34 s alone and 160-460 s at load 12-46; three tests passed 60 s, each process only
 * computing, its wall time its CPU time over its share of the cores); a process that hangs is killed after
 * KILLED_AFTER_MS, which fails its test, and this limit leaves each process that long and the test's reads a minute.
 */
const within = (processes: number) => processes * KILLED_AFTER_MS + 60_000

/** An embedded warehouse is one per process at a time: reads in this process take turns. */
let reading: Promise<unknown> = Promise.resolve()
const landed = (dataDir: string, sql: string) => {
  const turn = reading.then(() => landedNow(dataDir, sql))
  reading = turn.catch(() => undefined)
  return turn
}

describe("cdp ingest", () => {
  it.concurrent("lands a Segment NDJSON file and prints accepted, rejected and duplicates", async ({ expect }) => {
    const dir = ownDir()
    const file = join(dir, "mixed.ndjson")
    writeFileSync(file, [
      JSON.stringify({ type: "track", event: "A", userId: "u1", messageId: "f1" }),
      "not json at all",
      JSON.stringify({ type: "track", event: "A", userId: "u1", messageId: "f1" }),
      "",
      JSON.stringify({ type: "page", anonymousId: "a1", messageId: "f2" }),
    ].join("\n"))
    const r = await runCdp(["ingest", "--source", "segment", file, "--data-dir", join(dir, "data")])
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    expect(r.stdout).toContain("3 accepted (2 landed, 1 duplicates), 1 rejected")
  }, within(1))

  it.concurrent("lands the whole shared dev web.ndjson and invalid.ndjson: every message once, every invalid line a dead letter", async ({ expect }) => {
    const dir = ownDir()
    const data = join(dir, "data")
    expect((await runCdp(["ingest", "--source", "segment", join(DEV, "web.ndjson"), "--data-dir", data])).stdout).toContain("7890 accepted (7890 landed")
    const invalid = await runCdp(["ingest", "--source", "segment", join(DEV, "invalid.ndjson"), "--data-dir", data])
    expect(invalid.stdout).toContain("0 accepted (0 landed, 0 duplicates), 54 rejected")
    expect(invalid.status).toBe(1)
    // Again: nothing new lands.
    expect((await runCdp(["ingest", "--source", "segment", join(DEV, "web.ndjson"), "--data-dir", data])).stdout).toContain("7890 accepted (0 landed, 7890 duplicates)")
    // What landed is read in this process (a cdp process costs seconds; cdp query has its own test below).
    expect(await landed(data, "SELECT (SELECT count() FROM events) AS events, (SELECT uniqExact(message_id) FROM events) AS ids, (SELECT count() FROM dead_letters) AS dead"))
      .toEqual([{ events: "7890", ids: "7890", dead: "54" }])
  }, within(3))

  it.concurrent("--dry-run validates a file, reports what would land and lands nothing", async ({ expect }) => {
    const dir = ownDir()
    const data = join(dir, "data")
    const r = await runCdp(["ingest", "--source", "segment", join(DEV, "invalid.ndjson"), "--dry-run", "--data-dir", data])
    // Nothing in it would land: a failure, so a script checking the file does not go on to land it.
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("nothing would land: all 54 items would be rejected")
    expect(r.stdout).toContain("0 would be accepted, 54 rejected")
    expect(r.stdout).toContain("rejected: missing_identity /userId")
    expect(existsSync(data)).toBe(false)
  }, within(1))

  it.concurrent("maps a call export's own column names with --source-options", async ({ expect }) => {
    const dir = ownDir()
    const file = join(dir, "twilio.csv")
    writeFileSync(file, 'CallSid,When,Secs,Dir,From,Rep,Line,Result,Transcript\r\nCA9,2024-09-16T09:28:50Z,60,inbound,07700 900123,Riley,Billing,resolved,"Great help, thanks"\r\n')
    const mapping = JSON.stringify({ columns: { call_id: "CallSid", started_at: "When", duration_s: "Secs", direction: "Dir", phone: "From", agent: "Rep", queue: "Line", outcome: "Result", notes: "Transcript" }, defaultCountry: "GB" })
    const data = join(dir, "data")
    const unmapped = await runCdp(["ingest", "--source", "calls", file, "--data-dir", data])
    expect(unmapped.stdout).toContain("0 accepted")
    const mapped = await runCdp(["ingest", "--source", "calls", file, "--source-options", mapping, "--data-dir", data])
    expect(mapped.stdout).toContain("1 accepted (1 landed")
    const [row] = await landed(data, "SELECT message_id, JSONExtractString(properties, 'phone_e164') AS e164 FROM events")
    expect(row).toEqual({ message_id: "CA9", e164: "+447700900123" })
  }, within(2))

  it.concurrent("fails with one clear line for a missing file or an unknown source", async ({ expect }) => {
    const dir = ownDir()
    const missing = await runCdp(["ingest", "--source", "segment", join(dir, "nope.ndjson"), "--data-dir", join(dir, "data")])
    expect(missing.status).toBe(1)
    expect(missing.stderr.trim()).toMatch(/^cdp: cannot read .*nope\.ndjson: no such file$/)
    const unknown = await runCdp(["ingest", "--source", "myspace", "x", "--data-dir", join(dir, "data")])
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toContain("myspace")
  }, within(2))
})

describe("cdp query", () => {
  it.concurrent("prints JSON lines by default and a table on request, and refuses writes", async ({ expect }) => {
    const dir = ownDir()
    const data = join(dir, "data")
    mkdirSync(data)
    await runCdp(["ingest", "--source", "segment", join(DEV, "invalid.ndjson"), "--data-dir", data])
    const json = await runCdp(["query", "SELECT rule, count() AS n FROM dead_letters GROUP BY rule ORDER BY rule LIMIT 2;", "--data-dir", data])
    expect(json.stdout.trim().split("\n").map((l) => JSON.parse(l))).toEqual([
      { rule: "anonymous_id_not_string", n: "1" }, { rule: "bad_timestamp", n: "7" },
    ])
    const table = await runCdp(["query", "SELECT 1 AS one", "--format", "table", "--data-dir", data])
    expect(table.stdout).toMatch(/│ one │/)
    const write = await runCdp(["query", "INSERT INTO events (tenant) VALUES ('x')", "--data-dir", data])
    expect(write.status).toBe(1)
    expect(write.stderr).toContain("only reading statements")
    const sneaky = await runCdp(["query", "SELECT 1; DROP TABLE events", "--data-dir", data])
    expect(sneaky.stderr).toContain("one statement")
    expect(sneaky.status).toBe(1)
  }, within(5))
})

describe("cdp demo and help", () => {
  it.concurrent("lands the bundled sample in a fresh dir and shows landed and rejected messages", async ({ expect }) => {
    const dir = ownDir()
    const r = await runCdp(["demo", "--data-dir", join(dir, "demo")])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain("web.ndjson: 1509 accepted (1509 landed, 0 duplicates), 0 rejected")
    expect(r.stdout).toContain("invalid.ndjson: 0 accepted (0 landed, 0 duplicates), 54 rejected")
    expect(r.stdout).toMatch(/missing_identity\s+│ 5/)
    expect(r.stdout).toContain("Try next:")
    // Runs again on its own directory, fresh.
    expect((await runCdp(["demo", "--data-dir", join(dir, "demo")])).stdout).toContain("1509 landed")
  }, within(2))

  it.concurrent("refuses to wipe a directory it did not make", async ({ expect }) => {
    const dir = ownDir()
    const precious = join(dir, "precious")
    mkdirSync(precious)
    writeFileSync(join(precious, "keep.txt"), "mine")
    const r = await runCdp(["demo", "--data-dir", precious])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("was not made by cdp demo")
  }, within(1))

  it.concurrent("lists every command with examples", async ({ expect }) => {
    const help = (await runCdp(["--help"])).stdout
    const examples = help.slice(help.indexOf("Examples"))
    for (const command of ["serve", "ingest", "x-search", "replay", "dlq", "sentiment score", "sentiment rescore", "listen report", "query", "demo"]) {
      expect(help).toContain(command.split(" ")[0])
      expect(examples).toContain(`cdp ${command}`)
    }
  }, within(1))
})
