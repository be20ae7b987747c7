import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { applyMigrations, loadMigrations } from "../../warehouse/migrate.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("migrations", () => {
  it("apply each numbered file once, in order, and running them again changes nothing", () =>
    withPipeline(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      expect(yield* applyMigrations(warehouse)).toEqual([])
      const applied = yield* query<{ version: number; name: string }>("SELECT version, name FROM schema_migrations ORDER BY version")
      expect(applied.map((m) => m.name)).toEqual(loadMigrations().map((m) => m.name))
      const tables = yield* query<{ name: string }>("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
      expect(tables.map((t) => t.name)).toEqual([
        "alerts", "api_token_uses", "api_tokens", "audience_changes", "audience_members", "audience_versions", "bus_data_keys",
        "computed_trait_definitions", "computed_trait_events_mv", "computed_trait_sentiment_mv", "computed_trait_states", "computed_traits",
        "consent_current", "consent_ledger", "dead_letter_outcomes", "dead_letters", "dsr_requests", "event_profiles", "event_rows", "events",
        "export_cursors", "export_dead_letters", "export_deliveries", "export_erasures", "export_state",
        "identity_links", "identity_nodes", "identity_observations", "identity_operations", "identity_sightings", "identity_snapshots", "profile_merges", "profile_restrictions",
        "profile_traits", "profiles", "relation_activity_daily", "relation_activity_mv", "relation_runs", "relation_scores", "relation_voice_daily", "relation_voice_mv",
        "schema_migrations", "sentiment", "subject_restrictions", "suppressions", "texts", "trait_precedence",
      ])
    })).then(() =>
      // A second start on the same data dir finds everything in place.
      withPipeline(dir, Effect.gen(function* () {
        expect(yield* query("SELECT count() AS n FROM schema_migrations")).toEqual([{ n: String(loadMigrations().length) }])
      }))))

  it("every data table's file states why it has its engine, partition and order key", () => {
    const dir = new URL("../../warehouse/migrations/", import.meta.url)
    for (const m of loadMigrations()) {
      if (m.name.includes("schema_migrations")) continue
      const text = readFileSync(new URL(`${m.name}.sql`, dir), "utf8")
      // A file that only alters existing tables (043: TTLs) has no engine of its own to justify.
      if (!/CREATE TABLE/i.test(text)) continue
      expect(text, m.name).toMatch(/^-- Engine: /m)
      expect(text, m.name).toMatch(/^-- Partition: /m)
      expect(text, m.name).toMatch(/Order key: /)
    }
  })
})
