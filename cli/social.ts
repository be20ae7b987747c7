// The live X/Twitter connectors as the CLI runs them: inside `cdp serve` when configured (one process owns the
// data dir), or one search pass with `cdp x-search`.
import { Duration, Effect, Schedule } from "effect"
import { Pipeline } from "../ingest/pipeline.ts"
import {
  loadXConfig, makeXClient, pollRecentSearch, runFilteredStream, type XConfig, type XStatus,
} from "../ingest/social/index.ts"
import { type ImportedItem, splitItems } from "../ingest/sources/index.ts"
import { xEnvironment } from "./config.ts"

/** Connector status as a log line: counts and endpoints only, never tweet content or identifiers. */
const logStatus = (status: XStatus) =>
  Effect.runFork(Effect.logInfo("x connector").pipe(Effect.annotateLogs({ ...(status as unknown as Record<string, unknown>) })))

export const submitItems = (items: ReadonlyArray<ImportedItem>) =>
  Effect.gen(function* () {
    const pipeline = yield* Pipeline
    const { events, deadLetters } = splitItems(items)
    yield* pipeline.submit(events, deadLetters)
  })

/** One pass over the configured recent-search queries. */
export const xSearchOnce = (config: XConfig, tenant: string) =>
  pollRecentSearch(config, { tenant, onItems: submitItems, client: makeXClient(config, { onStatus: logStatus }) })

/** Polls the queries every `interval` and keeps the filtered stream open, until the scope closes. */
export const runXConnectors = (tenant: string, interval: Duration.Input) =>
  Effect.gen(function* () {
    const config = yield* loadXConfig(yield* xEnvironment)
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
