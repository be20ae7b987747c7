// Analysts' ad-hoc SQL (`cdp query`, POST /v1/query): read-only, resource-limited and scoped to one tenant, enforced by
// the engine. The statement runs in a context of its own whose settings are fixed before the caller's text arrives:
// per-table row filters (tenant), limits, then readonly=1, after which no SETTINGS clause can change any of them.
// The engine's own parser says what the statement is and which functions it calls: readonly=1 refuses the table
// functions file, url, remote, s3, executable..., but not the scalar function file() nor others that reach out of the
// query, and merge and mergeTreeIndex read around the row filters. So only a short list of table functions that read
// nothing stored is allowed, and scalar functions go through an allow list (analyst-functions.ts).
import { createHash } from "node:crypto"
import type { ClickHouseClient } from "@clickhouse/client"
import { Data } from "effect"
import { functionCatalogue } from "./analyst-functions.ts"
import { TurnsPerKey } from "./turns.ts"
import { hasPrewhere, writesOutfile } from "./readonly.ts"
import { TENANT_NAME, TENANT_NAME_RULE } from "./tenant.ts"

/** What one analyst query may use. Every field has a default (DEFAULT_ANALYST_LIMITS) and a CDP_QUERY_* setting (cli/config.ts). */
export interface AnalystLimits {
  /** max_execution_time: the engine stops the query after this long. */
  readonly maxExecutionSeconds: number
  /** max_memory_usage of one query. */
  readonly maxMemoryBytes: number
  /** max_result_rows / max_result_bytes: a bigger result fails (never silently cut). */
  readonly maxResultRows: number
  readonly maxResultBytes: number
  /**
   * max_rows_to_read / max_bytes_to_read: what one query may read (tables and table functions together). Refused
   * before it starts when the engine can estimate it (numbers(1e12), a table's size), else when the count passes it.
   */
  readonly maxRowsToRead: number
  readonly maxBytesToRead: number
  /** max_threads: leaves the other cores to ingestion. */
  readonly maxThreads: number
  /** Analyst queries running at once in this process; more are refused (retry later). */
  readonly maxConcurrent: number
  /** Of those, how many one tenant (or the all-tenant scope) may hold: its heavy queries never take every turn. */
  readonly maxConcurrentPerTenant: number
}

export const DEFAULT_ANALYST_LIMITS: AnalystLimits = {
  maxExecutionSeconds: 60,
  maxMemoryBytes: 2 * 1024 ** 3,
  maxResultRows: 1_000_000,
  maxResultBytes: 64 * 1024 ** 2,
  maxRowsToRead: 10_000_000_000,
  maxBytesToRead: 256 * 1024 ** 3,
  maxThreads: 1,
  maxConcurrent: 2,
  maxConcurrentPerTenant: 1,
}

/** Whose rows a query sees: one tenant's, or (explicitly, and logged) every tenant's. */
export type QueryScope = { readonly tenant: string } | { readonly allTenants: true }

/** The query hit one of the analyst limits (time, memory, result size) or was cancelled. */
export class QueryLimitExceeded extends Data.TaggedError("QueryLimitExceeded")<{
  readonly limit: string
  readonly message: string
}> {}

/**
 * Too many analyst queries (or, `what: "preview"`, bounded interactive queries: QueryOptions.maxExecutionSeconds) are
 * running, in all or of this scope (`scope`: "tenant acme"): retry later.
 */
export class QueryBusy extends Data.TaggedError("QueryBusy")<{ readonly limit: number; readonly scope?: string; readonly what?: "preview" }> {
  override get message() {
    const [one, many] = this.what === "preview" ? ["preview", "previews"] : ["analyst query", "analyst queries"]
    return this.scope === undefined
      ? `${this.limit} ${many} are already running (the limit); retry when one finishes`
      : `${this.scope} already has ${this.limit} ${this.limit === 1 ? one : many} running (the limit per tenant); retry when it finishes`
  }
}

