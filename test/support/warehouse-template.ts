// Test support: a fresh embedded warehouse without paying for its migrations in every test. Opening an empty warehouse
// dir runs every migration: 4.3-4.8 s here at load 14 (about 1.5 s of CPU), 55 s at load ~28 for a process at nice 19,
// and at load ~46 a file's set-up of a few such opens passed the 60 s hook timeout. Copying one already migrated and
// opening the copy took 0.6-1.2 s at load 14, 4.4-5.4 s at load ~28. The run's global setup makes the template once
// (warehouse-template-setup.ts: the warehouse's own opening, in a process of its own); each fresh warehouse of the run
// is a copy of it, still a dir of its own, empty of data, that no other test touches. Sound with chDB: a process opens
// one data dir at a time, so copies sharing the template's table UUIDs never meet in one engine (migrated-dir.ts has
// done the same per file).
import { accessSync, chmodSync, constants, cpSync, existsSync, mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { type BackendConfig, backendConfig, embeddedWarehouseDir } from "../../cli/layers.ts"
import { TEMPLATE_ENV } from "./warehouse-template-setup.ts"

/**
 * Copies a data dir no process holds. ClickHouse's tables are relative symlinks into its store, kept as they are
 * (verbatimSymlinks; resolved, they would point back into the source); the copy is private, as cdp makes data dirs.
 */
export const copyDataDir = (from: string, to: string): string => {
  cpSync(from, to, { recursive: true, verbatimSymlinks: true })
  chmodSync(to, 0o700)
  return to
}

/**
 * Puts a copy of the run's migrated warehouse at `warehouseDir` (e.g. `<data dir>/clickhouse`) when nothing is there
 * yet, so opening it applies no migration. Leaves the dir alone when the run has no template, or when it cannot be
 * made (a data dir that is a file or not writable): what opens it then meets it as it is.
 */
export const seedWarehouse = (warehouseDir: string): void => {
  const template = process.env[TEMPLATE_ENV]
  if (template === undefined || existsSync(warehouseDir)) return
  try {
    mkdirSync(dirname(warehouseDir), { recursive: true, mode: 0o700 })
    accessSync(dirname(warehouseDir), constants.W_OK)
  } catch {
    return
  }
  copyDataDir(template, warehouseDir)
}

/** A command's backend for `dataDir` (backendConfig), its embedded warehouse seeded when it has none yet. */
export const seededBackendConfig = (dataDir: string): BackendConfig => {
  const config = backendConfig(dataDir)
  if (config.clickhouse === undefined) seedWarehouse(embeddedWarehouseDir(config.dataDir))
  return config
}
