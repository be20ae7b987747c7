// `cdp query`, directly on the embedded engine and through a running `cdp serve`: read-only and tenant-scoped.
import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { expectOneLineError } from "../support/cli-expect.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ingest = (tenant: string, email: string) => {
  const file = join(dir, `${tenant}.ndjson`)
  writeFileSync(file, `${JSON.stringify({ type: "identify", userId: tenant, messageId: `m-${tenant}`, traits: { email } })}\n`)
  const r = runCdp(["ingest", "--source", "segment", file, "--tenant", tenant, "--data-dir", join(dir, "data")])
  expect(r.status, r.stderr).toBe(0)
}

const EMAILS = "SELECT tenant, JSONExtractString(traits, 'email') AS email FROM default.events ORDER BY tenant"

const bypasses = (dataDir: string) => [
  "/* /* */ SELECT */ TRUNCATE TABLE events",
  "SELECT $$'$$ AS x; TRUNCATE TABLE events; SELECT '' AS y",
  `SELECT 1 INTO OUTFILE '${join(dir, "out.txt")}'`,
  "SELECT * FROM file('/etc/passwd', 'LineAsString')",
  `SELECT * FROM file('${join(dataDir, "admin-token")}', 'LineAsString')`,
  "SELECT * FROM merge('default', 'events')",
  "SELECT 1 SETTINGS readonly = 0",
]

const expectRefused = (args: ReadonlyArray<string>) => {
  const r = runCdp(args)
  expect(r.status, args[1]).toBe(1)
  expect(r.stderr.trim().split("\n"), args[1]).toHaveLength(1)
  expect(r.stderr, args[1]).toMatch(/^cdp: /)
  expect(r.stdout).toBe("")
}

describe("cdp query", () => {
  it("is read-only and sees one tenant's rows, directly and through a running server", async () => {
    ingest("acme", "ann@acme.example")
    ingest("globex", "gus@globex.example")
    const data = join(dir, "data")
    const rowsOf = (args: ReadonlyArray<string>) => {
      const r = runCdp(["query", ...args, "--data-dir", data])
      expect(r.status, r.stderr).toBe(0)
      return { rows: r.stdout.trim() === "" ? [] : r.stdout.trim().split("\n").map((l) => JSON.parse(l)), stderr: r.stderr }
    }
    for (const sql of bypasses(data)) expectRefused(["query", sql, "--tenant", "acme", "--data-dir", data])
    expect(rowsOf(["--tenant", "acme", EMAILS]).rows).toEqual([{ tenant: "acme", email: "ann@acme.example" }])
    expect(rowsOf([EMAILS]).rows).toEqual([])
    const all = rowsOf(["--all-tenants", EMAILS])
    expect(all.rows.map((r) => r.tenant)).toEqual(["acme", "globex"])
    expect(all.stderr).toMatch(/all-tenant analyst query/)
    expect(all.stderr).not.toContain("email")
    const both = runCdp(["query", EMAILS, "--tenant", "acme", "--all-tenants", "--data-dir", data])
    expect(both.status).toBe(1)
    expect(both.stderr).toMatch(/^cdp: give either --tenant or --all-tenants, not both\n/)

    const serve = await startServe(["--data-dir", data, "--write-key", "wk_cli_query"])
    try {
      for (const sql of bypasses(data)) expectRefused(["query", sql, "--tenant", "acme", "--data-dir", data])
      expect(rowsOf(["--tenant", "globex", EMAILS]).rows).toEqual([{ tenant: "globex", email: "gus@globex.example" }])
      expect(rowsOf(["--all-tenants", EMAILS]).rows).toHaveLength(2)
    } finally {
      expect(await serve.stop()).toBe(0)
    }
    expect(existsSync(join(dir, "out.txt"))).toBe(false)
    expect(rowsOf(["--all-tenants", "SELECT count() AS n FROM events"]).rows).toEqual([{ n: "2" }])
  }, 120_000)

  it("reads the statement from stdin when given -, as CLIs do; an empty stdin is one line", () => {
    const data = join(dir, "data")
    ingest("acme", "ann@acme.example")
    const r = runCdp(["query", "-", "--data-dir", data], { input: "SELECT 1 AS one,\n  'a;b' AS two;\n" })
    expect(r.status, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout.trim())).toEqual({ one: 1, two: "a;b" })
    for (const input of ["", "  \n\t\n"]) {
      expectOneLineError(runCdp(["query", "-", "--data-dir", data], { input }), "stdin holds no statement: cdp query - reads the statement from stdin")
    }
    const huge = runCdp(["query", "-", "--data-dir", data], { input: `SELECT '${"x".repeat(300_000)}'` })
    expectOneLineError(huge, "stdin holds more than 262144 bytes, the most a statement may be")
  }, 120_000)
})
