// `cdp export run|status|history|dry-run|replay`: the tenant's export destinations (CDP_DESTINATIONS) on the data dir,
// or through `cdp serve`'s /v1/exports routes (and its CDP_DESTINATIONS) while it holds the data dir.
// Output names profiles by id and counts; credentials are shown redacted. Only dry-run prints what would be sent.
import { type Command, InvalidArgumentError, Option } from "commander"
import { Data, Effect, Layer } from "effect"
import { ConsentPoliciesRef } from "../consent/index.ts"
import { findDestination, MAX_DRY_RUN_SHOWN, replayDeadLetters, syncDestination, syncDestinations, type SyncReport } from "../ingest/destinations/index.ts"
import { destinationStatus, type DestinationStatus, MAX_HISTORY } from "../ingest/export-route.ts"
import { deliveryHistory } from "../warehouse/exports.ts"
import { destinationAudiencesChecked, destinationsSetting, readSetting, SETTINGS } from "./config.ts"
import { formatRows, type OutputFormat } from "./format.ts"
import { type BackendConfig, backendConfig, commandLogger, objectStoreLayer, warehouseLayer } from "./layers.ts"
import { runCommand } from "./run.ts"
import { directOrServer, serverCaller } from "./server-info.ts"

const print = (text: string) => process.stdout.write(`${text}\n`)

/** A wrong destination name, an unknown tenant, a failed run: one line, exit 1. */
export class ExportFailed extends Data.TaggedError("ExportFailed")<{ readonly message: string }> {}

const layer = (backend: BackendConfig) =>
  Layer.mergeAll(warehouseLayer(backend), objectStoreLayer(backend), Layer.effect(ConsentPoliciesRef, readSetting(SETTINGS.consent)))

const callServer = serverCaller((message) => new ExportFailed({ message }))

const destinationsOf = (tenant: string, name: string | undefined) =>
  Effect.gen(function* () {
    const all = yield* destinationsSetting
    yield* destinationAudiencesChecked(all)
    if (name === undefined) {
      const mine = all.filter((d) => d.tenant === tenant)
      if (mine.length === 0) return yield* new ExportFailed({ message: `tenant "${tenant}" has no export destinations (set CDP_DESTINATIONS)` })
      return mine
    }
    const found = findDestination(all, tenant, name)
    return found instanceof Error ? yield* new ExportFailed({ message: found.message }) : [found]
  })

const reportRow = (r: SyncReport) => ({
  destination: r.destination, type: r.type, upserted: r.upserted, unchanged: r.unchanged, removed: r.removed, erased: r.erased,
  dead_lettered: r.deadLettered, requests: r.requests, retries: r.retries, ms: r.ms, cursor: r.cursorAdvanced ? "advanced" : "kept", error: r.error ?? "",
})

interface Common {
  readonly tenant: string
  readonly format: OutputFormat
  readonly backend: BackendConfig
}

const path = (tenant: string, destination: string | undefined, action: string) =>
  `/v1/exports${destination === undefined ? "" : `/${encodeURIComponent(destination)}`}${action === "" ? "" : `/${action}`}?${new URLSearchParams({ tenant })}`

export const exportRun = (options: Common & { readonly destination: string | undefined; readonly full: boolean }) =>
  Effect.gen(function* () {
    const direct = Effect.flatMap(destinationsOf(options.tenant, options.destination), (configs) => syncDestinations(configs, { full: options.full }))
      .pipe(Effect.provide(layer(options.backend)))
    const reports = yield* directOrServer(options.backend, direct, (server) =>
      Effect.map(callServer<{ reports: Array<SyncReport> }>(server, "POST", path(options.tenant, options.destination, "run"), { full: options.full }), (r) => r.reports))
    print(options.format === "json" ? reports.map((r) => JSON.stringify(r)).join("\n") : formatRows(reports.map(reportRow), "table"))
    const failed = reports.filter((r) => r.error !== undefined)
    if (failed.length > 0) return yield* new ExportFailed({ message: failed.map((r) => `${r.destination}: ${r.error}`).join("; ") })
    // Dead letters are not lost, but a scheduler should hear of them: exit 1, naming where they are.
    const dead = reports.filter((r) => r.deadLettered > 0)
    if (dead.length > 0) {
      return yield* new ExportFailed({
        message: `${dead.map((r) => `${r.destination}: ${r.deadLettered} profile(s) dead-lettered`).join("; ")} (cdp export history DESTINATION shows why; cdp export replay DESTINATION sends them again)`,
      })
    }
  })

