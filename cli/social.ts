// The live X/Twitter connectors as the CLI runs them: inside `cdp serve` when configured (one process owns the
// data dir), or one search pass with `cdp x-search`; and the listening report as `cdp serve` serves it.
import { Cause, Data, Duration, Effect, Schedule } from "effect"
import type { ListeningReporter } from "../ingest/listening-route.ts"
import type { ListenReport } from "../sentiment/index.ts"
import { BusUnavailable } from "../ingest/bus.ts"
import { Pipeline } from "../ingest/pipeline.ts"
import {
  loadXConfig, makeXClient, pollRecentSearch, type QuerySummary, runFilteredStream, XBadAnswer, type XConfig, XRateLimited, type XStatus,
  XUnavailable,
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
export const statusLogger = Effect.map(Effect.context<never>(), (services) => (status: XStatus) => {
  // A state that could not be used means the 7-day window is fetched again, and stream lines that are no tweet are
  // dropped: worth a warning, which commands show.
  const log = status.kind === "state_reset" ? Effect.logWarning("x connector")
    : status.kind === "unreadable_lines" ? Effect.logWarning("x stream lines that are not tweets were dropped")
    : Effect.logInfo("x connector")
  Effect.runForkWith(services)(log.pipe(Effect.annotateLogs({ ...(status as unknown as Record<string, unknown>) })))
})

export const submitItems = (items: ReadonlyArray<ImportedItem>) =>
  Effect.gen(function* () {
    const pipeline = yield* Pipeline
    const { events, deadLetters } = splitItems(items)
    yield* pipeline.submit(events, deadLetters)
  })

/** Queries of a pass whose answers X refused or could not give; the other queries ran. */
export class XQueriesFailed extends Data.TaggedError("XQueriesFailed")<{ readonly failed: ReadonlyArray<QuerySummary> }> {
  override get message() {
    const [first, ...more] = this.failed
    return `query ${JSON.stringify(first?.query)}: ${first?.error}${more.length === 0 ? "" : ` (and ${more.length} more queries failed: see their summaries)`}`
  }
}

/** One pass over the configured recent-search queries. */
export const xSearchOnce = (config: XConfig, tenant: string) =>
  Effect.flatMap(statusLogger, (logStatus) =>
    pollRecentSearch(config, { tenant, onItems: submitItems, client: makeXClient(config, { onStatus: logStatus }) }))

/**
 * Worth trying again at the next poll: a rate limit, an outage, an unusable answer (not a wrong token or app), and the
 * event bus unable to take the tweets (Kafka away for a while): a page is saved as read only after its tweets were
 * handed on, so the next pass asks for them again.
 */
export const passingTrouble = (error: unknown): boolean =>
  error instanceof XRateLimited || error instanceof XUnavailable || error instanceof XBadAnswer || error instanceof BusUnavailable

/** Polls the queries every `interval` and keeps the filtered stream open, until the scope closes. */
export const runXConnectors = (tenant: string, interval: Duration.Input) =>
  Effect.gen(function* () {
    const config = yield* loadXConfig(yield* xEnvironment)
    const logStatus = yield* statusLogger
    const client = makeXClient(config, { onStatus: logStatus })
    const logFailure = (what: string) => (error: unknown) =>
      Effect.logError(`x ${what} stopped`).pipe(Effect.annotateLogs({ error: error instanceof Error ? error.message : String(error) }))
    // An outage or a rate limit longer than the client waits is logged and tried again at the next poll; before, the
    // first one stopped the search (and the stream) until cdp serve restarted. A wrong token or app still stops them.
    const again = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>) =>
      effect.pipe(
        Effect.tapError((error) => passingTrouble(error)
          ? Effect.logWarning(`x ${what} failed; trying again at the next poll`).pipe(Effect.annotateLogs({ error: (error as Error).message }))
          : Effect.void),
        Effect.retry({ while: passingTrouble, schedule: Schedule.spaced(interval) }),
      )
    if (config.queries.length > 0) {
      const pass = Effect.tap(pollRecentSearch(config, { tenant, onItems: submitItems, client }), (summaries) =>
        Effect.forEach(summaries.filter((s) => s.error !== undefined), (s) =>
          Effect.logError("x search query failed").pipe(Effect.annotateLogs({ query: s.query, error: s.error }))))
      yield* again("search", pass).pipe(
        Effect.repeat(Schedule.spaced(interval)),
        Effect.catchCause((cause) => logFailure("search")(Cause.squash(cause))),
        Effect.forkScoped,
      )
    }
    if (config.rules.length > 0) {
      yield* again("stream", runFilteredStream(config, { tenant, onItems: submitItems, client, onStatus: logStatus })).pipe(
        Effect.catchCause((cause) => logFailure("stream")(Cause.squash(cause))),
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
