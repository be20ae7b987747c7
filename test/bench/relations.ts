// Relational intelligence benchmark (issue 14, "Measured, not assumed"): the time to bring every profile's
// relationship to a date with about a million events landed, from the daily tables the materialized views keep and,
// for comparison, recomputed from history; and the cost per landed event of keeping the signals current: the same
// rows inserted into event_rows (materialized views on) and into a copy of it without views, in the same run.
// Run by `npm run bench`; BENCH_RELATIONS_EVENTS sets the number of events (1,000,000).
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { homedir, loadavg } from "node:os"
import { join } from "node:path"
import { Effect, Logger } from "effect"
import { computeRelations, DEFAULT_RELATIONS_CONFIG } from "../../identity/relations/index.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { FILE_SOURCES } from "../../ingest/sources/index.ts"
import { readProfileHistories } from "../../warehouse/relations.ts"
import { chDateTime, eventRow } from "../../warehouse/sink.ts"
import { type Row, Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { SHARED_DIR } from "../support/shared.ts"

const TARGET_EVENTS = Number(process.env["BENCH_RELATIONS_EVENTS"] ?? 1_000_000)
const PEOPLE = 6000
const BATCH = 50_000
const TENANT = "bench"
const SOURCES: ReadonlyArray<readonly [string, string]> = [
  ["segment", "web.ndjson"], ["sendgrid", "email-events.json"], ["email", "email-inbound"], ["chat", "chat.ndjson"],
  ["twitter", "tweets.json"], ["calls", "calls.csv"],
]

const fmt = (n: number, digits = 0) => n.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits })
const out = (line = "") => process.stdout.write(`${line}\n`)
/** The 1-minute load average: on a shared machine every wall time here follows it, so it is printed beside them. */
const load = () => loadavg()[0]!.toFixed(1)

/** The relational variant at 6,000 people (seeded, so the same every run), made once under ~/.cache/cdp/bench. */
const variant = (): string => {
  const dir = join(homedir(), ".cache", "cdp", "bench", `relational-${PEOPLE}`)
  if (!existsSync(join(dir, "truth", "relationships.ndjson"))) {
    const r = spawnSync(process.execPath, [join(SHARED_DIR, "data/signals/relational.mjs"), "--out", dir, "--people", String(PEOPLE)], { encoding: "utf8" })
    if (r.status !== 0) throw new Error(`relational.mjs: ${r.stderr}`)
  }
  return dir
}

/**
 * The variant's events as the connectors read them, each given a profile by its first identifier (identity
 * resolution is not what is measured here), copied with distinct ids and profiles until there are enough.
 */
const benchRows = async (dir: string) => {
  const base: Array<CanonicalEvent> = []
  const ctx = { tenant: TENANT, receivedAtMs: Date.now() }
  for (const [source, file] of SOURCES) {
    for await (const item of FILE_SOURCES.get(source)!.read(join(dir, file), ctx)) if (item._tag === "event") base.push(item.event)
  }
  const owner = (e: CanonicalEvent) => e.userId || e.anonymousId || e.identifiers[0]?.value || e.messageId
  const events: Array<Row> = []
  const sentiment: Array<Row> = []
  for (let copy = 0; events.length < TARGET_EVENTS; copy++) {
    for (const e of base) {
      if (events.length >= TARGET_EVENTS) break
      const event = { ...e, messageId: `${e.messageId}~${copy}`, profileId: `prof_${owner(e)}~${copy}` }
      events.push(eventRow(event))
      if (e.text !== "") {
        // A fixed score per text: what is measured is the cost of keeping the voice table, not the scorer.
        const score = ((e.messageId.charCodeAt(0) % 21) - 10) / 10
        sentiment.push({
          tenant: TENANT, message_id: event.messageId, profile_id: event.profileId, channel: e.channel, source: e.source,
          timestamp: chDateTime(e.timestamp), scored_at: chDateTime(new Date().toISOString()), status: "scored", reason: "",
          language: "en", score, label: score > 0.05 ? "positive" : score < -0.05 ? "negative" : "neutral", model_version: "bench",
          evidence: "[]", aspects: [],
        })
      }
    }
  }
  return { events, sentiment }
}

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const t = performance.now()
    const value = yield* effect
    return { value, seconds: (performance.now() - t) / 1000 }
  })

