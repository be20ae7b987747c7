// The warehouse's connection to ClickHouse servers over HTTP (the Warehouse.server Layer in warehouse.ts): the client
// with credentials and database, the start-up probe that fails in one line naming what is wrong, and the bounded
// retry of operations that lost their connection (a server restarting, a replica failing over, a stale keep-alive).
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from "@clickhouse/client"
import { Duration, Effect, Redacted, Schedule } from "effect"
import { CLIENT_JSON } from "./encode-rows.ts"

export interface ClickHouseServerSettings {
  /** http(s)://host:port of the server or of the load balancer in front of a cluster, without credentials. */
  readonly url: string
  readonly username: string
  readonly password?: Redacted.Redacted<string> | undefined
  readonly database: string
  /** Retries after a lost connection; defaults to DEFAULT_SERVER_RETRY. */
  readonly retry?: ServerRetry | undefined
}

export interface ServerRetry {
  /** Retries after the first attempt (0: none). */
  readonly times: number
  /** First delay; each next one doubles, up to maxDelayMs. */
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

// About 15 s in all (0.2 + 0.4 + ... + 5 + 5): long enough for a server restart or a replica failover, short enough
// that a real outage reaches the pipeline (which keeps the batch and reports it on /health) quickly.
export const DEFAULT_SERVER_RETRY: ServerRetry = { times: 6, baseDelayMs: 200, maxDelayMs: 5_000 }

/**
 * The oldest server cdp's migrations are written for: DateTime64, query parameters, Map, lightweight DELETE, the
 * JSON functions and SimpleAggregateFunction(sumMap) all exist from 23.3 (LTS). Only 26.x (the embedded engine) is
 * tested with the full suite; 18.16 (Debian's) only with what test/integration/clickhouse-server.test.ts lists.
 */
export const MIN_SCHEMA_VERSION = [23, 3] as const

// Node's socket errors that mean the request or its answer was cut off, not refused by ClickHouse.
const CONNECTION_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "EAI_AGAIN",
  "ECONNABORTED", "UND_ERR_SOCKET", "ERR_STREAM_PREMATURE_CLOSE",
])
const CONNECTION_MESSAGES = /socket hang up|other side closed|Timeout error|premature close|aborted/i

// ClickHouse errors that a moment later may not happen: network between servers (209, 210), a replica that lost
// Keeper (242, 999), an insert whose outcome is unknown (319; inserts into Replicated tables deduplicate its retry),
// too many queries at once (202).
const TRANSIENT_SERVER_CODES = new Set(["202", "209", "210", "242", "319", "999"])

// Wrong user or password: 192 UNKNOWN_USER, 193 WRONG_PASSWORD, 194 REQUIRED_PASSWORD (18.x); 516 AUTHENTICATION_FAILED.
const AUTH_CODES = new Set(["192", "193", "194", "516"])
const UNKNOWN_DATABASE = "81"

const codeOf = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === "string" ? code : undefined
}

// Servers before 21.x answer errors as "Code: 62, e.displayText() = DB::Exception: ..., e.what() = DB::Exception",
// which the client does not parse (it knows "Code: 62. DB::Exception: ... (SYNTAX_ERROR)"), so such an error has no
// code and would not be mapped. This gives it the code and the modern form of the message.
const OLD_ERROR = /^Code: (\d+), e\.displayText\(\) = (?:DB::Exception: )?([\s\S]*?)(?:, e\.what\(\) = [\w:]+)?\s*$/

export const normaliseServerError = (e: unknown): unknown => {
  if (!(e instanceof Error) || codeOf(e) !== undefined) return e
  const m = OLD_ERROR.exec(e.message.trim())
  if (m === null) return e
  return Object.assign(e, { code: m[1]!, message: `Code: ${m[1]}. DB::Exception: ${m[2]}` })
}

// The operations whose rejections are normalised (ResultSet reads are not: an error inside a streamed answer
// already comes in the new form from servers that stream one).
const OPERATIONS = new Set(["query", "insert", "command", "exec"])

const normalisingErrors = (client: ClickHouseClient): ClickHouseClient =>
  new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (typeof prop !== "string" || !OPERATIONS.has(prop) || typeof value !== "function") return value
      return (...args: Array<unknown>) =>
        (value as (...a: Array<unknown>) => Promise<unknown>).apply(target, args).catch((e: unknown) => {
          throw normaliseServerError(e)
        })
    },
  })

/** Whether an operation failed because the connection was lost or the server was briefly unable, not on its merits. */
export const isConnectionLoss = (cause: unknown, depth = 0): boolean => {
  if (cause === null || typeof cause !== "object" || depth > 3) return false
  const code = codeOf(cause)
  if (code !== undefined && (CONNECTION_CODES.has(code) || TRANSIENT_SERVER_CODES.has(code))) return true
  if (code === undefined && cause instanceof Error && CONNECTION_MESSAGES.test(cause.message)) return true
  // Node reports a refused connection to every address of a name (IPv4 and IPv6) as an AggregateError.
  const inner = [...((cause as { errors?: unknown }).errors as Array<unknown> | undefined ?? []), (cause as { cause?: unknown }).cause]
  return inner.some((e) => isConnectionLoss(e, depth + 1))
}

/**
 * Retries `effect` while it fails with an error whose cause is a lost connection, with exponential backoff capped at
 * maxDelayMs, at most `times` times; any other failure, and the last one, passes through unchanged.
 */
