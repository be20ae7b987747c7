// A newcomer's mistakes (a wrong flag, environment variable, file or data dir) are one line naming what is wrong and
// how to fix it, exit 1, never a stack trace; a fresh data dir just works.
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a newcomer's mistakes", () => {
  it("cdp --help offers help once (-h, --help), not also a help command", () => {
    for (const args of [["--help"], ["dlq", "--help"], ["identity", "--help"]]) {
      const r = runCdp(args)
      expect(r.status).toBe(0)
      expect(r.stdout.split("\n").filter((l) => l.includes("display help for command"))).toHaveLength(1)
    }
  })

  it("cdp, or a command group, without its command is one line naming the commands there are, exit 1", () => {
    expectOneLineError(runCdp([]), "serve")
    expectOneLineError(runCdp(["dlq"]), "list, retry")
    expectOneLineError(runCdp(["identity"]), "explain")
    expectOneLineError(runCdp(["dlq", "bogus"]), "unknown command 'bogus'")
    expectOneLineError(runCdp(["bogus"]), "unknown command 'bogus'")
  })

  it("cdp serve --write-key K on a data dir that does not exist yet creates it and serves", async () => {
    const fresh = join(dir, "new", "deeper")
    const serve = await startServe(["--data-dir", fresh, "--write-key", "K"])
    const r = await fetch(`${serve.url}/health`)
    expect(r.status).toBe(200)
    expect(await serve.stop()).toBe(0)
    expect(existsSync(join(fresh, "admin-token"))).toBe(true)
  })

  it("a wrong flag is one line naming it, exit 1", () => {
    const data = join(dir, "data")
    expectOneLineError(runCdp(["serve", "--write-key", "k1=ac me", "--data-dir", data]), 'tenant "ac me"')
    expectOneLineError(runCdp(["serve", "--port", "abc", "--data-dir", data]), "--port")
    expectOneLineError(runCdp(["serve", "--allowed-origins", "shop.example", "--data-dir", data]), "--allowed-origins")
    expectOneLineError(runCdp(["dlq", "list", "--limit", "abc", "--data-dir", data]), "--limit")
    expectOneLineError(runCdp(["ingest", "--source", "calls", "x.csv", "--source-options", "{", "--data-dir", data]), "--source-options")
    expectOneLineError(runCdp(["replay", "--from", "soon", "--to", "later", "--data-dir", data]), "--from")
    expectOneLineError(runCdp(["listen", "report", "--since", "someday", "--data-dir", data]), "someday")
    expectOneLineError(runCdp(["query", "SELECT 1", "--no-such-flag"]), "--no-such-flag")
    expect(existsSync(data)).toBe(false)
  })

  it("a --tenant no write key or token could name is one line, exit 1, on every command, and nothing lands", () => {
    const file = join(dir, "one.ndjson")
    writeFileSync(file, '{"type":"track","userId":"u","event":"E"}\n')
    const data = join(dir, "data")
    // cdp ingest landed these under "a b" and "", which no API route, write key or analyst query can reach.
    for (const tenant of ["a b", ""]) {
      expectOneLineError(runCdp(["ingest", "--source", "segment", file, "--tenant", tenant, "--data-dir", data]), "--tenant")
    }
    expectOneLineError(runCdp(["profile", "show", "user_id:u", "--tenant", "a b", "--data-dir", data]), "must be 1-64 letters")
    expectOneLineError(runCdp(["token", "list", "--tenant", "a\nb", "--data-dir", data]), "must be 1-64 letters")
    expect(existsSync(data)).toBe(false)
  })

  it("a wrong environment variable is one line naming it and what it must be, exit 1", () => {
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
    for (const [env, args, names] of cases) expectOneLineError(runCdp(args, { env }), names)
  })

  it("a missing file or an unusable data dir is one line naming it, exit 1", () => {
    const file = join(dir, "a-file")
    writeFileSync(file, "not a directory")
    expectOneLineError(runCdp(["ingest", "--source", "segment", join(dir, "missing.ndjson"), "--data-dir", join(dir, "data")]), "missing.ndjson")
    expectOneLineError(runCdp(["sentiment", "score", join(dir, "missing.txt")]), "missing.txt")
    expectOneLineError(runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", file]), `cannot use data dir ${file}`)
    expectOneLineError(runCdp(["serve", "--data-dir", join(file, "sub")]), `cannot use data dir ${join(file, "sub")}`)
    expectOneLineError(runCdp(["demo", "--data-dir", join(file, "sub")]), `cannot use data dir ${join(file, "sub")}`)
    expectOneLineError(
      runCdp(["dlq", "list"], { env: { CDP_DATA_DIR: join(file, "sub") } }),
      `cannot use data dir ${join(file, "sub")}`)
    // Node's mkdirSync(recursive) never returns for a path under /proc: the command must still answer, not hang.
    expectOneLineError(runCdp(["dlq", "retry", "--data-dir", "/proc/cdp-nope/data"]), "cannot use data dir /proc/cdp-nope/data")
    expectOneLineError(runCdp(["dlq", "retry", "--data-dir", "/proc/cdp-nope"]), "cannot use data dir /proc/cdp-nope")
    expectOneLineError(runCdp(["dlq", "list", "--data-dir", join(file, "a", "b")]), "a part of its path is a file")
  })

  it("cdp --version prints the installed package's version (it was an unknown option)", () => {
    const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version
    const r = runCdp(["--version"])
    expect([r.status, r.stdout, r.stderr]).toEqual([0, `${version}\n`, ""])
  })

  it("a command that only reads, on a mistyped data dir, says it is not there instead of making it and answering nothing", () => {
    const typo = join(dir, "dta")
    // Listing audiences, tokens, exports or suggestions made an empty data dir there too, and answered "none".
    for (const args of [["query", "SELECT count() FROM events"], ["profile", "show", "ann@x.example"], ["dlq", "list"], ["consent", "show", "ann@x.example"],
      ["audience", "list"], ["token", "list"], ["export", "status", "crm"], ["identity", "suggestions"]]) {
      expectOneLineError(runCdp([...args, "--data-dir", typo]), `cannot use data dir ${typo}: it does not exist, and this command only reads`)
    }
    expect(existsSync(typo)).toBe(false)
    expectOneLineError(runCdp(["query", "SELECT 1", "--data-dir", dir]), `cannot use data dir ${dir}: it holds no warehouse`)
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