const insertAll = (table: string, rows: ReadonlyArray<Row>) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    for (let i = 0; i < rows.length; i += BATCH) yield* warehouse.insert(table, rows.slice(i, i + BATCH))
  })

/**
 * Each batch into both tables, the order alternating batch by batch, each side's time summed: a busy machine's drift
 * then weighs on both sides alike.
 */
const insertBoth = (plain: string, viewed: string, rows: ReadonlyArray<Row>) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const seconds = { plain: 0, viewed: 0 }
    for (let i = 0, n = 0; i < rows.length; i += BATCH, n++) {
      const batch = rows.slice(i, i + BATCH)
      for (const table of n % 2 === 0 ? [plain, viewed] : [viewed, plain]) {
        const t = performance.now()
        yield* warehouse.insert(table, batch)
        seconds[table === plain ? "plain" : "viewed"] += (performance.now() - t) / 1000
      }
    }
    return seconds
  })

const main = Effect.gen(function* () {
  const { events, sentiment } = yield* Effect.promise(() => benchRows(variant()))
  const warehouse = yield* Warehouse
  out(`relations: ${fmt(events.length)} events (${fmt(sentiment.length)} scored texts) of the relational variant (${PEOPLE} people, copied); load ${load()}`)
  // The ceiling: the same rows into a copy of event_rows (same engine, partition and order key) that no view reads.
  yield* warehouse.command("CREATE TABLE bench_event_rows AS event_rows")
  const landed = yield* insertBoth("bench_event_rows", "event_rows", events)
  const plain = { seconds: landed.plain }
  const viewed = { seconds: landed.viewed }
  const voice = yield* timed(insertAll("sentiment", sentiment))
  const perEvent = (s: number) => (s / events.length) * 1e6
  out(`  landing without views: ${fmt(plain.seconds, 1)} s (${fmt(perEvent(plain.seconds), 1)} µs/event, ${fmt(events.length / plain.seconds)} rows/s)`)
  out(`  landing with the relational views: ${fmt(viewed.seconds, 1)} s (${fmt(perEvent(viewed.seconds), 1)} µs/event): ` +
    `keeping signals current costs ${fmt(perEvent(viewed.seconds - plain.seconds), 1)} µs per landed event (${fmt(viewed.seconds / plain.seconds, 2)}x the insert alone)`)
  out(`  sentiment rows (voice view on): ${fmt(voice.seconds, 1)} s for ${fmt(sentiment.length)} rows`)
  const [days] = yield* warehouse.query<{ n: string }>("SELECT count() AS n FROM relation_activity_daily WHERE tenant = {t:String}", { params: { t: TENANT } })
  out(`  relation_activity_daily: ${fmt(Number(days!.n))} rows (profile-days, before merges) for ${fmt(events.length)} events`)
  const options = { tenant: TENANT, asOf: "2024-12-01", config: DEFAULT_RELATIONS_CONFIG }
  const incremental = yield* timed(computeRelations(options))
  const history = yield* timed(computeRelations({ ...options, source: "history" }))
  const readDaily = yield* timed(readProfileHistories(TENANT, options.asOf))
  const readHistory = yield* timed(readProfileHistories(TENANT, options.asOf, "history"))
  out(`  reading every profile's signals: ${fmt(readDaily.seconds, 2)} s from the daily tables, ${fmt(readHistory.seconds, 2)} s scanning history (${fmt(readHistory.seconds / readDaily.seconds, 1)}x)`)
  out(`  cdp relations compute (every profile, ${fmt(incremental.value.profiles)} profiles): ${fmt(incremental.seconds, 2)} s from the daily tables; ` +
    `${fmt(history.seconds, 2)} s recomputed from history (${fmt(history.seconds / incremental.seconds, 1)}x)`)
  out(`  load average at the end: ${load()}`)
})

const dir = freshDir("cdp-bench-relations-")
try {
  await Effect.runPromise(main.pipe(Effect.scoped, Effect.provide(Warehouse.embedded(join(dir, "clickhouse"))), Effect.provide(Logger.layer([]))))
} finally {
  removeDir(dir)
}