export const retryOnConnectionLoss = (retry: ServerRetry = DEFAULT_SERVER_RETRY) =>
  <A, E extends { readonly cause?: unknown }, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    retry.times <= 0 ? effect : effect.pipe(
      Effect.retry({
        schedule: Schedule.min([
          Schedule.exponential(Duration.millis(retry.baseDelayMs), 2),
          Schedule.spaced(Duration.millis(retry.maxDelayMs)),
        ]),
        times: retry.times,
        while: (e: E) => isConnectionLoss(e.cause),
      }),
    )

/** Where the warehouse is, for health and messages: the URL without credentials, query or path. */
export const serverLocation = (url: string) => {
  const u = new URL(url)
  return `${u.protocol}//${u.host}`
}

const clientOf = (settings: ClickHouseServerSettings, clickhouse_settings: ClickHouseSettings): ClickHouseClient =>
  normalisingErrors(createClient({
    url: settings.url,
    username: settings.username,
    password: settings.password === undefined ? "" : Redacted.value(settings.password),
    database: settings.database,
    clickhouse_settings,
    json: CLIENT_JSON,
    request_timeout: 300_000,
    // Failures reach the caller as tagged errors (and are retried here); the client's own log would print every
    // retried attempt, with the server's message, on stderr.
    log: { level: ClickHouseLogLevel.OFF },
  }))

// A long query sends progress headers every 110 s, so a load balancer in front of a cluster (idle timeouts are
// commonly 120 s or more) does not cut it while the server is still working.
const HTTP_SETTINGS: ClickHouseSettings = { send_progress_in_http_headers: 1, http_headers_progress_interval_ms: "110000" }

/** What the probe learnt: the server's version, and which of the wanted settings it does not know (left out). */
export interface OpenedServer {
  readonly client: ClickHouseClient
  readonly version: string
  readonly unknownSettings: ReadonlyArray<string>
}

/** What is wrong with the server or its settings, as one line naming the server (never the password). */
export interface ProbeFailure {
  readonly kind: "unreachable" | "auth" | "database" | "version"
  readonly message: string
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).trim().split("\n")[0]!.slice(0, 300)

const olderThan = (version: string, [major, minor]: readonly [number, number]) => {
  const [a = 0, b = 0] = version.split(".").map((n) => Number.parseInt(n, 10))
  return a < major || (a === major && b < minor)
}

const fail = (kind: ProbeFailure["kind"], message: string) => Effect.fail({ kind, message } satisfies ProbeFailure)

/**
 * Opens the client after asking the server who it is, as the configured user in the configured database. Fails in one
 * line naming what stops cdp from using it: nothing answering at the URL, the user or password refused, no such
 * database, or (when cdp is to apply its migrations there) a server too old for the schema. Settings the server does
 * not know are left out of the client's (a server rejects every query that names one), and reported.
 */
export const openServer = (settings: ClickHouseServerSettings, clientSettings: ClickHouseSettings, needsSchema: boolean) =>
  Effect.gen(function* () {
    const wanted: ClickHouseSettings = { ...clientSettings, ...HTTP_SETTINGS }
    const where = serverLocation(settings.url)
    const probe = clientOf(settings, {})
    const identity = yield* Effect.gen(function* () {
      const ping = yield* Effect.promise(() => probe.ping())
      if (!ping.success) return yield* fail("unreachable", `cannot reach the ClickHouse server at ${where}: ${firstLine(ping.error)}`)
      return yield* Effect.tryPromise({
        try: async () => {
          // A literal list of cdp's own setting names, not a query parameter: old servers have no parameters.
          const names = Object.keys(wanted).map((k) => `'${k.replace(/[^a-z0-9_]/gi, "")}'`).join(",") || "''"
          const result = await probe.query({
            query: `SELECT version() AS version, groupArray(name) AS known FROM system.settings WHERE name IN (${names})`,
            format: "JSONEachRow",
          })
          return ((await result.json()) as Array<{ version: string; known: Array<string> }>)[0]!
        },
        catch: (e): ProbeFailure => {
          const code = codeOf(e)
          if (code !== undefined && AUTH_CODES.has(code)) {
            return { kind: "auth", message: `the ClickHouse server at ${where} refused user "${settings.username}" (wrong user or password): ${firstLine(e)}` }
          }
          if (code === UNKNOWN_DATABASE) {
            return { kind: "database", message: `the ClickHouse server at ${where} has no database "${settings.database}"; create it (CREATE DATABASE ${settings.database}) or name another` }
          }
          return { kind: "unreachable", message: `the ClickHouse server at ${where} answered its probe with an error: ${firstLine(e)}` }
        },
      })
    }).pipe(Effect.ensuring(Effect.promise(() => probe.close())))
    if (needsSchema && olderThan(identity.version, MIN_SCHEMA_VERSION)) {
      return yield* fail("version", `the ClickHouse server at ${where} is ${identity.version}; cdp's schema needs ${MIN_SCHEMA_VERSION.join(".")} or later (DateTime64, query parameters, Map, lightweight DELETE)`)
    }
    const known = new Set(identity.known)
    const usable = Object.fromEntries(Object.entries(wanted).filter(([k]) => known.has(k))) as ClickHouseSettings
    return {
      client: clientOf(settings, usable),
      version: identity.version,
      unknownSettings: Object.keys(wanted).filter((k) => !known.has(k)),
    } satisfies OpenedServer
  })
