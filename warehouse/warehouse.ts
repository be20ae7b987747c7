// The Warehouse service: ClickHouse through the official @clickhouse/client, either over chDB's in-process
// connection (embedded default, one data directory) or over HTTP to a server. Same client, same SQL.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { createClient, type ClickHouseClient, type ClickHouseSettings } from "@clickhouse/client"
import { Context, Data, Effect, Layer } from "effect"
import { applyMigrations } from "./migrate.ts"
import { readOnlyViolation } from "./readonly.ts"

export type Row = Record<string, unknown>

/** The backend cannot be reached or refused to work (locked, down, full). */
export class WarehouseUnavailable extends Data.TaggedError("WarehouseUnavailable")<{
  readonly backend: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** The SQL itself is wrong (syntax, unknown column, not allowed): the caller's to fix. */
export class WarehouseQueryError extends Data.TaggedError("WarehouseQueryError")<{
  readonly message: string
  readonly code: string | undefined
}> {}

/** The warehouse refused the rows themselves (a value it cannot parse or store): retrying the same rows cannot help. */
export class WarehouseRejectedRows extends Data.TaggedError("WarehouseRejectedRows")<{
  readonly table: string
  readonly message: string
  readonly code: string
}> {}

/** Another process holds the embedded data directory (chDB allows one process per directory). */
export class DataDirLocked extends Data.TaggedError("DataDirLocked")<{
  readonly dataDir: string
  readonly owner?: string | undefined
}> {
  override get message() {
    return `data dir ${this.dataDir} is in use by ${this.owner ?? "another cdp process"}; ` +
      "stop it (its data stays) or use another --data-dir (while cdp serve runs, cdp query goes through it and " +
      "data can be sent to its HTTP API)"
  }
}

/**
 * Who holds an embedded data directory: written when a process opens it, removed when it closes it, so a second
 * process is told who holds it (before the engine itself refuses with a lock error).
 */
const OWNER_FILE = "cdp-owner.json"

const aliveOwner = (dir: string): string | undefined => {
  try {
    const owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), "utf8")) as { pid: number; command: string }
    if (owner.pid === process.pid) return undefined
    process.kill(owner.pid, 0)
    return `\`${owner.command}\` (pid ${owner.pid})`
  } catch {
    return undefined
  }
}

export interface QueryOptions {
  readonly params?: Record<string, unknown>
  /** Refuse anything that writes (for analysts' ad-hoc SQL). */
  readonly readOnly?: boolean
}

export interface WarehouseShape {
  /** "embedded" or "server", with where it points, for health and messages. */
  readonly backend: { readonly kind: "embedded" | "server"; readonly location: string }
  /** Inserts rows as JSONEachRow; batch at the call site (10k-100k rows), never a row at a time. */
  readonly insert: (table: string, rows: ReadonlyArray<Row>) => Effect.Effect<void, WarehouseUnavailable | WarehouseRejectedRows>
  readonly query: <T = Row>(sql: string, options?: QueryOptions) =>
    Effect.Effect<ReadonlyArray<T>, WarehouseUnavailable | WarehouseQueryError>
  readonly command: (sql: string, params?: Record<string, unknown>) =>
    Effect.Effect<void, WarehouseUnavailable | WarehouseQueryError>
  readonly ping: Effect.Effect<boolean>
}

export class Warehouse extends Context.Service<Warehouse, WarehouseShape>()("cdp/Warehouse") {
  /** ClickHouse embedded in this process (chDB), persisted in `dataDir`. Needs no configuration. */
  static readonly embedded = (dataDir: string) =>
    Layer.effect(Warehouse, makeWarehouse({ kind: "embedded", location: resolve(dataDir) }))

