// Retention: how long each store keeps data, applied by the warehouse itself (a TTL per table, enforced by its
// merges; monthly tables drop whole parts) and by the archive (whole days removed). Configured with CDP_RETENTION
// (cli/config.ts), in months per store; 0 (or "forever") keeps a store's data until it is erased.
import { Effect } from "effect"
import { Warehouse } from "./warehouse.ts"

/** Months per store. */
export type RetentionPolicy = Readonly<Record<RetentionStore, number>>

export type RetentionStore = "events" | "texts" | "sentiment" | "identity" | "dead_letters" | "relations" | "archive" | "tokens"

/**
 * Defaults: what the warehouse serves 25 months (two years of history for year-on-year questions), refused input 6
 * months (enough to fix and re-drive a connector), the raw archive 13 months (a year of replay, plus a month). The
 * archive's days are the days items were received here, so an import of old history is kept its full 13 months. A
 * deployment that must replay further back sets archive=forever (kept until erased) or a longer period. API tokens
 * that stopped working (revoked or expired) are kept 13 months after they stopped, listed as such, so a year of the
 * audit log's accesses still names a token that is known; then they are dropped (warehouse/tokens.ts).
 */
export const DEFAULT_RETENTION: RetentionPolicy = {
  events: 25, texts: 25, sentiment: 25, identity: 25, dead_letters: 6, relations: 25, archive: 13, tokens: 13,
}

/**
 * Each store's tables and the column its TTL counts from: when the row was received or written here, not the event's
 * own time, so a history import is kept for the whole period instead of expiring on arrival. Consent history
 * (consent_ledger) is kept as the proof of consent while the data is used; alerts hold counts only.
 */
export const RETENTION_TABLES: Readonly<Record<Exclude<RetentionStore, "archive" | "tokens">, ReadonlyArray<readonly [string, string]>>> = {
  events: [["event_rows", "ingested_at"]],
  texts: [["texts", "landed_at"]],
  sentiment: [["sentiment", "scored_at"]],
  identity: [["identity_observations", "observed_at"], ["identity_links", "resolved_at"], ["identity_sightings", "observed_at"], ["identity_claims", "resolved_at"]],
  dead_letters: [["dead_letters", "landed_at"], ["dead_letter_outcomes", "retried_at"]],
  // Relational signals and scores (043), derived from events and sentiment: kept as long as those by default.
  relations: [
    ["relation_activity_daily", "landed_at"], ["relation_voice_daily", "landed_at"], ["relation_scores", "computed_at"],
    ["relation_runs", "computed_at"],
  ],
}

/** Reads "events=25,archive=13" (or archive=forever, the same as 0) over the defaults; throws naming what is wrong. */
export const parseRetention = (text: string): RetentionPolicy => {
  const policy: Record<string, number> = { ...DEFAULT_RETENTION }
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const m = /^([a-z_]+)\s*=\s*(\d{1,4}|forever)$/.exec(part)
    if (m === null) throw new Error(`"${part}" is not STORE=MONTHS or STORE=forever`)
    if (!(m[1]! in DEFAULT_RETENTION)) throw new Error(`unknown store "${m[1]}" (stores: ${Object.keys(DEFAULT_RETENTION).join(", ")})`)
    policy[m[1]!] = m[2] === "forever" ? 0 : Number(m[2])
  }
  return policy as RetentionPolicy
}

/** The TTL expression as the engine prints it back in engine_full, so an unchanged policy changes nothing. */
export const ttlExpression = (column: string, months: number) => `toDateTime(${column}) + toIntervalMonth(${months})`

/**
 * Makes each table's TTL what the policy says. Existing rows are not rewritten now
 * (materialize_ttl_after_modify = 0): the engine's TTL merges remove what expired. Returns the tables changed.
 */
export const applyRetention = Effect.fn("applyRetention")(function* (policy: RetentionPolicy) {
  const warehouse = yield* Warehouse
  const tables = yield* warehouse.query<{ name: string; engine_full: string }>(
    "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()")
  const engines = new Map(tables.map((t) => [t.name, t.engine_full]))
  const changed: Array<string> = []
  for (const [store, list] of Object.entries(RETENTION_TABLES) as Array<[keyof typeof RETENTION_TABLES, ReadonlyArray<readonly [string, string]>]>) {
    for (const [table, column] of list) {
      const engine = engines.get(table)
      if (engine === undefined) continue
      const current = / TTL (.+?)(?: SETTINGS |$)/.exec(engine)?.[1]
      const months = policy[store]
      const wanted = months > 0 ? ttlExpression(column, months) : undefined
      if (current === wanted) continue
      yield* warehouse.command(wanted === undefined
        ? `ALTER TABLE ${table} REMOVE TTL`
        : `ALTER TABLE ${table} MODIFY TTL ${wanted} SETTINGS materialize_ttl_after_modify = 0`)
      changed.push(table)
    }
  }
  return changed
})

/**
 * When a revoked or expired token stops being kept: it is dropped once it stopped working before this instant
 * (policy.tokens months before now); undefined when tokens are kept until erased.
 */
export const tokensCutoffMs = (policy: RetentionPolicy, now: Date = new Date()): number | undefined =>
  policy.tokens <= 0 ? undefined
    : Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - policy.tokens, now.getUTCDate(), now.getUTCHours(), now.getUTCMinutes(), now.getUTCSeconds())

/** The first UTC day the archive keeps under the policy (YYYY-MM-DD), or undefined when it keeps everything. */
export const archiveCutoff = (policy: RetentionPolicy, now: Date = new Date()): string | undefined => {
  if (policy.archive <= 0) return undefined
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - policy.archive, now.getUTCDate()))
  return d.toISOString().slice(0, 10)
}
