// `cdp relations compute|summary|explain`: each profile's relationship with the brand (type, health, churn risk and
// their evidence) brought to a date, how the types moved between two dates, and one profile's evidence.
import { type Command, InvalidArgumentError, Option } from "commander"
import { Effect, type Scope } from "effect"
import { type IdentityConfig, profileIdOf, readIdentifier } from "../identity/index.ts"
import {
  computeRelations, type ComputeResult, dayOf, DEFAULT_RELATIONS_CONFIG, explainRelation, MAX_PERIODS, type RelationExplanation, type RelationSeries, relationSeries, SERIES_EVERY,
  notARunDay, type SeriesEvery, summarise, type Summary,
} from "../identity/relations/index.ts"
import { readRuns } from "../warehouse/relations.ts"
import type { Warehouse } from "../warehouse/warehouse.ts"
import { relationshipsText } from "../sentiment/report-relations.ts"
import { DEFAULT_TENANT } from "../ingest/writekeys.ts"
import { dayOnly } from "./calendar.ts"

/** compute --as-of: a day on the calendar that a run can be kept for (refused before the data dir is opened). */
const runDay = (value: string): string => {
  const outside = notARunDay(dayOnly(value))
  if (outside !== undefined) throw new InvalidArgumentError(outside)
  return value
}
import { readSetting, SETTINGS } from "./config.ts"
import { formatRows, type OutputFormat } from "./format.ts"
import { backendConfig, commandLogger, warehouseLayer } from "./layers.ts"
import { runCommand } from "./run.ts"
import { callServer, directOrServer, followOperation, type RunningServer } from "./server-info.ts"

const formatOption = () => new Option("--format <format>", "output format").choices(["json", "table"]).default("table")

/**
 * `program` on the data directory, or, while `cdp serve` holds it, the same answer from the server's
 * /v1/relations route (`path`, and the body of a POST): its answer without the success flag.
 */
const onDataOrServer = <A, E>(dataDir: string | undefined, program: Effect.Effect<A, E, Warehouse | Scope.Scope>, path: string, body?: Record<string, unknown>) => {
  const backend = backendConfig(dataDir)
  return directOrServer(backend, program.pipe(Effect.scoped, Effect.provide(warehouseLayer(backend))), (server: RunningServer) =>
    Effect.map(callServer<A & { success?: boolean }>(server, body === undefined ? "GET" : "POST", path, body), ({ success: _, ...answer }) => answer as A))
}

/** A query string of the parameters given (undefined ones left out). */
const query = (params: Record<string, string | number | undefined>) => {
  const given = Object.entries(params).filter((e): e is [string, string | number] => e[1] !== undefined)
  return given.length === 0 ? "" : `?${new URLSearchParams(given.map(([k, v]) => [k, String(v)])).toString()}`
}

const section = (title: string, rows: ReadonlyArray<Record<string, unknown>>) =>
  `${title}\n${rows.length === 0 ? "  (none)" : formatRows(rows, "table")}`

export const renderSummary = (s: Summary, limit: number): string =>
  [
    `Relationships of tenant ${s.tenant}: ${s.from} -> ${s.to}`,
    section("Profiles per type", s.distribution.map((d) => ({ type: d.type, [s.from]: d.from, [s.to]: d.to, change: d.to - d.from }))),
    section("Movements between types", s.movements.map((m) => ({ from: m.from, to: m.to, profiles: m.profiles }))),
    section(`Profiles whose type changed (${s.changed.length}; riskiest first${s.changed.length > limit ? `, first ${limit}` : ""})`,
      s.changed.slice(0, limit).map((c) => ({ profile_id: c.profileId, from: c.from, to: c.to, churn_risk: c.churnRisk }))),
  ].join("\n\n")

export const renderExplanation = (e: RelationExplanation): string =>
  [
    `Relationship of profile ${e.profileId} as of ${e.asOf}: ${e.relationshipType}, health ${e.healthScore}/100, churn risk ${e.churnRisk.toFixed(2)}` +
      (e.sentimentTrend === null ? "" : `, sentiment ${e.sentimentLevel?.toFixed(2)} (trend ${e.sentimentTrend >= 0 ? "+" : ""}${e.sentimentTrend.toFixed(2)})`),
    `Evidence:\n${e.factors.map((f) => `  - ${f}`).join("\n")}`,
    section("Signals", Object.entries(e.signals).map(([signal, value]) => ({ signal, value: value === null ? "" : value }))),
  ].join("\n\n")