export const exportDryRun = (options: Common & { readonly destination: string; readonly full: boolean; readonly limit: number }) =>
  Effect.gen(function* () {
    // Each request holds at least one of the rows shown: as many requests as rows (bodies built for those only).
    const shown = Math.min(options.limit, MAX_DRY_RUN_SHOWN)
    const direct = Effect.gen(function* () {
      const [config] = yield* destinationsOf(options.tenant, options.destination)
      return { report: yield* syncDestination(config!, { full: options.full, dryRun: true, shown }), purpose: config!.purpose, audience: config!.audience ?? "" }
    }).pipe(Effect.provide(layer(options.backend)))
    const { report, purpose, audience } = yield* directOrServer(options.backend, direct, (server) =>
      callServer<{ report: SyncReport; purpose: string; audience: string }>(server, "POST", path(options.tenant, options.destination, "dry-run"), { full: options.full, limit: shown }))
    if (report.error !== undefined) return yield* new ExportFailed({ message: `${report.destination}: ${report.error}` })
    const planned = report.planned ?? []
    if (options.format === "json") {
      for (const p of planned.slice(0, options.limit)) print(JSON.stringify(p))
      return
    }
    const totals = report.plannedTotals ?? { requests: 0, upsert: 0, remove: 0, erase: 0 }
    print(`dry run of ${report.destination} (${report.type}, purpose ${purpose}${audience === "" ? "" : `, audience ${audience}`}): nothing sent`)
    print(`would send ${totals.requests} request(s): ${totals.upsert} upsert(s), ${totals.remove} removal(s), ${totals.erase} erasure(s); ${report.unchanged} profile(s) unchanged`)
    // A row per profile, or per request of record ids (an erasure names no profile): `records` is what it stands for.
    const rows = planned.flatMap((p) => p.profileIds.length > 0
      ? p.profileIds.map((id) => ({ operation: p.operation, batch: p.batchId, request: `${p.method} ${p.url}`, profile_id: id, records: 1 }))
      : [{ operation: p.operation, batch: p.batchId, request: `${p.method} ${p.url}`, profile_id: `(${p.records} record id(s))`, records: p.records }]).slice(0, options.limit)
    if (rows.length > 0) print(formatRows(rows.map(({ records: _, ...row }) => row), "table"))
    const more = totals.upsert + totals.remove + totals.erase - rows.reduce((n, r) => n + r.records, 0)
    if (more > 0) print(`... and ${more} more record(s) (--limit, or --format json for the request bodies)`)
  })

export const exportStatus = (options: Common & { readonly destination: string | undefined }) =>
  Effect.gen(function* () {
    const direct = Effect.flatMap(destinationsOf(options.tenant, options.destination), (configs) => Effect.forEach(configs, destinationStatus))
      .pipe(Effect.provide(layer(options.backend)))
    const rows = yield* directOrServer(options.backend, direct, (server) =>
      options.destination === undefined
        ? Effect.map(callServer<{ destinations: Array<DestinationStatus> }>(server, "GET", path(options.tenant, undefined, "")), (r) => r.destinations)
        : Effect.map(callServer<{ status: DestinationStatus }>(server, "GET", path(options.tenant, options.destination, "status")), (r) => [r.status]))
    if (options.format === "json") {
      for (const r of rows) print(JSON.stringify(r))
      return
    }
    print(formatRows(rows.map(({ config: _c, ...r }) => r), "table"))
  })

type HistoryRow = Effect.Success<ReturnType<typeof deliveryHistory>>[number]

export const exportHistory = (options: Common & { readonly destination: string; readonly limit: number }) =>
  Effect.gen(function* () {
    const direct = Effect.gen(function* () {
      const [config] = yield* destinationsOf(options.tenant, options.destination)
      return yield* deliveryHistory(config!.tenant, config!.name, options.limit)
    }).pipe(Effect.provide(layer(options.backend)))
    const rows = yield* directOrServer(options.backend, direct, (server) =>
      Effect.map(callServer<{ history: Array<HistoryRow> }>(server, "GET", `${path(options.tenant, options.destination, "history")}&limit=${Math.min(options.limit, MAX_HISTORY)}`), (r) => r.history))
    if (options.format === "json") {
      for (const r of rows) print(JSON.stringify(r))
      return
    }
    print(rows.length === 0 ? `nothing sent to ${options.destination} yet` : formatRows(rows.map((r) => ({
      at: r.at, run: r.run_id.slice(0, 16), batch: r.batch_id, operation: r.operation, attempt: r.attempt, outcome: r.outcome,
      http: r.http_status, records: r.records, failed: r.failed, ms: r.duration_ms, detail: r.detail,
    })), "table"))
  })

