// deploy/clickhouse/cluster-schema.sql cannot drift from warehouse/migrations: it is regenerated from them here and must
// be identical; every table the migrations make has its cluster counterpart; every statement parses in ClickHouse 26
// (the embedded engine's parser: no cluster runs here, so Keeper paths and ON CLUSTER are checked as text, not run).
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { generate, migratedTables, shardingOf, type TableInfo, withMigratedWarehouse } from "../../deploy/clickhouse/cluster-schema.ts"
import { loadMigrations } from "../../warehouse/migrate.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"

const FILE = fileURLToPath(new URL("../../deploy/clickhouse/cluster-schema.sql", import.meta.url))

const statementsOf = (sql: string) =>
  sql.split(/;\s*$/m).map((s) => s.replace(/^\s*--.*$/gm, "").trim()).filter((s) => s !== "")

let tables: ReadonlyArray<TableInfo>
let regenerated: string
let parseErrors: Array<string>
const checkedIn = readFileSync(FILE, "utf8")

describe("the cluster schema", () => {
  beforeAll(async () => {
    await Effect.runPromise(withMigratedWarehouse(Effect.gen(function* () {
      tables = (yield* migratedTables).tables
      regenerated = yield* generate
      const warehouse = yield* Warehouse
      parseErrors = []
      for (const statement of statementsOf(checkedIn)) {
        // formatQuery parses without running: an engine, clause or macro the server would not accept fails here.
        const ok = yield* warehouse.query("SELECT formatQuery({q:String}) AS f", { params: { q: statement } }).pipe(
          Effect.as(true), Effect.catch((e) => Effect.sync(() => parseErrors.push(`${statement.slice(0, 80)}: ${e.message.slice(0, 200)}`)).pipe(Effect.as(false))))
        expect(typeof ok).toBe("boolean")
      }
    })))
  }, 120_000)

  it("is what deploy/clickhouse/cluster-schema.ts generates from the migrations now (else: npm run deploy:schema)", () => {
    expect(regenerated === checkedIn, "deploy/clickhouse/cluster-schema.sql is stale: run npm run deploy:schema").toBe(true)
  })

  it("has a counterpart for every table, view and materialized view of the migrations", () => {
    const statements = statementsOf(checkedIn)
    const created = (kind: string, name: string) =>
      statements.find((s) => new RegExp(`^CREATE ${kind} IF NOT EXISTS ${name} ON CLUSTER '\\{cluster\\}'[\\s(]`).test(s))
    expect(tables.length).toBeGreaterThan(20)
    for (const t of tables) {
      if (t.engine.endsWith("MergeTree")) {
        const local = created("TABLE", `${t.name}_local`)
        if (local === undefined) {
          // Small tables every node holds whole: replicated under one Keeper path for all shards.
          expect(created("TABLE", t.name), t.name).toMatch(new RegExp(`ENGINE = Replicated${t.engine}\\('/clickhouse/tables/all/\\{database\\}/${t.name}', '\\{replica\\}'`))
          continue
        }
        expect(local, t.name).toMatch(new RegExp(`ENGINE = Replicated${t.engine}\\('/clickhouse/tables/\\{shard\\}/\\{database\\}/${t.name}', '\\{replica\\}'`))
        expect(created("TABLE", t.name), t.name).toContain(`AS ${t.name}_local\nENGINE = Distributed('{cluster}', currentDatabase(), ${t.name}_local, ${shardingOf(t).key})`)
      } else if (t.engine === "View") {
        expect(created("VIEW", t.name), t.name).toBeDefined()
      } else if (t.engine === "MaterializedView") {
        // Fires on each shard's local insert and writes the local target.
        expect(created("MATERIALIZED VIEW", t.name), t.name).toMatch(/ TO \w+_local [\s\S]* FROM \w+_local\b/)
      } else {
        throw new Error(`${t.name}: engine ${t.engine} has no cluster rule in deploy/clickhouse/cluster-schema.ts`)
      }
    }
  })

  it("shards so that every version of a row meets on one shard: the sharding columns are in the table's key", () => {
    for (const t of tables.filter((t) => t.engine.endsWith("MergeTree"))) {
      const key = t.sortingKey.split(",").map((c) => c.trim())
      const columns = /^cityHash64\((.*)\)$/.exec(shardingOf(t).key)![1]!.split(",").map((c) => c.trim())
      for (const c of columns) expect(key, `${t.name} shards by ${c}`).toContain(c)
    }
    const byPerson = tables.filter((t) => shardingOf(t).key === "cityHash64(tenant, profile_id)").map((t) => t.name)
    expect(byPerson).toEqual(expect.arrayContaining(["event_rows", "relation_activity_daily", "relation_scores"]))
  })

  it("records every migration it covers, so cdp applies none of them again on the cluster", () => {
    const insert = statementsOf(checkedIn).find((s) => s.startsWith("INSERT INTO schema_migrations"))!
    for (const m of loadMigrations()) expect(insert).toContain(`(${m.version}, '${m.name}')`)
  })

  it("parses in ClickHouse 26, statement by statement", () => {
    expect(statementsOf(checkedIn).length).toBeGreaterThan(tables.length)
    expect(parseErrors).toEqual([])
  })
})