export const renderSeries = (s: RelationSeries): string =>
  `Relationships of tenant ${s.tenant}, every ${s.every}: ${s.from} to ${s.to}` +
  (s.message === undefined ? relationshipsText(s) : `\n${s.message}`)

/**
 * The listening report's relationships: the series over the report's period up to today (no run is stored for days
 * to come: a far until, 2099-01-01, asked for 3,700 weeks), every week, or every month when weeks would be more than
 * the series takes (MAX_PERIODS; a report covers 10 years, 522 weeks), from stored runs only (a report must not
 * recompute every profile); undefined when the tenant has no relationship scores.
 */
export const withRelationships = <R extends { readonly tenant: string; readonly since: string; readonly until: string }, E, X>(
  report: Effect.Effect<R, E, X>,
) =>
  Effect.gen(function* () {
    const r = yield* report
    if ((yield* readRuns(r.tenant)).length === 0) return r
    const from = r.since.slice(0, 10)
    const to = [[dayOf(Date.parse(r.until) - 1), dayOf(Date.now())].sort()[0]!, from].sort().at(-1)!
    const weeks = (Date.parse(to) - Date.parse(from)) / (7 * 86_400_000) + 2
    const relationships = yield* relationSeries({
      // Stored runs only, so the scoring configuration is never read: a bad CDP_RELATIONS cannot fail a listening report.
      tenant: r.tenant, from, to, every: weeks > MAX_PERIODS ? "month" : "week", computeMissing: false, config: DEFAULT_RELATIONS_CONFIG,
    })
    return { ...r, relationships }
  })