/** Why `scope` is not a valid scope, or null. */
export const scopeViolation = (scope: QueryScope): string | null =>
  "tenant" in scope && !TENANT_NAME.test(scope.tenant) ? `tenant "${scope.tenant}" must be ${TENANT_NAME_RULE}` : null

export const describeScope = (scope: QueryScope) => ("tenant" in scope ? `tenant ${scope.tenant}` : "all tenants")

/** A hash of the SQL for logs: which query ran, without the personal data its text may hold. */
export const sqlHash = (sql: string) => createHash("sha256").update(sql).digest("hex").slice(0, 16)

// Statement kinds (the root of the engine's AST) an analyst may run.
const READING_ROOTS = new Set(["SelectWithUnionQuery", "ShowTables", "DescribeQuery", "ExistsTableQuery", "ShowCreateTableQuery"])

// Table functions that read nothing stored (view() reads through the same row filters as a plain subquery).
const ALLOWED_TABLE_FUNCTIONS = new Set([
  "numbers", "numbers_mt", "zeros", "zeros_mt", "generate_series", "generateseries", "values", "view", "generaterandom",
])

const ALLOWED_LIST = "numbers, numbers_mt, zeros, zeros_mt, generate_series, values, view, generateRandom"

// System tables an analyst may read: descriptions of the schema and the engine. The others (processes, mutations,
// errors, parts, ...) hold other queries' texts, values from refused rows, or the order keys of every tenant.
const ALLOWED_SYSTEM_TABLES = new Set([
  "one", "numbers", "numbers_mt", "zeros", "zeros_mt", "databases", "tables", "columns", "functions", "table_functions",
  "table_engines", "formats", "data_type_families", "aggregate_function_combinators", "settings", "time_zones",
  "build_options", "keywords",
])

// Allowed system tables that count every tenant's rows and bytes (total_rows, data_compressed_bytes...): they show a
// tenant-scoped query nothing. Its schema is described by DESCRIBE TABLE and SHOW TABLES, which list names only.
const COUNTING_SYSTEM_TABLES = ["tables", "columns"]
// Allowed system tables that describe the host: system.databases holds the data directory's path (data_path), which
// hostName() and the like are refused for. SHOW DATABASES lists the names.
const HOST_SYSTEM_TABLES = ["databases"]

// SHOW TABLES | DATABASES | DICTIONARIES with at most a database, a LIKE pattern and a row count, as the engine formats
// it. The parser keeps a SHOW's WHERE and LIMIT expressions out of the AST, so nothing else in a SHOW can be checked.
const NAMES_ONLY_SHOW =
  /^SHOW (?:FULL )?(?:TEMPORARY )?(?:TABLES|DATABASES|DICTIONARIES)(?: (?:FROM|IN) (?:\w+|`(?:[^`\\]|\\.)*`))?(?: (?:NOT )?I?LIKE '(?:[^'\\]|\\.)*')?(?: LIMIT \d+)?$/

// MergeTree's virtual columns that say where a row is stored. A part holds every tenant's rows, so for one tenant
// they tell how many rows of others come before its own (_part_starting_offset, _part_offset), how many inserts every
// tenant made (_block_number, _part), and the host's disks. (_table, _database, _partition_id of its own rows say
// nothing of others.)
const STORAGE_POSITION_COLUMNS = new Set([
  "_part", "_part_index", "_part_starting_offset", "_part_offset", "_part_granule_offset", "_part_uuid",
  "_part_data_version", "_block_number", "_block_offset", "_disk_name",
])

/** A ClickHouse string literal. */
const literal = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`

const rowsOf = async <T>(client: ClickHouseClient, query: string, params?: Record<string, unknown>) =>
  (await (await client.query({ query, format: "JSONEachRow", ...(params === undefined ? {} : { query_params: params }) })).json()) as Array<T>