  /** A ClickHouse server over HTTP. */
  static readonly server = (url: string) => Layer.effect(Warehouse, makeWarehouse({ kind: "server", location: url }))
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

// ClickHouse error codes that mean "these values cannot be parsed or stored" on insert.
const ROW_ERROR_CODES = new Set(["6", "26", "27", "38", "41", "53", "69", "70", "72", "117", "321", "1001"])

// ClickHouse error codes that mean "your SQL is wrong", as opposed to "the backend is in trouble".
const CALLER_ERROR_CODES = new Set(["36", "43", "46", "47", "48", "53", "60", "62", "81", "164", "386", "497"])

const openClient = (backend: WarehouseShape["backend"]) =>
  Effect.gen(function* () {
    if (backend.kind === "server") {
      return createClient({ url: backend.location, clickhouse_settings: CLIENT_SETTINGS, request_timeout: 300_000 })
    }
    mkdirSync(backend.location, { recursive: true })
    const dataDir = resolve(backend.location, "..")
    const owner = aliveOwner(backend.location)
    if (owner !== undefined) return yield* Effect.fail(new DataDirLocked({ dataDir, owner }))
    const { embeddedConnection } = yield* Effect.promise(() => import("./chdb-connection.ts"))
    const connection = yield* Effect.try({
      try: () => embeddedConnection(backend.location),
      catch: (cause) =>
        /lock|already running|CHDB_CONNECTION|Failed to create connection/i.test(String(cause))
          ? new DataDirLocked({ dataDir })
          : new WarehouseUnavailable({ backend: `embedded ${backend.location}`, message: String(cause), cause }),
    })
    const command = `cdp ${process.argv[2] ?? ""}`.trim()
    writeFileSync(join(backend.location, OWNER_FILE), JSON.stringify({ pid: process.pid, command }))
    return createClient({ connection: connection as never, clickhouse_settings: CLIENT_SETTINGS })
  })

const makeWarehouse = (backend: WarehouseShape["backend"]) =>
  Effect.gen(function* () {
    const client: ClickHouseClient = yield* Effect.acquireRelease(openClient(backend), (c) =>
      Effect.promise(() => c.close()).pipe(
        Effect.ignore,
        Effect.andThen(Effect.sync(() => {
          if (backend.kind === "embedded") rmSync(join(backend.location, OWNER_FILE), { force: true })
        })),
      ))
    const where = `${backend.kind} ${backend.location}`
    const unavailable = (cause: unknown) =>
      new WarehouseUnavailable({ backend: where, message: cause instanceof Error ? cause.message : String(cause), cause })
    const classify = (cause: unknown) =>
      isClickHouseError(cause) && CALLER_ERROR_CODES.has(cause.code)
        ? new WarehouseQueryError({ message: cause.message.trim(), code: cause.code })
        : unavailable(cause)

    const warehouse: WarehouseShape = {
      backend,
      insert: (table, rows) =>
        rows.length === 0
          ? Effect.void
          : Effect.tryPromise({
            try: () => client.insert({ table, values: rows as Array<Row>, format: "JSONEachRow" }),
            catch: (cause) =>
              isClickHouseError(cause) && ROW_ERROR_CODES.has(cause.code)
                ? new WarehouseRejectedRows({ table, message: cause.message.trim().split("\n")[0]!.slice(0, 500), code: cause.code })
                : unavailable(cause),
          }).pipe(Effect.asVoid),
      query: <T>(sql: string, options?: QueryOptions) => {
        const violation = options?.readOnly ? readOnlyViolation(sql) : null
        if (violation !== null) return Effect.fail(new WarehouseQueryError({ message: violation, code: undefined }))
        return Effect.tryPromise({
          try: async () => {
            const result = await client.query({
              query: sql,
              format: "JSONEachRow",
              ...(options?.params === undefined ? {} : { query_params: options.params }),
              // A server enforces it per request as well; the embedded session would keep it for later writes.
              ...(options?.readOnly && backend.kind === "server" ? { clickhouse_settings: { readonly: "2" } } : {}),
            })
            return (await result.json()) as Array<T>
          },
          catch: classify,
        })
      },
      command: (sql, params) =>
        Effect.tryPromise({
          try: () => client.command({ query: sql, ...(params === undefined ? {} : { query_params: params }) }),
          catch: classify,
        }).pipe(Effect.asVoid),
      ping: Effect.promise(() => client.ping()).pipe(
        Effect.map((r) => r.success),
        Effect.catchCause(() => Effect.succeed(false)),
      ),
    }
    yield* applyMigrations(warehouse)
    return warehouse
  })
