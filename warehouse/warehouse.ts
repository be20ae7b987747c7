// The Warehouse service: ClickHouse through the official @clickhouse/client, either over chDB's in-process
// connection (embedded default, one data directory) or over HTTP to a server. Same client, same SQL.
import { mkdirSync } from "node:fs"
import { resolve } from "node:path"
import { Readable } from "node:stream"
import { type ClickHouseClient, createClient, type ClickHouseSettings } from "@clickhouse/client"
import { Context, Data, Effect, Layer } from "effect"
import { claimHolder, DataDirLocked, releaseHolder } from "./lock.ts"
import { CLIENT_JSON, encodeInSlices } from "./encode-rows.ts"
import { applyMigrations } from "./migrate.ts"
import {
  type AnalystLimits, analystErrorMessage, analystRunner, DEFAULT_ANALYST_LIMITS, describeScope, limitExceeded, OUTAGE_CODES, QueryBusy,
  QueryLimitExceeded, type QueryScope, scopeViolation, sqlHash, StatementRefused,
} from "./analyst.ts"
import { readOnlyViolation } from "./readonly.ts"
import { nextTurn, TurnsPerKey } from "./turns.ts"
import { noteWrite } from "./writes.ts"
import {
  type ClickHouseServerSettings, DEFAULT_SERVER_RETRY, openServer, retryOnConnectionLoss, serverLocation,
} from "./clickhouse-server.ts"

export type Row = Record<string, unknown>

export { DataDirLocked } from "./lock.ts"
export { type AnalystLimits, DEFAULT_ANALYST_LIMITS, QueryBusy, QueryLimitExceeded, type QueryScope } from "./analyst.ts"
export { type ClickHouseServerSettings, DEFAULT_SERVER_RETRY, type ServerRetry } from "./clickhouse-server.ts"

/** The backend cannot be reached or refused to work (locked, down, full). */
export class WarehouseUnavailable extends Data.TaggedError("WarehouseUnavailable")<{
  readonly backend: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The SQL itself is wrong (syntax, unknown column, not allowed), or a value it was given cannot be read as its
 * parameter's type (`parameter` names it: a request's bad value, 400 at the edge): the caller's to fix, never retried.
 */
export class WarehouseQueryError extends Data.TaggedError("WarehouseQueryError")<{
  readonly message: string
  readonly code: string | undefined
  readonly parameter?: string
}> {}

/**
 * The warehouse refused the rows themselves (a value it cannot parse, store or encode) or their batch as one insert
 * (too many partitions): retrying the same batch cannot help; smaller batches isolate the refused rows.
 */
export class WarehouseRejectedRows extends Data.TaggedError("WarehouseRejectedRows")<{
  readonly table: string
  readonly message: string
  readonly code: string
}> {}

export interface QueryOptions {
  readonly params?: Record<string, unknown>
  /**
   * The engine stops the query after this long (max_execution_time; WarehouseQueryError code 159). For what a user
   * asks interactively (previews). The embedded engine runs one statement at a time per connection, so such a query
   * runs on a connection of its own: it neither waits for the pipeline's statements nor holds every tenant's
   * ingestion and reads while it runs (a caller runs it in its tenant's interactiveTurn). Background work runs
   * unbounded, on the warehouse's connection.
   */
  readonly maxExecutionSeconds?: number
}

/**
 * Set (by apiReads) while an effect answers an API read: the warehouse's queries it runs go, on the embedded engine, to
 * the warehouse's reads connection instead of the pipeline's. A reference rather than another warehouse object, so
 * what is kept per warehouse (write listeners, warehouse/writes.ts; the profile cache) stays one and the same.
 */
export const ApiReads = Context.Reference<boolean>("cdp/Warehouse/ApiReads", { defaultValue: () => false })

/**
 * Runs `effect`, an API read, with its warehouse queries on the reads connection (embedded engine; a server runs
 * statements concurrently and is unchanged). Its commands and inserts stay on the pipeline's connection.
 */
export const apiReads = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.provideService(effect, ApiReads, true)

/**
 * Set (by backgroundReads) while an effect does work of its own beside the pipeline (the audience refresher): its
 * warehouse queries go, on the embedded engine, to a connection of that work's own, so neither every tenant's landing
 * (the pipeline's connection) nor API reads (the reads connection) wait behind its statements.
 */