/** The engine's names for table functions that are not also ordinary functions (cached per client). */
const tableFunctionNames = new WeakMap<ClickHouseClient, Promise<ReadonlySet<string>>>()
const tableOnlyFunctions = (client: ClickHouseClient) => {
  let names = tableFunctionNames.get(client)
  if (names === undefined) {
    names = rowsOf<{ name: string }>(client,
      "SELECT lower(name) AS name FROM system.table_functions WHERE lower(name) NOT IN (SELECT lower(name) FROM system.functions)")
      .then((rows) => new Set(rows.map((r) => r.name)))
    names.catch(() => tableFunctionNames.delete(client))
    tableFunctionNames.set(client, names)
  }
  return names
}

/**
 * The engine's AST of one statement, one node a line. Through exec, with the format as a setting: a FORMAT clause
 * appended by the client would be taken for part of the explained statement.
 */
const explainAst = async (client: ClickHouseClient, sql: string): Promise<string> => {
  const { stream } = await client.exec({ query: `EXPLAIN AST ${sql}`, clickhouse_settings: { default_format: "TabSeparatedRaw" } })
  let text = ""
  for await (const chunk of stream) text += typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8")
  return text
}

/** What runs (the statement as the engine formats it), and whether it only lists names (a plain SHOW). */
export type Inspection = { readonly sql: string; readonly namesOnly: boolean } | { readonly refused: string }

/**
 * Parses `sql` with the engine's parser (one statement, or a syntax error), and refuses what the read-only context
 * would not stop: INTO OUTFILE, table functions outside the short allowed list, scalar functions that reach out of
 * the query (anywhere in the statement), and, for one tenant, EXPLAINs that count every tenant's rows. Returns the
 * statement as the engine formats it, which is what then runs (so what was checked is what runs).
 */
