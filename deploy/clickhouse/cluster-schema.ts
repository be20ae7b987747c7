// Generates deploy/clickhouse/cluster-schema.sql, the cluster variant of cdp's schema, from warehouse/migrations: the
// migrations are applied to a scratch embedded engine and every table it ends with is rewritten for a cluster
// (ReplicatedMergeTree per shard + a Distributed table under the original name; views unchanged over the Distributed
// names; materialized views on the shard-local tables). test/deploy/cluster-schema.test.ts regenerates it and fails
// when the checked-in file differs, so the two cannot drift.
//   node deploy/clickhouse/cluster-schema.ts > deploy/clickhouse/cluster-schema.sql    (npm run deploy:schema)
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { loadMigrations } from "../../warehouse/migrate.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"

export interface TableInfo {
  readonly name: string
  readonly engine: string
  readonly create: string
  readonly sortingKey: string
}

// Tables every node holds whole (replicated to all, not sharded): a few rows each, read by every query that needs
// them (the migration record, trait precedence lists, runs of relations compute).
const EVERYWHERE = new Set(["schema_migrations", "trait_precedence", "relation_runs"])

const LOCAL_SUFFIX = "_local"

const typeOf = (table: TableInfo, column: string) => new RegExp(`\`${column}\` (\\w+)`).exec(table.create)?.[1] ?? ""

/**
 * How rows are spread over shards. A table whose replacing/sorting key holds the person (profile_id) is sharded by
 * (tenant, profile_id): one person's rows, and their aggregates, stay on one shard. Other tables are sharded by a
 * column of their key (an id if it has one, else the first that is neither low-cardinality nor a time), so every
 * version of one key lands on the same shard and ReplacingMergeTree still collapses them (sharding by a column outside
 * the key, such as a profile that can change, would split them), and shards stay even.
 */
export const shardingOf = (table: TableInfo): { readonly key: string; readonly why: string } => {
  const key = table.sortingKey.split(",").map((c) => c.trim()).filter((c) => c !== "")
  if (key.includes("profile_id")) return { key: "cityHash64(tenant, profile_id)", why: "by person: its key holds profile_id" }
  const rest = key.filter((c) => c !== "tenant")
  const spread = rest.find((c) => c.endsWith("_id")) ??
    rest.find((c) => !/^(LowCardinality|Date|DateTime|DateTime64|UInt8|Bool|Enum8)$/.test(typeOf(table, c))) ?? rest[0] ?? "tuple()"
  const hashed = key[0] === "tenant" ? `tenant, ${spread}` : spread
  return { key: `cityHash64(${hashed})`, why: `by ${spread}: its key has no person, and every version of a key must meet on one shard` }
}

const stripDatabase = (sql: string, database: string) => sql.replace(new RegExp(`\\b${database}\\.`, "g"), "")

/** A materialized view's source and target made the shard-local tables (only after TO, FROM and JOIN). */
const toLocalTables = (sql: string, names: ReadonlyArray<string>) =>
  names.reduce((text, name) => text.replace(new RegExp(`\\b(TO|FROM|JOIN) ${name}\\b`, "g"), `$1 ${name}${LOCAL_SUFFIX}`), sql)

const mvEnds = (sql: string) => ({ target: /\bTO (\w+)/.exec(sql)?.[1], source: /\bFROM (\w+)/.exec(sql)?.[1] })

/** The engine clause made replicated, with its ZooKeeper/Keeper path and replica macro. */
const replicated = (create: string, name: string, everywhere: boolean) => {
  const path = everywhere ? `/clickhouse/tables/all/{database}/${name}` : `/clickhouse/tables/{shard}/{database}/${name}`
  return create.replace(/ENGINE = (\w*MergeTree)(?:\(([^)]*)\))?/, (_, engine: string, args: string | undefined) =>
    `ENGINE = Replicated${engine}('${path}', '{replica}'${args === undefined || args === "" ? "" : `, ${args}`})`)
}

// Views read other views: create each after what it reads.
const dependencyOrder = (views: ReadonlyArray<TableInfo>) => {
  const done: Array<TableInfo> = []
  const pending = [...views]
  while (pending.length > 0) {
    const ready = pending.findIndex((v) => !pending.some((o) => o !== v && new RegExp(`\\b${o.name}\\b`).test(v.create.replace(/^CREATE (MATERIALIZED )?VIEW \S+/, ""))))
    const [next] = pending.splice(ready === -1 ? 0 : ready, 1)
    done.push(next!)
  }
  return done
}

const onCluster = (create: string) =>
  create.replace(/^CREATE (TABLE|VIEW|MATERIALIZED VIEW) (\S+)/, "CREATE $1 IF NOT EXISTS $2 ON CLUSTER '{cluster}'")

/**
 * Keeps only the table settings the migrations state: the engine adds its defaults (index_granularity = 8192) to
 * create_table_query, and a server's own defaults should apply there instead.
 */
const statedSettingsOnly = (create: string, stated: ReadonlySet<string>) =>
  create.replace(/ SETTINGS (.*)$/, (_, list: string) => {
    // index_granularity = 8192 is the engine's default, added to every table once any migration states the setting.
    const kept = list.split(/,\s*/).filter((kv) => stated.has(kv.split("=")[0]!.trim()) && kv.replace(/\s+/g, "") !== "index_granularity=8192")
    return kept.length === 0 ? "" : ` SETTINGS ${kept.join(", ")}`
  })