export const BackgroundReads = Context.Reference<boolean>("cdp/Warehouse/BackgroundReads", { defaultValue: () => false })

/**
 * Runs `effect`, background work, with its warehouse queries on the background connection (embedded engine; a server
 * is unchanged). Its commands and inserts stay on the pipeline's connection.
 */
export const backgroundReads = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(effect, BackgroundReads, true)

/**
 * Bounded interactive queries (QueryOptions.maxExecutionSeconds) running at once in this process, in all and of one
 * tenant. chDB runs every statement on libuv's thread pool (16 threads, as bin/cdp.js starts it unless UV_THREADPOOL_SIZE
 * is set; Node's own default is 4), which file reads and writes share: 20 audience previews of one tenant at once held
 * every other tenant's landing and reads for 21 s. With the analyst queries' 2 (analyst.ts), at most 4 long statements,
 * one tenant at most one of each.
 */
export const INTERACTIVE_SLOTS = 2
export const INTERACTIVE_PER_TENANT = 1

const interactive = new TurnsPerKey()
const EVERY_TENANT = "\u0000all"

/**
 * Runs `effect` (a bounded interactive query of `tenant`) when the tenant holds fewer than INTERACTIVE_PER_TENANT
 * and the process fewer than INTERACTIVE_SLOTS; else fails QueryBusy at once (what: "preview"; 429 at the edge).
 */
export const interactiveTurn = (tenant: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | QueryBusy, R> =>
  Effect.suspend((): Effect.Effect<A, E | QueryBusy, R> => {
    if (!interactive.take(tenant, INTERACTIVE_PER_TENANT)) {
      return Effect.fail(new QueryBusy({ limit: INTERACTIVE_PER_TENANT, scope: `tenant ${tenant}`, what: "preview" }))
    }
    if (!interactive.take(EVERY_TENANT, INTERACTIVE_SLOTS)) {
      interactive.release(tenant)
      return Effect.fail(new QueryBusy({ limit: INTERACTIVE_SLOTS, what: "preview" }))
    }
    return effect.pipe(Effect.ensuring(Effect.sync(() => {
      interactive.release(EVERY_TENANT)
      interactive.release(tenant)
    })))
  })

export interface WarehouseOptions {
  /** Limits of analysts' queries (analystQuery); each defaults to DEFAULT_ANALYST_LIMITS. */
  readonly analyst?: Partial<AnalystLimits>
  /**
   * Apply warehouse/migrations at start (default). Off only where the schema is not cdp's to manage, e.g. checking the
   * HTTP path against a server too old for the schema (test/integration/clickhouse-server.test.ts).
   */
  readonly migrate?: boolean
}

export interface WarehouseShape {
  /** "embedded" or "server", with where it points (and for a server its database and version), for health and messages. */
  readonly backend: {
    readonly kind: "embedded" | "server"
    readonly location: string
    readonly database?: string
    readonly version?: string
  }
  /** Inserts rows as JSONEachRow; batch at the call site (10k-100k rows), never a row at a time. */
  readonly insert: (table: string, rows: ReadonlyArray<Row>) => Effect.Effect<void, WarehouseUnavailable | WarehouseRejectedRows>
  readonly query: <T = Row>(sql: string, options?: QueryOptions) =>
    Effect.Effect<ReadonlyArray<T>, WarehouseUnavailable | WarehouseQueryError>
  readonly command: (sql: string, params?: Record<string, unknown>) =>
    Effect.Effect<void, WarehouseUnavailable | WarehouseQueryError>
  /**
   * Analysts' ad-hoc SQL: one reading statement, run in a read-only, resource-limited context that sees only the
   * scope's rows (enforced by the engine). Aborting `signal` (or interrupting) stops the query in the engine.
   */
  readonly analystQuery: <T = Row>(sql: string, scope: QueryScope, signal?: AbortSignal) =>
    Effect.Effect<ReadonlyArray<T>, WarehouseUnavailable | WarehouseQueryError | QueryLimitExceeded | QueryBusy>
  readonly ping: Effect.Effect<boolean>
}

export class Warehouse extends Context.Service<Warehouse, WarehouseShape>()("cdp/Warehouse") {
  /** ClickHouse embedded in this process (chDB), persisted in `dataDir`. Needs no configuration. */
  static readonly embedded = (dataDir: string, options?: WarehouseOptions) =>
    Layer.effect(Warehouse, makeWarehouse({ kind: "embedded", location: resolve(dataDir) }, options))

  /**
   * ClickHouse servers over HTTP (one server, or a cluster's load balancer). Probes the server at start (fails with one
   * line naming what is wrong) and retries operations that lost their connection (settings.retry).
   */
  static readonly server = (settings: ClickHouseServerSettings, options?: WarehouseOptions) =>
    Layer.effect(Warehouse, makeWarehouse({ kind: "server", location: serverLocation(settings.url), database: settings.database }, options, settings))
}

// Numbers come back as a server sends them (64-bit integers quoted), so no UInt64 silently loses precision in JS.
const CLIENT_SETTINGS: ClickHouseSettings = {
  output_format_json_quote_64bit_integers: 1,
  input_format_json_read_objects_as_strings: 1,
}

const isClickHouseError = (e: unknown): e is Error & { code: string; type?: string } => {
  const code = (e as { code?: unknown } | null)?.code
  return e instanceof Error && typeof code === "string" && /^\d+$/.test(code)
}

/**
 * Tables this process has detached to attach again at once (warehouse/erasure.ts reattach: a start-up, which removes
 * outdated parts; the embedded engine only, whose data dir no other process opens: a server's tables, which other cdp
 * processes share, are never detached), each with the promise of its return, and a count that moves as each
 * detachment begins and ends.
 * Every tenant's reads and writes share such a table: a query, insert or command that finds it missing meanwhile was
 * not wrong, and is run again once it is back (pastDetachments) instead of failing with the engine's UNKNOWN_TABLE and
 * its statement. Running it again lands nothing twice: a statement meeting a missing table (an insert's own, or the
 * target of a materialized view it feeds) fails before it writes anything.
 */
const detached = new Set<Promise<void>>()
let detachmentChanges = 0

/** Runs `effect` (the DETACH of a table and its ATTACH again); queries meeting the table missing meanwhile wait for it. */
export const whileDetached = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    let back!: () => void
    const returned = new Promise<void>((resolve) => { back = resolve })
    detached.add(returned)
    detachmentChanges++
    return Effect.ensuring(effect, Effect.sync(() => {
      detached.delete(returned)
      detachmentChanges++
      back()
    }))
  })