export const inspectStatement = async (client: ClickHouseClient, sql: string, scope: QueryScope): Promise<Inspection> => {
  const [formatted] = await rowsOf<{ q: string }>(client, "SELECT formatQuerySingleLine({sql:String}) AS q", { sql })
  const canonical = formatted!.q
  if (writesOutfile(canonical)) return { refused: "INTO OUTFILE is not allowed (results come back to the caller)" }
  // The engine runs a PREWHERE on every row it reads, before the row filter: its errors (a cast that fails, throwIf)
  // would quote or betray other tenants' values. WHERE runs after it (optimize_move_to_prewhere is off, analystSettings).
  if ("tenant" in scope && hasPrewhere(canonical)) {
    return { refused: "PREWHERE is not allowed for one tenant (it would run on every tenant's rows before the tenant's filter): use WHERE" }
  }
  const ast = (await explainAst(client, canonical)).split("\n")
  const head = (ast[0] ?? "").replace(/ \(children \d+\)$/, "")
  const root = head.split(" ", 1)[0]!
  if (root === "Explain") {
    const options = ast[1]?.trim() === "Set"
    if (ast[options ? 2 : 1]?.trim().split(" ", 1)[0] !== "SelectWithUnionQuery") {
      return { refused: "EXPLAIN is allowed for SELECT statements only" }
    }
    if ("tenant" in scope && (options || head === "Explain EXPLAIN ESTIMATE")) {
      return { refused: "EXPLAIN ESTIMATE and EXPLAIN options (indexes = 1, ...) are not allowed for one tenant: they count every tenant's rows" }
    }
  } else if (!READING_ROOTS.has(root)) {
    return { refused: "only reading statements are allowed (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)" }
  }
  // A FORMAT clause (the last node at the top, as the canonical text's end says): rows come back as JSON whatever it
  // names, and the client's own FORMAT after it would fail as a syntax error at a position the analyst never wrote.
  const format = / FORMAT (\w+|`(?:[^`\\]|\\.)*`)$/.exec(canonical)?.[1]
  if (format !== undefined && ast.filter((line) => line.trim() !== "").at(-1) === ` Identifier ${format.replace(/^`|`$/g, "")}`) {
    return { refused: "a FORMAT clause is not allowed: rows come back as JSON (cdp query --format json|table chooses how they are shown)" }
  }
  const namesOnly = root === "ShowTables"
  if (namesOnly && !NAMES_ONLY_SHOW.test(canonical)) {
    return { refused: "SHOW is allowed as SHOW TABLES | DATABASES [FROM db] [LIKE 'pattern'] [LIMIT n] only (no WHERE)" }
  }
  const [tableOnly, functions] = await Promise.all([tableOnlyFunctions(client), functionCatalogue(client)])
  for (let i = 0; i < ast.length; i++) {
    // APPLY(f) names its function outside the AST's Function nodes: it could call anything unseen.
    if (/^\s*ColumnsApplyTransformer\b/.test(ast[i]!)) {
      return { refused: "APPLY is not allowed in analyst queries: call the function on the columns by name" }
    }
    const column = /^\s*Identifier (\S+)/.exec(ast[i]!)?.[1]?.split(".").at(-1)
    if ("tenant" in scope && column !== undefined && STORAGE_POSITION_COLUMNS.has(column)) {
      return {
        refused: `${column} is not allowed for one tenant: it says where rows are stored, and parts, offsets and block ` +
          "numbers are shared with every tenant's rows (they count them)",
      }
    }
    const name = /^\s*Function (\S+)/.exec(ast[i]!)?.[1]
    if (name === undefined || ALLOWED_TABLE_FUNCTIONS.has(name.toLowerCase())) continue
    const inFrom = /^\s*TableExpression\b/.test(ast[i - 1] ?? "")
    if (inFrom || tableOnly.has(name.toLowerCase())) {
      return { refused: `table function ${name}() is not allowed in analyst queries; allowed: ${ALLOWED_LIST}` }
    }
    if (!functions.allows(name)) {
      return {
        refused: `function ${name}() is not allowed in analyst queries: only functions that compute on the query's own ` +
          "values may be called, not ones that read files, URLs, dictionaries or other servers, or describe the host",
      }
    }
  }
  return { sql: canonical, namesOnly }
}

/**
 * The settings of an analyst context, in the order they must be applied (readonly last): row filters on every table
 * with a `tenant` column (none for an all-tenant scope), no rows from system tables outside the allowed list (nor,
 * for one tenant, from those that count every tenant's rows, unless the statement lists names only), limits.
 */
