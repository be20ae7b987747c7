import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { applyMigrations, loadMigrations } from "../../warehouse/migrate.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"

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
        "identity_claims", "identity_claims_mv", "identity_links", "identity_nodes", "identity_observations", "identity_operations", "identity_sightings", "identity_snapshots", "operations", "profile_documents", "profile_merges", "profile_restrictions",
        "profile_traits", "profiles", "relation_activity_daily", "relation_activity_mv", "relation_runs", "relation_scores", "relation_voice_daily", "relation_voice_mv",
        "schema_migrations", "sentiment", "subject_restrictions", "suppressions", "texts", "trait_precedence",
      ])
    })).then(() =>
      // A second start on the same data dir finds everything in place.
      withPipeline(dir, Effect.gen(function* () {
        expect(yield* query("SELECT count() AS n FROM schema_migrations")).toEqual([{ n: String(loadMigrations().length) }])
      }))))

  it("a profile's reads off the order key have skip indexes, and a lookup by profile uses them", () =>
    withPipeline(dir, Effect.gen(function* () {
      const indexes = yield* query<{ table: string; name: string; expr: string; type: string }>(
        "SELECT table, name, expr, type FROM system.data_skipping_indices WHERE database = currentDatabase() " +
          "AND table IN ('event_profiles', 'profile_merges', 'consent_ledger') ORDER BY table")
      expect(indexes).toEqual([
        { table: "consent_ledger", name: "profile_id_bloom", expr: "profile_id", type: "bloom_filter" },
        { table: "event_profiles", name: "profile_id_bloom", expr: "profile_id", type: "bloom_filter" },
        { table: "profile_merges", name: "to_profile_bloom", expr: "to_profile", type: "bloom_filter" },
      ])
      // A plan names the skip index only for a table with parts.
      yield* (yield* Warehouse).command("INSERT INTO event_profiles (tenant, message_id, profile_id, version) VALUES ('acme', 'm1', 'prof_y', 1)")
      const plan = yield* query<{ explain: string }>(
        "EXPLAIN indexes = 1 SELECT message_id FROM event_profiles WHERE tenant = {tenant:String} AND profile_id = {profile:String}",
        { tenant: "acme", profile: "prof_x" })
      expect(plan.map((r) => r.explain.trim())).toContain("Name: profile_id_bloom")
    })))

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

  it("a data dir a newer cdp migrated is refused, naming the migrations this one does not know (CLI: one line, exit 1)", async () => {
    await withPipeline(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      yield* warehouse.insert("schema_migrations", [{ version: 999, name: "999_from_a_later_release" }])
      const refused = yield* Effect.flip(applyMigrations(warehouse))
      expect(refused).toMatchObject({ _tag: "DataDirFromNewerVersion" })
      expect(refused.message).toContain("999_from_a_later_release")
      expect(refused.message).toContain("newer cdp")
    }))
    const r = runCdp(["query", "SELECT 1", "--data-dir", dir])
    expectOneLineError(r, "999_from_a_later_release")
    const r2 = runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", dir])
    expectOneLineError(r2, "newer cdp")
  }, 120_000)
})