/** Where the detachments stand, for detachmentSince. */
export const detachmentMark = (): number => detachmentChanges

/** Whether a detachment is in progress, or began or ended, since `mark` (detachmentMark) was taken. */
export const detachmentSince = (mark: number): boolean => detached.size > 0 || detachmentChanges !== mark

/** Waits until the detachments in progress have ended (their tables are back). */
export const detachmentsEnded: Effect.Effect<void> = Effect.promise(() => Promise.all(detached)).pipe(Effect.asVoid)

const UNKNOWN_TABLE = "60"
const DETACH_OR_ATTACH = /^\s*(?:DETACH|ATTACH)\b/i
/** A statement meeting a table detached meanwhile is run again this many times at most (each after the detachments end). */
const RUNS_PAST_DETACHMENTS = 3

/** `run` (a query), run again after the detachments in progress end when it failed on a table one of them took away. */
const pastDetachments = async <A>(run: () => Promise<A>): Promise<A> => {
  for (let attempt = 1; ; attempt++) {
    const seen = detachmentChanges
    try {
      return await run()
    } catch (cause) {
      if (!isClickHouseError(cause) || cause.code !== UNKNOWN_TABLE || !detachmentSince(seen) || attempt >= RUNS_PAST_DETACHMENTS) throw cause
      await Promise.all(detached)
    }
  }
}

// ClickHouse error codes that mean "these values cannot be parsed or stored" on insert: text, escape sequences (25:
// the \ud83d JSON.stringify writes for half a surrogate pair), quoted strings, dates, numbers, arrays, UUIDs, bools,
// IPs and other domain values, sizes and ranges, NULL in a plain column, a failed CHECK, nesting too deep to parse.
// Not 32/33 (data cut short): over HTTP that is the connection's fault, not the rows'.
const ROW_ERROR_CODES = new Set([
  "6", "25", "26", "27", "38", "41", "53", "69", "70", "72", "117", "130", "131", "306", "321", "349", "376", "407",
  "441", "467", "469", "632", "675", "676", "1001",
])