export const analystSettings = async (
  client: ClickHouseClient, scope: QueryScope, limits: AnalystLimits, namesOnly = false,
): Promise<ReadonlyArray<readonly [string, string | number]>> => {
  const hidden = "tenant" in scope && !namesOnly ? [...COUNTING_SYSTEM_TABLES, ...HOST_SYSTEM_TABLES] : []
  const hasJoinOrderLimit = "tenant" in scope && (await rowsOf(client,
    "SELECT 1 FROM system.settings WHERE name = 'query_plan_optimize_join_order_limit'")).length > 0
  const system = (await rowsOf<{ name: string }>(client, "SELECT name FROM system.tables WHERE database = 'system'"))
    .filter((t) => !ALLOWED_SYSTEM_TABLES.has(t.name) || hidden.includes(t.name))
  // For one tenant every table is filtered: by its tenant column; a settings table without one (trait_precedence,
  // computed_trait_definitions) by its scope, the tenant's or '*'; any other (identity_snapshots holds every
  // tenant's graph, api_token_uses every tenant's token ids) shows nothing, but the schema's own record.
  const tables = "tenant" in scope
    ? await rowsOf<{ database: string; table: string; tenanted: number; scoped: number }>(client,
      "SELECT database, table, has(groupArray(name), 'tenant') AS tenanted, has(groupArray(name), 'scope') AS scoped " +
        "FROM system.columns WHERE database NOT IN ('system', 'information_schema', 'INFORMATION_SCHEMA') GROUP BY database, table")
    : []
  // api_tokens has a tenant column, but its rows are credentials' verifiers (token hashes): GET /v1/tokens shows the
  // rest, so a tenant's analyst sees none of it.
  const tenantFilter = (t: { table: string; tenanted: number; scoped: number }, tenant: string) =>
    t.table === "api_tokens" ? "0"
      : Number(t.tenanted) ? `tenant = ${literal(tenant)}`
      : Number(t.scoped) ? `scope IN ('*', ${literal(tenant)})`
      : t.table === "schema_migrations" ? "1" : "0"
  const filters = [
    ...system.map((t) => `${literal(`system.${t.name}`)}: '0'`),
    ...("tenant" in scope
      ? tables.map((t) => `${literal(`${t.database}.${t.table}`)}: ${literal(tenantFilter(t, scope.tenant))}`)
      : []),
  ]
  return [
    ["additional_table_filters", `{${filters.join(", ")}}`],
    ["max_execution_time", limits.maxExecutionSeconds],
    ["timeout_overflow_mode", "throw"],
    ["max_memory_usage", limits.maxMemoryBytes],
    ["max_result_rows", limits.maxResultRows],
    ["max_result_bytes", limits.maxResultBytes],
    ["result_overflow_mode", "throw"],
    ["max_rows_to_read", limits.maxRowsToRead],
    ["max_bytes_to_read", limits.maxBytesToRead],
    ["read_overflow_mode", "throw"],
    ["max_threads", limits.maxThreads],
    // The join-order optimiser's estimates (EXPLAIN's "e[1848] ⟕ moved[0]", "Result rows: 1848") count every
    // tenant's rows of a table, whatever its row filter; for one tenant it is off, so EXPLAIN shows none (where the
    // engine has the setting: a server that does not know it would refuse every query).
    ...(hasJoinOrderLimit ? [["query_plan_optimize_join_order_limit", 0] as const] : []),
    // Moved to PREWHERE, the analyst's WHERE would run on every row read, before the row filter (additional_table_filters
    // is applied after it), so its errors would quote other tenants' values: for one tenant it stays a WHERE.
    ...("tenant" in scope ? [["optimize_move_to_prewhere", 0] as const] : []),
    ["output_format_json_quote_64bit_integers", 1],
    ["readonly", 1],
  ]
}

// Engine error codes of an analyst query that name a limit.
const LIMIT_CODES: Record<string, (limits: AnalystLimits) => [string, string]> = {
  "159": (l) => ["max_execution_time", `the query ran longer than the ${l.maxExecutionSeconds} s limit`],
  "241": (l) => ["max_memory_usage", `the query needed more than the ${Math.round(l.maxMemoryBytes / 1024 ** 2)} MB memory limit`],
  "396": (l) => ["max_result_rows", `the result is larger than the limit (${l.maxResultRows} rows, ${Math.round(l.maxResultBytes / 1024 ** 2)} MB): aggregate or add LIMIT`],
  "394": () => ["cancelled", "the query was cancelled (its client went away)"],
  "158": (l) => ["max_rows_to_read", `the query would read more than the ${l.maxRowsToRead} rows limit: filter on the order key or sample`],
  "307": (l) => ["max_bytes_to_read", `the query would read more than the ${Math.round(l.maxBytesToRead / 1024 ** 2)} MB limit: filter on the order key or read fewer columns`],
}

/**
 * An engine error as the analyst reads it: its first line, without the echo of the wrapper that parses the statement
 * (formatQuerySingleLine('...whole statement...')) or advice to raise a setting the analyst cannot change, cut to 500
 * characters (an error may quote a statement of 256 KB).
 */
