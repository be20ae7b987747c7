// Numbered .sql migrations, applied in order and recorded in schema_migrations. Every statement is written to be
// idempotent (IF NOT EXISTS), so a crash between applying and recording one only means it runs again.
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import type { WarehouseShape } from "./warehouse.ts"

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url))

export interface Migration {
  readonly version: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

export const loadMigrations = (dir: string = MIGRATIONS_DIR): ReadonlyArray<Migration> =>
  readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number.parseInt(file, 10),
      name: file.replace(/\.sql$/, ""),
      statements: readFileSync(`${dir}/${file}`, "utf8")
        .split(/;\s*$/m)
        .map((s) => s.replace(/^\s*--.*$/gm, "").trim())
        .filter((s) => s !== ""),
    }))

const RENAME = /^RENAME TABLE\s+(\w+)\s+TO\s+(\w+)$/i

/**
 * A RENAME cannot say IF EXISTS: when its source is gone and its target exists, an earlier run applied it and
 * stopped before recording the migration, so it is skipped.
 */
const alreadyRenamed = (warehouse: WarehouseShape, statement: string) =>
  Effect.gen(function* () {
    const m = RENAME.exec(statement)
    if (m === null) return false
    const tables = yield* warehouse.query<{ name: string }>(
      "SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN {names:Array(String)}",
      { params: { names: [m[1]!, m[2]!] } })
    const names = new Set(tables.map((t) => t.name))
    return !names.has(m[1]!) && names.has(m[2]!)
  })

export const applyMigrations = Effect.fn("applyMigrations")(function* (warehouse: WarehouseShape) {
  const migrations = loadMigrations()
  const [bootstrap] = migrations
  for (const statement of bootstrap!.statements) yield* warehouse.command(statement)
  const applied = new Set(
    (yield* warehouse.query<{ version: number }>("SELECT version FROM schema_migrations")).map((r) => Number(r.version)),
  )
  const fresh = migrations.filter((m) => !applied.has(m.version))
  for (const migration of fresh) {
    for (const statement of migration.statements) {
      if (yield* alreadyRenamed(warehouse, statement)) continue
      yield* warehouse.command(statement)
    }
    yield* warehouse.insert("schema_migrations", [{ version: migration.version, name: migration.name }])
  }
  return fresh.map((m) => m.name)
})