// ClickHouse error codes that mean "this batch, as one insert, cannot be stored" (252: more partitions than one insert
// block may touch, e.g. a history import spanning many months); smaller batches of the same rows can.
const BATCH_ERROR_CODES = new Set(["252"])

/**
 * What an insert's failure says about the rows: refused by the engine, or not even encodable as JSON by the client
 * (nested deeper than the stack allows, a BigInt, a cycle). Neither is an outage: retrying the same rows cannot help.
 */
const rejectedRows = (table: string, cause: unknown): WarehouseRejectedRows | undefined => {
  if (isClickHouseError(cause) && (ROW_ERROR_CODES.has(cause.code) || BATCH_ERROR_CODES.has(cause.code))) {
    return new WarehouseRejectedRows({ table, message: cause.message.trim().split("\n")[0]!.slice(0, 500), code: cause.code })
  }
  if (cause instanceof RangeError || (cause instanceof TypeError && /circular|BigInt|serializ/i.test(cause.message))) {
    return new WarehouseRejectedRows({ table, message: `the rows cannot be encoded as JSON: ${cause.message}`.slice(0, 500), code: "unencodable" })
  }
  return undefined
}

// ClickHouse error codes that mean "your SQL is wrong", as opposed to "the backend is in trouble".
// 159: a limit the caller set (QueryOptions.maxExecutionSeconds) stopped the query; not an outage, not retried.
// 456: a parameter the SQL names was not given. 457 and the codes of values that cannot be parsed (ROW_ERROR_CODES):
// a value given (or read) cannot be read as its type, which no retry changes.
const CALLER_ERROR_CODES = new Set([
  "36", "43", "46", "47", "48", "53", "60", "62", "81", "159", "164", "386", "456", "457", "497", ...ROW_ERROR_CODES,
])

// How the engine names the parameter whose value it could not read (457 and the parse codes): "... for query parameter 'since'".
const BOUND_PARAMETER = /for query parameter '([^']{1,200})'/

/** A caller's error as the warehouse reports it: one line, at most 500 characters, naming the parameter it could not bind. */
/** How long rows of one answer are parsed before the event loop gets a turn (a tenant's whole history is one answer). */
const PARSE_SLICE_MS = 20

/**
 * An answer's rows (JSONEachRow), parsed in slices: the embedded engine hands over a whole answer as one chunk, which
 * parsed at once held cdp serve's event loop for as long as it took (about 100-200 ms a 50,000-message history).
 */
const rowsInSlices = async <T>(stream: AsyncIterable<ReadonlyArray<{ json: <R>() => R }>>): Promise<Array<T>> => {
  const rows: Array<T> = []
  let sliceStarted = performance.now()
  for await (const chunk of stream) {
    for (const row of chunk) {
      rows.push(row.json<T>())
      if ((rows.length & 255) === 0 && performance.now() - sliceStarted >= PARSE_SLICE_MS) {
        await nextTurn()
        sliceStarted = performance.now()
      }
    }
  }
  return rows
}

const queryError = (cause: Error & { code: string }): WarehouseQueryError => {
  const parameter = BOUND_PARAMETER.exec(cause.message)?.[1]
  const message = cause.message.trim().split("\n")[0]!.trim().slice(0, 500)
  return parameter === undefined
    ? new WarehouseQueryError({ message: cause.message.trim(), code: cause.code })
    : new WarehouseQueryError({ message, code: cause.code, parameter })
}