/** Registers `cdp relations ...` (cli/main.ts passes what every command shares). */
export const registerRelationsCommands = (program: Command, shared: {
  readonly dataDirOption: () => Option
  readonly identity: () => IdentityConfig
}) => {
  const relations = program.command("relations").description("relationship with the brand per profile: type, health, churn risk, with evidence")
  const config = () => readSetting(SETTINGS.relations)

  relations
    .command("compute")
    .description("bring every profile's relationship type, health score and churn risk to a date, from the data up to it")
    .addOption(new Option("--as-of <date>", "the date (YYYY-MM-DD, UTC; default today)").argParser(runDay))
    .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
    .addOption(formatOption())
    .addOption(shared.dataDirOption())
    .addHelpText("after", `
The scores land in relation_scores and show as columns of the profiles view (relationship_type, health_score,
churn_risk, sentiment_trend, relationship_factors). Which events are orders, mail opens... is CDP_RELATIONS.

Examples:
  $ npx cdp relations compute
  $ npx cdp relations compute --as-of 2024-11-01
  $ npx cdp query "SELECT profile_id, relationship_type, churn_risk FROM profiles ORDER BY churn_risk DESC LIMIT 20"`)
    .action((opts: { asOf?: string; tenant: string; format: OutputFormat; dataDir?: string }) => {
      const main = Effect.gen(function* () {
        const asOf = opts.asOf ?? dayOf(Date.now())
        const backend = backendConfig(opts.dataDir)
        const direct = computeRelations({ tenant: opts.tenant, asOf, config: yield* config() }).pipe(Effect.scoped, Effect.provide(warehouseLayer(backend)))
        const result = yield* directOrServer(backend, direct, (server) => followOperation<ComputeResult>(server, "/v1/relations/compute", { tenant: opts.tenant, asOf }))
        process.stdout.write(opts.format === "json" ? `${JSON.stringify(result)}\n`
          : `${result.profiles} profiles of tenant ${result.tenant} brought to ${result.asOf} in ${result.seconds} s\n` +
            `${formatRows(Object.entries(result.byType).map(([type, profiles]) => ({ type, profiles })), "table")}\n`)
      })
      runCommand(main.pipe(Effect.provide(commandLogger)))
    })

  relations
    .command("summary")
    .description("profiles per relationship type at two dates, the movements between types, and who changed")
    .addOption(new Option("--from <date>", "start of the period (YYYY-MM-DD; default 30 days before --to)").argParser(dayOnly))
    .addOption(new Option("--to <date>", "end of the period (YYYY-MM-DD; default the date of the latest compute)").argParser(dayOnly))
    .option("--limit <n>", "profiles listed in the table", (v) => {
      const n = Number(v)
      if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`)
      return n
    }, 20)
    .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
    .addOption(formatOption())
    .addOption(shared.dataDirOption())
    .addHelpText("after", `
A date a compute brought the scores to is read from relation_scores; any other date is computed on the fly.

Examples:
  $ npx cdp relations summary
  $ npx cdp relations summary --from 2024-10-01 --to 2024-11-01 --format json`)
    .action((opts: { from?: string; to?: string; limit: number; tenant: string; format: OutputFormat; dataDir?: string }) => {
      const main = Effect.gen(function* () {
        const s = yield* onDataOrServer(opts.dataDir, summarise({ tenant: opts.tenant, from: opts.from, to: opts.to, config: yield* config() }),
          `/v1/relations/summary${query({ tenant: opts.tenant, from: opts.from, to: opts.to, limit: opts.limit })}`)
        process.stdout.write(`${opts.format === "json" ? JSON.stringify(s) : renderSummary(s, opts.limit)}\n`)
      })
      runCommand(main.pipe(Effect.provide(commandLogger)))
    })

  relations
    .command("report")
    .description("profiles per relationship type at the end of each day, week or month, and the movements between types")
    .addOption(new Option("--from <date>", "first day (YYYY-MM-DD; default 12 weeks before --to)").argParser(dayOnly))
    .addOption(new Option("--to <date>", "last day (YYYY-MM-DD; default the latest date a compute brought the scores to, else today)").argParser(dayOnly))
    .addOption(new Option("--every <period>", "period of the series").choices(SERIES_EVERY).default("week"))
    .option("--compute-missing", "compute a period without a stored run as of its last day (not stored; slower)", false)
    .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
    .addOption(formatOption())
    .addOption(shared.dataDirOption())
    .addHelpText("after", `
Each period (weeks run Monday to Sunday, months are calendar months; the first and last are cut to the range) shows
the latest run of cdp relations compute dated inside it. Without --compute-missing a period with no run is shown as
"no scores": computing one reads every profile's signals. The same section is in cdp listen report when the tenant
has relationship scores.

Examples:
  $ npx cdp relations report --from 2024-09-01 --to 2024-11-30
  $ npx cdp relations report --from 2024-06-01 --to 2024-11-30 --every month --compute-missing --format json`)
    .action((opts: { from?: string; to?: string; every: SeriesEvery; computeMissing: boolean; tenant: string; format: OutputFormat; dataDir?: string }) => {
      const main = Effect.gen(function* () {
        const relationsConfig = yield* config()
        const s = yield* onDataOrServer(opts.dataDir, Effect.gen(function* () {
          const to = opts.to ?? (yield* readRuns(opts.tenant)).map((r) => r.asOf).sort().at(-1) ?? dayOf(Date.now())
          const from = opts.from ?? dayOf(Date.parse(`${to}T00:00:00Z`) - 83 * 86_400_000)
          return yield* relationSeries({ tenant: opts.tenant, from, to, every: opts.every, computeMissing: opts.computeMissing, config: relationsConfig })
        }), `/v1/relations/report${query({ tenant: opts.tenant, from: opts.from, to: opts.to, every: opts.every, computeMissing: opts.computeMissing ? "true" : undefined })}`)
        process.stdout.write(`${opts.format === "json" ? JSON.stringify(s) : renderSeries(s)}\n`)
      })
      runCommand(main.pipe(Effect.provide(commandLogger)))
    })

  relations
    .command("explain")
    .description("why a profile has its relationship type, health score and churn risk: the evidence and the signals")
    .argument("<identifier>", "whose relationship (e.g. email:ann@x.example, +447700900123, user_id:u1, prof_...)")
    .addOption(new Option("--as-of <date>", "a date a compute brought the scores to (default the latest)").argParser(dayOnly))
    .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
    .addOption(formatOption())
    .addOption(shared.dataDirOption())
    .addHelpText("after", `
Examples:
  $ npx cdp relations explain ann@x.example
  $ npx cdp relations explain user_id:u1 --as-of 2024-11-01 --format json`)
    .action((identifier: string, opts: { asOf?: string; tenant: string; format: OutputFormat; dataDir?: string }) => {
      const main = Effect.gen(function* () {
        // Checked before the data dir is opened: a wrong identifier touches nothing.
        const ref = yield* readIdentifier(identifier, opts.tenant, shared.identity())
        const e = yield* onDataOrServer(opts.dataDir, Effect.gen(function* () {
          const profileId = yield* profileIdOf(opts.tenant, ref)
          return yield* explainRelation(opts.tenant, profileId, opts.asOf)
        }), `/v1/relations/explain/${encodeURIComponent(identifier)}${query({ tenant: opts.tenant, asOf: opts.asOf })}`)
        process.stdout.write(`${opts.format === "json" ? JSON.stringify(e) : renderExplanation(e)}\n`)
      })
      runCommand(main.pipe(Effect.provide(commandLogger)))
    })
}