export const analystErrorMessage = (message: string): string => {
  const line = message.trim().split("\n")[0]!
    .replace(/:? In scope SELECT formatQuerySingleLine\(.*$/, "")
    .replace(/\.? ?Consider rising max_parser_depth parameter\.?/, "")
    .replace(/ \(can be increased with the `max_query_size` setting\)/, "")
  return line.length > 500 ? `${line.slice(0, 499)}…` : line
}

/** The limit an engine error names, if it names one. */
export const limitExceeded = (code: string | undefined, limits: AnalystLimits): QueryLimitExceeded | undefined => {
  const describe = code === undefined ? undefined : LIMIT_CODES[code]
  if (describe === undefined) return undefined
  const [limit, message] = describe(limits)
  return new QueryLimitExceeded({ limit, message })
}

// Engine error codes that mean the backend is in trouble rather than the analyst's SQL being wrong.
export const OUTAGE_CODES = new Set(["202", "209", "210", "243", "425", "1000"])

/** The statement is not one an analyst may run (the reason says why). */
export class StatementRefused extends Error {}

/**
 * Runs analysts' statements for one warehouse client: at most `limits.maxConcurrent` at once and
 * `limits.maxConcurrentPerTenant` of one scope (so one tenant's slow queries leave the others a turn), each in its own
 * read-only context. When `signal` aborts (the client went away), the query is stopped in the engine.
 * `checks` gives the client of the statement's checks (its parse, AST, tables to filter) and of stopping it: on the
 * embedded engine a connection of their own (one statement at a time per connection), since on the pipeline's they
 * waited behind every tenant's landing and data-subject requests, holding a turn, for minutes.
 */
export const analystRunner = (
  client: ClickHouseClient, backend: { readonly kind: "embedded" | "server"; readonly location: string }, limits: AnalystLimits,
  checks: () => Promise<ClickHouseClient> = () => Promise.resolve(client),
) => {
  let running = 0
  const turns = new TurnsPerKey()
  return async (sql: string, scope: QueryScope, signal?: AbortSignal): Promise<ReadonlyArray<unknown>> => {
    const who = describeScope(scope)
    if (!turns.take(who, limits.maxConcurrentPerTenant)) throw new QueryBusy({ limit: limits.maxConcurrentPerTenant, scope: who })
    if (running >= limits.maxConcurrent) {
      turns.release(who)
      throw new QueryBusy({ limit: limits.maxConcurrent })
    }
    running++
    try {
      const client = await checks()
      const inspection = await inspectStatement(client, sql, scope)
      if ("refused" in inspection) throw new StatementRefused(inspection.refused)
      const settings = await analystSettings(client, scope, limits, inspection.namesOnly)
      signal?.throwIfAborted()
      if (backend.kind === "server") {
        // A server applies URL settings before the statement, readonly last; closing the request cancels the query.
        const clickhouse_settings = Object.fromEntries([
          ...settings.filter(([name]) => name !== "readonly"), ["cancel_http_readonly_queries_on_client_close", 1], ["readonly", "1"],
        ])
        const result = await client.query({
          query: inspection.sql, format: "JSONEachRow", clickhouse_settings, ...(signal === undefined ? {} : { abort_signal: signal }),
        })
        return (await result.json()) as Array<unknown>
      }
      const { runInOwnContext } = await import("./chdb-connection.ts")
      const marker = `/* cdp-analyst ${crypto.randomUUID()} */ `
      let settled = false
      // The query may not be listed yet when the client leaves: kill until it has stopped.
      const kill = () => {
        if (settled) return
        client.command({ query: `KILL QUERY WHERE startsWith(query, ${literal(marker)}) ASYNC` })
          .catch(() => undefined)
          .finally(() => { if (!settled) setTimeout(kill, 250) })
      }
      signal?.addEventListener("abort", kill, { once: true })
      try {
        return await runInOwnContext(backend.location, settings, marker + inspection.sql)
      } finally {
        settled = true
        signal?.removeEventListener("abort", kill)
      }
    } finally {
      running--
      turns.release(who)
    }
  }
}