const openClient = (backend: WarehouseShape["backend"], server: ClickHouseServerSettings | undefined, migrate: boolean) =>
  Effect.gen(function* () {
    if (server !== undefined) {
      const opened = yield* openServer(server, CLIENT_SETTINGS, migrate).pipe(
        Effect.mapError((failure) => new WarehouseUnavailable({ backend: `server ${backend.location}`, message: failure.message })),
      )
      if (opened.unknownSettings.length > 0) {
        yield* Effect.logWarning("the ClickHouse server does not know some client settings; left out").pipe(
          Effect.annotateLogs({ version: opened.version, settings: opened.unknownSettings.join(",") }))
      }
      return { client: opened.client, version: opened.version }
    }
    yield* Effect.try({
      try: () => mkdirSync(backend.location, { recursive: true }),
      catch: (cause) => new WarehouseUnavailable({ backend: `embedded ${backend.location}`, message: `cannot create ${backend.location}: ${String(cause)}`, cause }),
    })
    const dataDir = resolve(backend.location, "..")
    const owner = yield* Effect.try({
      try: () => claimHolder(backend.location),
      catch: (cause) => new WarehouseUnavailable({ backend: `embedded ${backend.location}`, message: `cannot record the holder of ${backend.location}: ${String(cause)}`, cause }),
    })
    if (owner !== undefined) return yield* Effect.fail(new DataDirLocked({ dataDir, owner }))
    const { embeddedConnection } = yield* Effect.promise(() => import("./chdb-connection.ts"))
    const connection = yield* Effect.try({
      try: () => embeddedConnection(backend.location),
      catch: (cause) => {
        // The claim was this process's: a holder the engine knows of and cdp did not (one that replaced the same
        // stale record at once) is "another cdp process".
        releaseHolder(backend.location)
        return /lock|already running|CHDB_CONNECTION|Failed to create connection/i.test(String(cause))
          ? new DataDirLocked({ dataDir })
          : new WarehouseUnavailable({ backend: `embedded ${backend.location}`, message: String(cause), cause })
      },
    })
    return { client: createClient({ connection: connection as never, clickhouse_settings: CLIENT_SETTINGS, json: CLIENT_JSON }), version: undefined }
  })

