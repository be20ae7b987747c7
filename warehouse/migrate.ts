// Numbered .sql migrations, applied in order and recorded in schema_migrations. Every statement is written to be
// idempotent (IF NOT EXISTS), so a crash between applying and recording one only means it runs again.
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Data, Effect } from "effect"
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

/**
 * The data dir holds migrations this cdp does not have: a newer release migrated it. Its tables may no longer have the
 * shape this code reads and writes, so nothing is done to it (the user upgrades, or uses another data dir).
 */
export class DataDirFromNewerVersion extends Data.TaggedError("DataDirFromNewerVersion")<{ readonly unknown: ReadonlyArray<string> }> {
  override get message() {
    const shown = this.unknown.slice(0, 3).join(", ") + (this.unknown.length > 3 ? ` and ${this.unknown.length - 3} more` : "")
    return `this data dir was migrated by a newer cdp (migrations ${shown} are unknown to this one): upgrade cdp, or use another --data-dir`
  }
}

export const applyMigrations = Effect.fn("applyMigrations")(function* (warehouse: WarehouseShape) {
  const migrations = loadMigrations()
  const [bootstrap] = migrations
  for (const statement of bootstrap!.statements) yield* warehouse.command(statement)
  const recorded = yield* warehouse.query<{ version: number; name: string }>("SELECT version, name FROM schema_migrations ORDER BY version")
  const known = new Set(migrations.map((m) => m.version))
  const unknown = recorded.filter((r) => !known.has(Number(r.version)))
  if (unknown.length > 0) return yield* Effect.fail(new DataDirFromNewerVersion({ unknown: unknown.map((r) => r.name) }))
  const applied = new Set(recorded.map((r) => Number(r.version)))
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
