// An erasure's wait for outdated parts (warehouse/erasure.ts awaitOldPartsGone) on a real ClickHouse server, which
// several cdp processes share (scale-out): another process's inserts and reads of the same table meanwhile must not
// fail. On the embedded engine the wait detaches and attaches the table (its own process's statements wait for that);
// a detachment on a server would fail every other process's statements with UNKNOWN_TABLE (code 60), so there the
// wait leaves the table attached and the server's own cleanup removes the parts.
// Runs when CDP_INTEGRATION=1 against Debian's 18.16.1 from deploy/services/up (eval "$(deploy/services/up)" first).
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { Cause, Effect, Exit, Redacted } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { awaitOldPartsGone } from "../../warehouse/erasure.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"
const TRAFFIC = fileURLToPath(new URL("./shared-table-traffic.ts", import.meta.url))

const server = () => {
  const url = process.env["CDP_CLICKHOUSE_URL"]
  if (url === undefined) throw new Error('CDP_INTEGRATION=1 needs a ClickHouse server: run eval "$(deploy/services/up)" first')
  return { url, username: process.env["CDP_CLICKHOUSE_USER"] ?? "default", password: process.env["CDP_CLICKHOUSE_PASSWORD"] ?? "" }
}

const admin = async (sql: string) => {
  const s = server()
  const response = await fetch(s.url, {
    method: "POST", body: sql,
    headers: { authorization: `Basic ${Buffer.from(`${s.username}:${s.password}`).toString("base64")}` },
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${sql}: ${text}`)
  return text
}

const databases: Array<string> = []

/** The other process: started, ready, and stopped (stdin closed) with what it did. */
const otherProcess = async (database: string, table: string, mode: "writes" | "reads") => {
  const child = spawn(process.execPath, [TRAFFIC, database, table, mode], { env: process.env, stdio: ["pipe", "pipe", "inherit"] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  // Its log (a warning about a client setting 18.16 lacks) comes first, on stdout.
  for (let line = await lines.next(); line.value !== "ready"; line = await lines.next()) {
    if (line.done === true) throw new Error("the other process ended before it was ready")
  }
  return {
    stop: async (): Promise<{ inserted: number; reads: number; failures: Array<{ tag: string; code?: string; message: string }> }> => {
      child.stdin.end()
      const last = await lines.next()
      return JSON.parse(String(last.value))
    },
  }
}

/**
 * A fresh database holding `shared` with the outdated parts of an erasure's mutation (3 parts rewritten); their names.
 * `lifetime`: the table's old_parts_lifetime (cdp's tables have 0).
 */
const tableWithOutdatedParts = async (lifetime = 0) => {
  const db = `cdp_it_${randomUUID().replace(/-/g, "").slice(0, 12)}`
  await admin(`CREATE DATABASE ${db}`)
  databases.push(db)
  // As cdp's tables are made (migrations 025, 084): outdated parts are kept no time at all.
  await admin(`CREATE TABLE ${db}.shared (id UInt64, s String) ENGINE = MergeTree() ORDER BY id SETTINGS old_parts_lifetime = ${lifetime}`)
  for (let i = 1; i <= 3; i++) await admin(`INSERT INTO ${db}.shared VALUES (${i}, 'erased')`)
  await admin(`ALTER TABLE ${db}.shared DELETE WHERE s = 'erased'`)
  const mutated = Date.now() + 30_000
  while ((await admin(`SELECT count() FROM system.mutations WHERE database = '${db}' AND NOT is_done`)).trim() !== "0") {
    if (Date.now() > mutated) throw new Error("the mutation did not finish within 30 s")
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const outdated = await outdatedNames(db)
  expect(outdated.length).toBeGreaterThan(0)
  return { db, outdated }
}

const outdatedNames = async (db: string) => (await admin(
  `SELECT name FROM system.parts WHERE database = '${db}' AND table = 'shared' AND NOT active FORMAT TSV`)).split("\n").filter(Boolean)

/**
 * awaitOldPartsGone in this process while the other process works on the table, from before it starts to its end: what the
 * other process met, what the wait returned and how long it took.
 */
const waitBeside = async (db: string, mode: "writes" | "reads", timeoutMs = 60_000) => {
  const s = server()
  const layer = Warehouse.server({ url: s.url, username: s.username, password: Redacted.make(s.password), database: db }, { migrate: false })
  const other = await otherProcess(db, "shared", mode)
  const started = Date.now()
  const exit = await Effect.runPromiseExit(Effect.scoped(awaitOldPartsGone(["shared"], timeoutMs)).pipe(Effect.provide(layer)))
  const waited = Date.now() - started
  const seen = await other.stop()
  if (Exit.isFailure(exit)) throw new Error(`the wait failed: ${Cause.pretty(exit.cause)}`)
  return { left: exit.value, waited, seen }
}

describe.runIf(enabled)("an erasure's wait for outdated parts on a ClickHouse server shared by several processes", () => {
  afterAll(async () => {
    for (const db of databases) await admin(`DROP DATABASE IF EXISTS ${db}`).catch(() => undefined)
  })

  it("never fails another process's inserts and reads of the table, and the outdated parts are gone within the wait", async () => {
    const { db, outdated } = await tableWithOutdatedParts()
    const { left, waited, seen } = await waitBeside(db, "writes")
    expect(seen.failures).toEqual([])
    expect(seen.inserted).toBeGreaterThan(0)
    expect(left).toEqual([])
    expect((await outdatedNames(db)).filter((name) => outdated.includes(name))).toEqual([])
    expect(waited).toBeLessThan(60_000)
    // Every row the other process inserted is there once, and nothing of the erased ones.
    expect((await admin(`SELECT s, count(), uniqExact(id) FROM ${db}.shared GROUP BY s FORMAT TSV`)).trim())
      .toBe(`other\t${seen.inserted}\t${seen.inserted}`)
    console.log(`beside inserts: outdated parts gone after ${waited} ms; the other process inserted ${seen.inserted} rows, read ${seen.reads} times`)
  }, 120_000)

  it("on a table only read meanwhile (no insert wakes the server's cleanup), the server's cleanup removes them within the wait", async () => {
    const { db, outdated } = await tableWithOutdatedParts()
    const { left, waited, seen } = await waitBeside(db, "reads")
    expect(seen.failures).toEqual([])
    expect(seen.reads).toBeGreaterThan(0)
    expect(left).toEqual([])
    expect((await outdatedNames(db)).filter((name) => outdated.includes(name))).toEqual([])
    expect((await admin(`SELECT count() FROM ${db}.shared`)).trim()).toBe("0")
    console.log(`beside reads only: outdated parts gone after ${waited} ms; the other process read ${seen.reads} times`)
  }, 120_000)

  it("a table whose old_parts_lifetime the server will not lower (18.x has no MODIFY SETTING) is named after the wait, still attached", async () => {
    const { db, outdated } = await tableWithOutdatedParts(480)
    const { left, waited, seen } = await waitBeside(db, "reads", 5_000)
    expect(seen.failures).toEqual([])
    expect(seen.reads).toBeGreaterThan(0)
    expect(left).toEqual(["shared"])
    expect(waited).toBeGreaterThanOrEqual(5_000)
    // Not detached and attached again (a start-up would have removed them): the outdated parts are all still there.
    expect((await outdatedNames(db)).sort()).toEqual([...outdated].sort())
  }, 120_000)
})
