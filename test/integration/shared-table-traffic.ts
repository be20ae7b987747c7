// Another cdp process's work on a table every tenant shares, for test/integration/erasure-shared-table.test.ts: a
// Warehouse.server of its own (its own process, so none of the erasing process's bookkeeping) inserting a row and
// reading the table back ("writes"), or only reading it ("reads"), again and again until its stdin ends. Prints one
// JSON line: how many rows it inserted, how many reads it made, and every failure it met (tag, code, first line).
// Usage: node shared-table-traffic.ts <database> <table> writes|reads   (server from CDP_CLICKHOUSE_URL/_USER/_PASSWORD)
import { Effect, Redacted } from "effect"
import { Warehouse } from "../../warehouse/warehouse.ts"

const [database, table, mode] = process.argv.slice(2) as [string, string, "writes" | "reads"]
let stopped = false
process.stdin.on("end", () => { stopped = true }).resume()

const failures: Array<{ tag: string; code: string | undefined; message: string }> = []
const noted = (e: { _tag: string; code?: string | undefined; message: string }) =>
  Effect.sync(() => { failures.push({ tag: e._tag, code: e.code, message: e.message.split("\n")[0]!.slice(0, 300) }) })

const traffic = Effect.gen(function* () {
  const warehouse = yield* Warehouse
  let inserted = 0
  let reads = 0
  process.stdout.write("ready\n")
  while (!stopped) {
    if (mode === "writes") {
      const id = inserted + 1
      const landed = yield* warehouse.insert(table, [{ id, s: "other" }]).pipe(Effect.as(true), Effect.catch((e) => noted(e).pipe(Effect.as(false))))
      if (landed) inserted = id
      yield* Effect.sleep("20 millis")
    }
    yield* warehouse.query(`SELECT count() AS n FROM ${table} WHERE s = 'other'`).pipe(Effect.catch(noted))
    reads++
  }
  return { inserted, reads }
})

const settings = {
  url: process.env["CDP_CLICKHOUSE_URL"]!,
  username: process.env["CDP_CLICKHOUSE_USER"] ?? "default",
  password: Redacted.make(process.env["CDP_CLICKHOUSE_PASSWORD"] ?? ""),
  database,
  // A lost connection is not what this measures: fail at once rather than retry it away.
  retry: { times: 0, baseDelayMs: 0, maxDelayMs: 0 },
}
const done = await Effect.runPromise(Effect.scoped(traffic).pipe(Effect.provide(Warehouse.server(settings, { migrate: false }))))
process.stdout.write(`${JSON.stringify({ ...done, failures })}\n`)