type Replay = Effect.Success<ReturnType<typeof replayDeadLetters>>

export const exportReplay = (options: Common & { readonly destination: string }) =>
  Effect.gen(function* () {
    const direct = Effect.gen(function* () {
      const [config] = yield* destinationsOf(options.tenant, options.destination)
      return yield* replayDeadLetters(config!)
    }).pipe(Effect.provide(layer(options.backend)))
    const r = yield* directOrServer(options.backend, direct, (server) =>
      Effect.map(callServer<{ replay: Replay }>(server, "POST", path(options.tenant, options.destination, "replay"), {}), (a) => a.replay))
    print(options.format === "json" ? JSON.stringify(r)
      : r.letters === 0 ? `no dead letters for ${r.destination}`
      : `replayed ${r.letters} dead letter(s) of ${r.destination}: ${r.delivered} delivered, ${r.failed} failed again (still open), ${r.dropped} no longer allowed by consent (closed)`)
    if (r.failed > 0) return yield* new ExportFailed({ message: `${r.failed} profile(s) failed again; cdp export history ${r.destination} shows why` })
  })

const positive = (text: string) => {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`must be a whole number of at least 1 and at most ${Number.MAX_SAFE_INTEGER}, not "${text}"`)
  return n
}

/** `cdp export ...`, added to the program. */
export const registerExportCommands = (program: Command, shared: { readonly dataDirOption: () => Option }) => {
  const format = () => new Option("--format <format>", "output format").choices(["json", "table"]).default("table")
  const tenant = () => new Option("--tenant <tenant>", "tenant").default("default")
  const run = (main: Effect.Effect<unknown, unknown>) => runCommand(main.pipe(Effect.provide(commandLogger)))
  const exp = program.command("export").description("exports of consenting profiles to downstream destinations (CDP_DESTINATIONS): files, webhooks, HubSpot, Salesforce; through cdp serve's /v1/exports while it holds the data dir")
  exp
    .command("run")
    .description("sync destinations now: erasures first, then withdrawals, then profiles changed since the last good sync")
    .argument("[destination]", "one destination (default: every destination of the tenant, side by side)")
    .option("--full", "backfill: every consenting profile, not only changed ones (what the destination already has unchanged is skipped)")
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .addHelpText("after", `
Delivery is at least once: a batch is recorded as delivered only after the destination confirmed it, and a batch sent
again (after a crash, a timeout) is taken idempotently (upsert by external id; webhook Idempotency-Key; files named by
batch). What a destination refuses after the retries is dead-lettered: cdp export replay DESTINATION.

Examples:
  $ CDP_DESTINATIONS=@destinations.json npx cdp export run --tenant acme
  $ npx cdp export run crm --tenant acme --full`)
    .action((destination: string | undefined, opts: { full?: boolean; tenant: string; format: OutputFormat; dataDir?: string }) => {
      run(exportRun({ destination, full: opts.full === true, tenant: opts.tenant, format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
  exp
    .command("dry-run")
    .description("what a sync of the destination would send (profile ids; --format json for the request bodies), sending nothing")
    .argument("<destination>", "the destination's name")
    .option("--full", "as a backfill would")
    .option("--limit <n>", "rows shown", positive, 50)
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((destination: string, opts: { full?: boolean; limit: number; tenant: string; format: OutputFormat; dataDir?: string }) => {
      run(exportDryRun({ destination, full: opts.full === true, limit: opts.limit, tenant: opts.tenant, format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
  exp
    .command("status")
    .description("per destination: profiles there, last good sync, last run, open dead letters, pending erasures (json: with the configuration, credentials redacted)")
    .argument("[destination]", "one destination (default: all of the tenant's)")
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((destination: string | undefined, opts: { tenant: string; format: OutputFormat; dataDir?: string }) => {
      run(exportStatus({ destination, tenant: opts.tenant, format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
  exp
    .command("history")
    .description("the delivery log of a destination, newest first: every request, its outcome and the destination's answer")
    .argument("<destination>", "the destination's name")
    .option("--limit <n>", "rows", positive, 50)
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((destination: string, opts: { limit: number; tenant: string; format: OutputFormat; dataDir?: string }) => {
      run(exportHistory({ destination, limit: opts.limit, tenant: opts.tenant, format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
  exp
    .command("replay")
    .description("send a destination's dead letters again, each profile read afresh (one no longer consenting is dropped)")
    .argument("<destination>", "the destination's name")
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((destination: string, opts: { tenant: string; format: OutputFormat; dataDir?: string }) => {
      run(exportReplay({ destination, tenant: opts.tenant, format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
}
