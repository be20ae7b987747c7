// A newcomer's mistakes (a wrong flag, environment variable, file or data dir) are one line naming what is wrong and
// how to fix it, exit 1, never a stack trace; a fresh data dir just works.
// A test's commands that touch no data dir (each is refused first) run a few at once (allLimited): a cdp process costs
// a second or two of start-up, and they answer the same in any order.
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { allLimited, runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** Each command (with `env` over this process's) refused in one line naming `names`; run a few at once. */
const refusedEach = async (cases: ReadonlyArray<readonly [ReadonlyArray<string>, string, Record<string, string>?]>) => {
  const results = await allLimited(cases.map(([args, , env]) => () => runCdpAsync(args, env === undefined ? {} : { env })))
  cases.forEach(([, names], i) => expectOneLineError(results[i]!, names))
}

describe("a newcomer's mistakes", () => {
  it("cdp --help offers help once (-h, --help), not also a help command", async () => {
    const runs = [["--help"], ["dlq", "--help"], ["identity", "--help"]]
    for (const r of await allLimited(runs.map((args) => () => runCdpAsync(args)))) {
      expect(r.status).toBe(0)
      expect(r.stdout.split("\n").filter((l) => l.includes("display help for command"))).toHaveLength(1)
    }
  })

  it("cdp, or a command group, without its command is one line naming the commands there are, exit 1", async () => {
    await refusedEach([
      [[], "serve"],
      [["dlq"], "list, retry"],
      [["identity"], "explain"],
      [["dlq", "bogus"], "unknown command 'bogus'"],
      [["bogus"], "unknown command 'bogus'"],
    ])
  })

  it("cdp serve --write-key K on a data dir that does not exist yet creates it and serves", async () => {
    const fresh = join(dir, "new", "deeper")
    const serve = await startServe(["--data-dir", fresh, "--write-key", "K"])
    const r = await fetch(`${serve.url}/health`)
    expect(r.status).toBe(200)
    expect(await serve.stop()).toBe(0)
    expect(existsSync(join(fresh, "admin-token"))).toBe(true)
  })

  it("a wrong flag is one line naming it, exit 1", async () => {
    const data = join(dir, "data")
    await refusedEach([
      [["serve", "--write-key", "k1=ac me", "--data-dir", data], 'tenant "ac me"'],
      [["serve", "--port", "abc", "--data-dir", data], "--port"],
      [["serve", "--allowed-origins", "shop.example", "--data-dir", data], "--allowed-origins"],
      [["dlq", "list", "--limit", "abc", "--data-dir", data], "--limit"],
      [["ingest", "--source", "calls", "x.csv", "--source-options", "{", "--data-dir", data], "--source-options"],
      [["replay", "--from", "soon", "--to", "later", "--data-dir", data], "--from"],
      [["listen", "report", "--since", "someday", "--data-dir", data], "someday"],
      [["query", "SELECT 1", "--no-such-flag"], "--no-such-flag"],
    ])
    expect(existsSync(data)).toBe(false)
  })

  it("a --tenant no write key or token could name is one line, exit 1, on every command, and nothing lands", async () => {
    const file = join(dir, "one.ndjson")
    writeFileSync(file, '{"type":"track","userId":"u","event":"E"}\n')
    const data = join(dir, "data")
    // cdp ingest landed these under "a b" and "", which no API route, write key or analyst query can reach.
    await refusedEach([
      ...["a b", ""].map((tenant) => [["ingest", "--source", "segment", file, "--tenant", tenant, "--data-dir", data], "--tenant"] as const),
      [["profile", "show", "user_id:u", "--tenant", "a b", "--data-dir", data], "is not a tenant's name (1-64 lowercase letters"],
      [["token", "list", "--tenant", "a\nb", "--data-dir", data], "is not a tenant's name (1-64 lowercase letters"],
    ])
    expect(existsSync(data)).toBe(false)
  })

  it("a wrong environment variable is one line naming it and what it must be, exit 1", async () => {
    const data = join(dir, "data")
    const cases: ReadonlyArray<readonly [Record<string, string>, ReadonlyArray<string>, string]> = [
      [{ CDP_PORT: "abc" }, ["serve", "--data-dir", data], "CDP_PORT must be a port number"],
      [{ CDP_PORT: "70000" }, ["serve", "--data-dir", data], "CDP_PORT must be a port number"],
      [{ CDP_WRITE_KEYS: "k1=ac me" }, ["serve", "--data-dir", data], "CDP_WRITE_KEYS must be"],
      [{ CDP_ALLOWED_ORIGINS: "k1=ftp://shop.example" }, ["serve", "--write-key", "k1", "--data-dir", data], "CDP_ALLOWED_ORIGINS must be"],
      [{ CDP_X_BEARER_TOKEN: "t", CDP_X_POLL_SECONDS: "often" }, ["serve", "--data-dir", data], "CDP_X_POLL_SECONDS must be"],
      [{ CDP_X_BEARER_TOKEN: "t", CDP_X_QUERIES: "[1" }, ["x-search", "--data-dir", data], "CDP_X_QUERIES"],
      [{ CDP_CLICKHOUSE_URL: "clickhouse.example" }, ["query", "SELECT 1", "--data-dir", data], "CDP_CLICKHOUSE_URL must be"],
      [{ CDP_SOURCE_OPTIONS: "{" }, ["ingest", "--source", "calls", "x.csv", "--data-dir", data], "CDP_SOURCE_OPTIONS must be"],
      [{ CDP_SOURCE_OPTIONS: "[1]" }, ["ingest", "--source", "calls", "x.csv", "--dry-run"], "CDP_SOURCE_OPTIONS must be"],
    ]
    // Each on a data dir of its own: a data dir is one process's at a time.
    await refusedEach(cases.map(([env, args, names], i) => [args.map((a) => (a === data ? `${data}-${i}` : a)), names, env] as const))
    // Refused before anything is made: x-search and ingest made the data dir first, then read CDP_X_QUERIES and
    // CDP_SOURCE_OPTIONS (a newcomer's typo in a setting left an empty data dir behind).
    for (const [i] of cases.entries()) expect(existsSync(`${data}-${i}`), `case ${i}`).toBe(false)
  })

  it("a missing file or an unusable data dir is one line naming it, exit 1", async () => {
    const file = join(dir, "a-file")
    writeFileSync(file, "not a directory")
    await refusedEach([
      [["ingest", "--source", "segment", join(dir, "missing.ndjson"), "--data-dir", join(dir, "data")], "missing.ndjson"],
      [["sentiment", "score", join(dir, "missing.txt")], "missing.txt"],
      [["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", file], `cannot use data dir ${file}`],
      [["serve", "--data-dir", join(file, "sub")], `cannot use data dir ${join(file, "sub")}`],
      [["demo", "--data-dir", join(file, "sub")], `cannot use data dir ${join(file, "sub")}`],
      [["dlq", "list"], `cannot use data dir ${join(file, "sub")}`, { CDP_DATA_DIR: join(file, "sub") }],
      // Node's mkdirSync(recursive) never returns for a path under /proc: the command must still answer, not hang.
      [["dlq", "retry", "--data-dir", "/proc/cdp-nope/data"], "cannot use data dir /proc/cdp-nope/data"],
      [["dlq", "retry", "--data-dir", "/proc/cdp-nope"], "cannot use data dir /proc/cdp-nope"],
      [["dlq", "list", "--data-dir", join(file, "a", "b")], "a part of its path is a file"],
    ])
  })

  it("cdp --version prints the installed package's version (it was an unknown option)", () => {
    const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version
    const r = runCdp(["--version"])
    expect([r.status, r.stdout, r.stderr]).toEqual([0, `${version}\n`, ""])
  })

  it("a command that only reads, on a mistyped data dir, says it is not there instead of making it and answering nothing", async () => {
    const typo = join(dir, "dta")
    // Listing audiences, tokens, exports or suggestions made an empty data dir there too, and answered "none".
    const reads = [["query", "SELECT count() FROM events"], ["profile", "show", "ann@x.example"], ["dlq", "list"], ["consent", "show", "ann@x.example"],
      ["audience", "list"], ["token", "list"], ["export", "status", "crm"], ["identity", "suggestions"]]
    await refusedEach([
      ...reads.map((args) => [[...args, "--data-dir", typo], `cannot use data dir ${typo}: it does not exist, and this command only reads`] as const),
      [["query", "SELECT 1", "--data-dir", dir], `cannot use data dir ${dir}: it holds no warehouse`],
    ])
    expect(existsSync(typo)).toBe(false)
    const data = join(dir, "data")
    expect(runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", data]).status).toBe(0)
    const r = runCdp(["query", "SELECT count() > 0 AS landed FROM events", "--data-dir", data])
    expect(r.stderr).toBe("")
    expect(JSON.parse(r.stdout)).toEqual({ landed: 1 })
  })

  it("CDP_DATA_DIR is where a command keeps its data when --data-dir is not given", () => {
    const data = join(dir, "from-env")
    const r = runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson"], { env: { CDP_DATA_DIR: data } })
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    expect(existsSync(join(data, "clickhouse"))).toBe(true)
  })
})