export interface Migrated {
  readonly version: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

export const clusterSchema = (tables: ReadonlyArray<TableInfo>, database: string, migrations: ReadonlyArray<Migrated>) => {
  const stated = new Set(migrations.flatMap((m) => m.statements.flatMap((s) => [...s.matchAll(/\b(\w+)\s*=/g)].map((x) => x[1]!))))
  const plain = (t: TableInfo) => ({ ...t, create: statedSettingsOnly(stripDatabase(t.create, database), stated) })
  const stored = tables.filter((t) => t.engine.endsWith("MergeTree")).map(plain)
  const sharded = stored.filter((t) => !EVERYWHERE.has(t.name))
  const views = dependencyOrder(tables.filter((t) => t.engine === "View").map(plain))
  const materialized = tables.filter((t) => t.engine === "MaterializedView").map(plain)
  const out: Array<string> = [
    "-- GENERATED by deploy/clickhouse/cluster-schema.ts from warehouse/migrations; do not edit (npm run deploy:schema).",
    "-- cdp's schema for a ClickHouse cluster with Keeper: macros {cluster}, {shard} and {replica} set on every node",
    "-- (deploy/compose.yml, deploy/k8s/clickhouse.yaml). Apply once, before starting cdp, on any node:",
    "--   clickhouse-client --database cdp --multiquery < cluster-schema.sql",
    "-- Each sharded table T is T_local (Replicated*MergeTree on every shard) plus T, a Distributed table that cdp reads",
    "-- and writes; views read the Distributed tables; materialized views fire on the local insert of each shard.",
    "-- The last statement records the migrations this covers, so cdp applies none of them itself on the cluster.",
    "-- Settings the cluster's users need: distributed_product_mode = 'global' (views join Distributed tables),",
    "-- distributed_foreground_insert = 1 (an insert is acknowledged once the shards hold it, not when queued).",
    "",
  ]
  for (const t of stored) {
    const everywhere = EVERYWHERE.has(t.name)
    if (everywhere) {
      out.push(`-- ${t.name}: on every node whole (small, read by every query that needs it).`)
      out.push(`${onCluster(replicated(t.create, t.name, true))};`, "")
      continue
    }
    const { key, why } = shardingOf(t)
    out.push(`-- ${t.name}: sharded ${why}.`)
    const local = t.create.replace(/^CREATE TABLE (\S+)/, `CREATE TABLE ${t.name}${LOCAL_SUFFIX}`)
    out.push(`${onCluster(replicated(local, t.name, false))};`)
    out.push(`CREATE TABLE IF NOT EXISTS ${t.name} ON CLUSTER '{cluster}' AS ${t.name}${LOCAL_SUFFIX}`)
    out.push(`ENGINE = Distributed('{cluster}', currentDatabase(), ${t.name}${LOCAL_SUFFIX}, ${key});`, "")
  }
  for (const v of materialized) {
    const { source, target } = mvEnds(v.create)
    const keyOf = (name: string | undefined) => shardingOf(sharded.find((t) => t.name === name) ?? { name: "", engine: "", create: "", sortingKey: "" }).key
    out.push(keyOf(source) === keyOf(target)
      ? `-- ${v.name}: on each shard, from ${source}_local to ${target}_local, which are sharded alike (a person's rows meet).`
      : `-- ${v.name}: on each shard, from ${source}_local to ${target}_local; its rows stay on the source's shard, not the target's\n--   own (${keyOf(source)} vs ${keyOf(target)}): readers fold the target's rows with GROUP BY, across shards.`)
    out.push(`${onCluster(toLocalTables(v.create, sharded.map((t) => t.name)))};`, "")
  }
  for (const v of views) {
    out.push(`-- ${v.name}: a view over the Distributed tables, as on one node.`)
    out.push(`${onCluster(v.create)};`, "")
  }
  const values = migrations.map((m) => `(${m.version}, '${m.name}')`).join(",\n    ")
  out.push("-- The migrations this schema covers (cdp applies only newer ones; a second copy of a row is harmless).")
  out.push(`INSERT INTO schema_migrations (version, name) VALUES\n    ${values};`)
  return `${out.join("\n")}\n`
}

/** Runs `f` with a scratch embedded engine that has every migration applied. */
export const withMigratedWarehouse = <A, E>(f: Effect.Effect<A, E, Warehouse>) =>
  Effect.suspend(() => {
    const dir = mkdtempSync(join(tmpdir(), "cdp-cluster-schema-"))
    return Effect.scoped(f).pipe(
      Effect.provide(Warehouse.embedded(join(dir, "clickhouse"))),
      Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))),
    )
  })

/** The tables the migrations end with, as the engine describes them. */
export const migratedTables = Effect.gen(function* () {
  const warehouse = yield* Warehouse
  const [{ db }] = (yield* warehouse.query<{ db: string }>("SELECT currentDatabase() AS db")) as [{ db: string }]
  const rows = yield* warehouse.query<{ name: string; engine: string; create_table_query: string; sorting_key: string }>(
    "SELECT name, engine, create_table_query, sorting_key FROM system.tables WHERE database = currentDatabase() AND NOT is_temporary ORDER BY name")
  const tables: ReadonlyArray<TableInfo> = rows.map((r) => ({
    name: r.name, engine: r.engine, create: r.create_table_query, sortingKey: r.sorting_key,
  }))
  return { tables, database: db }
})

/** The cluster schema of the current migrations (needs a Warehouse with them applied: withMigratedWarehouse). */
export const generate = Effect.map(migratedTables, ({ tables, database }) => clusterSchema(tables, database, loadMigrations()))

if (import.meta.main) {
  process.stdout.write(await Effect.runPromise(withMigratedWarehouse(generate)))
}