const makeWarehouse = (opened: WarehouseShape["backend"], options?: WarehouseOptions, server?: ClickHouseServerSettings) =>
  Effect.gen(function* () {
    const migrate = options?.migrate ?? true
    const { client, version } = yield* Effect.acquireRelease(openClient(opened, server, migrate), ({ client: c }) =>
      Effect.promise(() => c.close()).pipe(
        Effect.ignore,
        Effect.andThen(opened.kind === "embedded"
          ? Effect.promise(() => import("./chdb-connection.ts").then((m) => m.engineReleased())).pipe(Effect.ignore)
          : Effect.void),
        Effect.andThen(Effect.sync(() => {
          if (opened.kind === "embedded") releaseHolder(opened.location)
        })),
      ))
    const backend: WarehouseShape["backend"] = version === undefined ? opened : { ...opened, version }
    /** A client over a connection of its own to the embedded engine's data directory (chDB loaded lazily, as above). */
    const sideClient = (): Promise<ClickHouseClient> => import("./chdb-connection.ts").then(
      (m) => createClient({ connection: m.sideConnection(backend.location) as never, clickhouse_settings: CLIENT_SETTINGS, json: CLIENT_JSON }),
    )
    /** A side connection opened at its first use and kept (opened again after a failed open), closed before the pipeline's. */
    const keptSideClient = Effect.gen(function* () {
      let kept: Promise<ClickHouseClient> | undefined
      yield* Effect.addFinalizer(() => kept === undefined
        ? Effect.void
        : Effect.promise(() => kept!.then((c) => c.close())).pipe(Effect.ignore))
      return (): Promise<ClickHouseClient> =>
        kept ??= sideClient().catch((cause: unknown) => {
          kept = undefined
          throw cause
        })
    })
    // The API reads' connection (embedded engine, apiReads): what an insert or command ended on the pipeline's
    // connection is visible to the next statement here (test/warehouse/reads-connection).
    const readsClient = yield* keptSideClient
    // The background work's connection (backgroundReads).
    const backgroundClient = yield* keptSideClient
    // A server's connection can drop (restart, failover): each operation is retried whole, bounded. The embedded
    // engine has no connection to lose.
    const resilient = server === undefined
      ? <A, E, R>(effect: Effect.Effect<A, E, R>) => effect
      : retryOnConnectionLoss(server.retry ?? DEFAULT_SERVER_RETRY)
    const where = `${backend.kind} ${backend.location}`
    const unavailable = (cause: unknown) =>
      new WarehouseUnavailable({ backend: where, message: cause instanceof Error ? cause.message : String(cause), cause })
    const classify = (cause: unknown) =>
      isClickHouseError(cause) && CALLER_ERROR_CODES.has(cause.code) ? queryError(cause) : unavailable(cause)

    const limits: AnalystLimits = { ...DEFAULT_ANALYST_LIMITS, ...options?.analyst }
    // The connection of statements that take milliseconds (embedded engine): analyst queries' checks and the ping of
    // /health, beside the pipeline's and the API reads', whose statements can take minutes.
    const quickClient = yield* keptSideClient
    const runAnalyst = analystRunner(client, backend, limits, backend.kind === "embedded" ? quickClient : undefined)
    const classifyAnalyst = (cause: unknown) => {
      if (cause instanceof QueryBusy) return cause
      if (cause instanceof StatementRefused) return new WarehouseQueryError({ message: cause.message, code: undefined })
      if (!isClickHouseError(cause)) return unavailable(cause)
      return limitExceeded(cause.code, limits) ??
        (OUTAGE_CODES.has(cause.code)
          ? unavailable(cause)
          : new WarehouseQueryError({ message: analystErrorMessage(cause.message), code: cause.code }))
    }

    const warehouse: WarehouseShape = {
      backend,
      insert: (table, rows) =>
        rows.length === 0
          ? Effect.void
          : Effect.tryPromise({
            // Encoded here, a slice at a time, rather than by the client all at once: the event loop gets turns.
            try: () => encodeInSlices(rows),
            catch: (cause) => rejectedRows(table, cause) ?? unavailable(cause),
          }).pipe(
            Effect.flatMap((slices) => Effect.tryPromise({
              try: () => pastDetachments(() => client.insert({ table, values: Readable.from(slices), format: "JSONEachRow" })),
              catch: (cause) => rejectedRows(table, cause) ?? unavailable(cause),
            }).pipe(resilient)),
            Effect.asVoid,
            Effect.ensuring(noteWrite(warehouse, { kind: "insert", table, rows })),
          ),
      query: <T>(sql: string, options?: QueryOptions) =>
        Effect.flatMap(Effect.all([Effect.service(ApiReads), Effect.service(BackgroundReads)]), ([forApi, forBackground]) => Effect.tryPromise({
          try: () => pastDetachments(async () => {
            const side = options?.maxExecutionSeconds !== undefined && backend.kind === "embedded" ? await sideClient() : undefined
            const on = side ?? (backend.kind !== "embedded"
              ? client
              : forBackground ? await backgroundClient() : forApi ? await readsClient() : client)
            try {
              const result = await on.query({
                query: sql,
                format: "JSONEachRow",
                ...(options?.params === undefined ? {} : { query_params: options.params }),
                ...(options?.maxExecutionSeconds === undefined ? {} : { clickhouse_settings: { max_execution_time: options.maxExecutionSeconds } }),
              })
              return await rowsInSlices<T>(result.stream())
            } finally {
              await side?.close()
            }
          }),
          catch: classify,
        }).pipe(resilient)),
      analystQuery: <T>(sql: string, scope: QueryScope, signal?: AbortSignal) => {
        const violation = scopeViolation(scope) ?? readOnlyViolation(sql)
        if (violation !== null) return Effect.fail(new WarehouseQueryError({ message: violation, code: undefined }))
        const audit = "allTenants" in scope ? Effect.logWarning("all-tenant analyst query") : Effect.logInfo("analyst query")
        return audit.pipe(
          Effect.annotateLogs({ scope: describeScope(scope), sqlSha256: sqlHash(sql) }),
          Effect.andThen(Effect.tryPromise({
            try: (interrupted) => runAnalyst(sql, scope, signal === undefined ? interrupted : AbortSignal.any([signal, interrupted])),
            catch: classifyAnalyst,
          })),
          Effect.map((rows) => rows as ReadonlyArray<T>),
        )
      },
      command: (sql, params) =>
        Effect.tryPromise({
          try: () => {
            const run = () => client.command({ query: sql, ...(params === undefined ? {} : { query_params: params }) })
            // Not the DETACH or ATTACH of a detachment itself: it would wait for its own end.
            return DETACH_OR_ATTACH.test(sql) ? run() : pastDetachments(run)
          },
          catch: classify,
        }).pipe(resilient, Effect.asVoid, Effect.ensuring(noteWrite(warehouse, { kind: "command", sql, params }))),
      ping: Effect.promise(async () => (backend.kind === "embedded" ? await quickClient() : client).ping()).pipe(
        Effect.map((r) => r.success),
        Effect.catchCause(() => Effect.succeed(false)),
      ),
    }
    if (migrate) yield* applyMigrations(warehouse)
    return warehouse
  })
