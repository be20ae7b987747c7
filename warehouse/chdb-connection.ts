// The embedded engine behind @clickhouse/client: chDB's own `chdb/connection`, with one change. Its insert turns
// the body into text and runs it as one SQL statement; this hands the bytes to the engine's raw insert instead
// (same statement, same format, about twice as fast on large batches). Queries are untouched.
import type { Readable } from "node:stream"
import { drainPending } from "chdb"
import { createChdbConnection } from "chdb/connection"
import { inlineParams } from "./inline-params.ts"
import { keepStdinFromEngine } from "./stdin.ts"
import { nextTurn } from "./turns.ts"

type ChdbConnection = ReturnType<typeof createChdbConnection>
type InsertParams = Parameters<ChdbConnection["insert"]>[0]
type StatementParams = { readonly query: string; readonly query_params?: Record<string, unknown> | undefined }
type RawFormat = Parameters<ChdbConnection["chdb"]["rawInsert"]>[0]["format"]

// What @clickhouse/client sends: INSERT INTO table [(columns)] FORMAT Format
const INSERT = /^INSERT INTO\s+(\S+)\s*(?:\(([^)]*)\))?\s*FORMAT\s+(\w+)\s*$/i

// Settings that only mean something to an HTTP server, which the client may send.
const HTTP_ONLY = new Set(["wait_end_of_query", "send_progress_in_http_headers", "enable_http_compression"])

// How long the body's text is turned into bytes before the event loop gets a turn.
const BYTES_SLICE_MS = 5

/**
 * The body as one Buffer. The warehouse sends its rows as a stream of slices of text (warehouse/encode-rows.ts); each
 * is written into one buffer of the body's size, with a turn of the event loop between a few milliseconds of them
 * (turning 35 MB of text into bytes at once, or joining it, held the loop for 30-150 ms).
 */
const bytesOf = async (values: InsertParams["values"]): Promise<Buffer> => {
  if (typeof values === "string") return Buffer.from(values)
  const parts: Array<string | Uint8Array> = []
  let size = 0
  let sliceStarted = performance.now()
  const aTurnIfDue = async () => {
    if (performance.now() - sliceStarted < BYTES_SLICE_MS) return
    await nextTurn()
    sliceStarted = performance.now()
  }
  for await (const chunk of values as Readable) {
    const part = chunk as string | Uint8Array
    parts.push(part)
    size += typeof part === "string" ? Buffer.byteLength(part) : part.byteLength
    await aTurnIfDue()
  }
  const body = Buffer.allocUnsafe(size)
  let at = 0
  for (const part of parts) {
    if (typeof part === "string") {
      at += body.write(part, at)
    } else {
      body.set(part, at)
      at += part.byteLength
    }
    await aTurnIfDue()
  }
  return body
}

/**
 * Waits until the engine has really let go of closed connections. close() returns while an operation (an aborted
 * query, a background insert) still runs, and until it ends no connection at ANOTHER data directory can open in this
 * process; a warehouse is released only once that wait is over.
 */
export const engineReleased = (): Promise<void> => drainPending()

/** The statement with its parameters written in as literals where that is exact (warehouse/inline-params.ts). */
const withParamsInline = <P extends StatementParams>(params: P): P => {
  const values = params.query_params
  if (values === undefined || Object.keys(values).length === 0) return params
  const query = inlineParams(params.query, values)
  if (query === undefined) return params
  const { query_params: _bound, ...rest } = params
  return { ...rest, query } as P
}

/** A connection whose statements run without chDB's process-wide turn for parameterized statements where they can. */
const outsideTheParameterChain = (connection: ChdbConnection): ChdbConnection => {
  const query = connection.query.bind(connection)
  const command = connection.command.bind(connection)
  const exec = connection.exec.bind(connection)
  connection.query = (params) => query(withParamsInline(params))
  connection.command = (params) => command(withParamsInline(params))
  connection.exec = (params) => exec(withParamsInline(params))
  return connection
}

export const embeddedConnection = (path: string): ChdbConnection => {
  keepStdinFromEngine()
  const connection = outsideTheParameterChain(createChdbConnection({ path }))
  const textInsert = connection.insert.bind(connection)
  connection.insert = async (params: InsertParams) => {
    const m = INSERT.exec(params.query.trim())
    if (m === null) return textInsert(params)
    const body = await bytesOf(params.values)
    const settings: Record<string, string | number | boolean> = {}
    for (const [k, v] of Object.entries(params.clickhouse_settings ?? {})) {
      if (v !== undefined && !HTTP_ONLY.has(k)) settings[k] = v as string | number | boolean
    }
    const columns = m[2]?.split(",").map((c) => c.trim().replace(/^`|`$/g, "")).filter((c) => c !== "")
    const summary = await connection.chdb.rawInsert({
      table: m[1]!, values: body, format: m[3] as RawFormat, settings,
      ...(columns === undefined || columns.length === 0 ? {} : { columns }),
    }).catch((error: unknown) => {
      // The raw insert reports the engine's code as `clickhouseCode`; the client's errors carry it as `code`.
      const engineCode = (error as { clickhouseCode?: unknown } | null)?.clickhouseCode
      if (typeof engineCode === "number") Object.assign(error as object, { code: String(engineCode) })
      throw error
    })
    return {
      query_id: params.query_id ?? crypto.randomUUID(),
      response_headers: {},
      http_status_code: 200,
      summary: {
        read_rows: "0", read_bytes: "0", written_rows: String(summary.rowsWritten ?? 0),
        written_bytes: String(summary.bytesWritten ?? 0), result_rows: "0", result_bytes: "0",
        total_rows_to_read: "0", elapsed_ns: "0",
      },
    }
  }
  return connection
}

/**
 * Another connection to the same data directory, for reads: the engine runs one statement at a time per connection,
 * so a statement here runs beside those of the warehouse's own connection instead of before or after them.
 */
export const sideConnection = (path: string): ChdbConnection => outsideTheParameterChain(createChdbConnection({ path }))

const settingValue = (v: string | number) => (typeof v === "number" ? String(v) : `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`)

/**
 * Runs one statement in a context of its own on the same data directory: a second connection is a separate context,
 * so the settings applied here (in order, before the statement) never reach the pipeline's connection, and the
 * statement's text arrives only after them. Resolves when the engine has finished with it: chDB cannot interrupt a
 * query through the promise (an abort only stops waiting), so a cancelled query is stopped with KILL QUERY by the caller.
 */
export const runInOwnContext = async (
  path: string, settings: ReadonlyArray<readonly [string, string | number]>, sql: string,
): Promise<ReadonlyArray<unknown>> => {
  const { createClient } = await import("@clickhouse/client")
  const client = createClient({ connection: createChdbConnection({ path }) as never })
  try {
    for (const [name, value] of settings) await client.command({ query: `SET ${name} = ${settingValue(value)}` })
    return (await (await client.query({ query: sql, format: "JSONEachRow" })).json()) as Array<unknown>
  } finally {
    await client.close()
  }
}
