// The live X/Twitter connectors as the CLI runs them: inside `cdp serve` when configured (one process owns the
// data dir), or one search pass with `cdp x-search`; and the listening report as `cdp serve` serves it.
import { Data, Duration, Effect, Schedule } from "effect"
import type { ListeningReporter } from "../ingest/listening-route.ts"
import type { ListenReport } from "../sentiment/index.ts"
import { Pipeline } from "../ingest/pipeline.ts"
import {
  loadXConfig, makeXClient, pollRecentSearch, runFilteredStream, type XConfig, type XStatus,
} from "../ingest/social/index.ts"
import { type ImportedItem, splitItems } from "../ingest/sources/index.ts"
import { readSetting, SETTINGS, xEnvironment } from "./config.ts"
import { withRelationships } from "./relations.ts"
import { type RunningServer, serverCaller } from "./server-info.ts"

/**
 * Connector status as a log line: counts and endpoints only, never tweet content or identifiers. The client calls it
 * outside any effect, so it is run with the caller's services: the command's or server's own logger and level (a bare
 * runFork had Effect's default logger, pretty lines on stdout among cdp x-search's JSON summaries).
 */
const statusLogger = Effect.map(Effect.context<never>(), (services) => (status: XStatus) => {
  Effect.runForkWith(services)(Effect.logInfo("x connector").pipe(Effect.annotateLogs({ ...(status as unknown as Record<string, unknown>) })))
})

export const submitItems = (items: ReadonlyArray<ImportedItem>) =>
  Effect.gen(function* () {
    const pipeline = yield* Pipeline
    const { events, deadLetters } = splitItems(items)
    yield* pipeline.submit(events, deadLetters)
  })

/** One pass over the configured recent-search queries. */
export const xSearchOnce = (config: XConfig, tenant: string) =>
  Effect.flatMap(statusLogger, (logStatus) =>
    pollRecentSearch(config, { tenant, onItems: submitItems, client: makeXClient(config, { onStatus: logStatus }) }))

/** Polls the queries every `interval` and keeps the filtered stream open, until the scope closes. */
export const runXConnectors = (tenant: string, interval: Duration.Input) =>
  Effect.gen(function* () {
    const config = yield* loadXConfig(yield* xEnvironment)
    const logStatus = yield* statusLogger
    const client = makeXClient(config, { onStatus: logStatus })
    const logFailure = (what: string) => (error: unknown) =>
      Effect.logError(`x ${what} stopped`).pipe(Effect.annotateLogs({ error: error instanceof Error ? error.message : String(error) }))
    if (config.queries.length > 0) {
      yield* pollRecentSearch(config, { tenant, onItems: submitItems, client }).pipe(
        Effect.repeat(Schedule.spaced(interval)),
        Effect.catchCause((cause) => logFailure("search")(cause)),
        Effect.forkScoped,
      )
    }
    if (config.rules.length > 0) {
      yield* runFilteredStream(config, { tenant, onItems: submitItems, client, onStatus: logStatus }).pipe(
        Effect.catchCause((cause) => logFailure("stream")(cause)),
        Effect.forkScoped,
      )
    }
    return { queries: config.queries.length, rules: config.rules.length }
  })

/**
 * How `cdp serve` makes GET /v1/listening/report: the report `cdp listen report` prints, with the brand terms
 * (CDP_BRAND_TERMS), the alert webhook (CDP_ALERT_WEBHOOK_URL, CDP_ALERT_WEBHOOK_PRIVATE_NETWORK) and the relationships section.
 */
export const listeningReporter = Effect.gen(function* () {
  const brand = yield* readSetting(SETTINGS.brandTerms)
  const webhookUrl = yield* readSetting(SETTINGS.alertWebhookUrl)
  const webhookPrivateNetwork = yield* readSetting(SETTINGS.alertWebhookPrivateNetwork)
  const reporter: ListeningReporter = (o) =>
    Effect.flatMap(Effect.promise(() => import("../sentiment/index.ts")), ({ listenReport }) =>
      withRelationships(listenReport({ ...o, brand, ...(o.raiseAlerts && webhookUrl !== undefined ? { webhookUrl, webhookPrivateNetwork } : {}) })))
  return reporter
})

export class ListeningServerFailed extends Data.TaggedError("ListeningServerFailed")<{ readonly message: string }> {}

/**
 * The report through a running server's /v1/listening/report (the server's brand terms and webhook apply): a POST
 * when alerts are to be raised (it writes), else a GET.
 */
export const listenReportThroughServer = (server: RunningServer, o: { readonly tenant: string; readonly since: Date; readonly until?: Date | undefined; readonly alerts: boolean }) => {
  const parameters = { tenant: o.tenant, since: o.since.toISOString(), ...(o.until === undefined ? {} : { until: o.until.toISOString() }) }
  const call = serverCaller((message) => new ListeningServerFailed({ message }))<{ report: ListenReport }>
  return Effect.map(o.alerts ? call(server, "POST", "/v1/listening/report", parameters)
    : call(server, "GET", `/v1/listening/report?${new URLSearchParams(parameters)}`), (r) => r.report)
}
