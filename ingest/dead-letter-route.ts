// Dead letters over HTTP (`cdp dlq list|retry` goes through them while `cdp serve` holds the data dir; a console reads
// them): tokens with dead-letters:read list, dead-letters:write re-drive (ingest/auth.ts guards both; admins).
//   GET  /v1/dead-letters?source=&rule=&since=&all=&limit=&cursor=  open ones (or all), oldest first, a page at a time; no payloads
//   POST /v1/dead-letters/retry {"source"?, "rule"?, "since"?, "limit"?, "tenant"?}   re-drive through this server's pipeline
// Without a tenant (an unbound token naming none) both cover every tenant, as `cdp dlq` does on the data dir.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { DateNotOnCalendar } from "../warehouse/calendar.ts"
import { apiReads, Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import {
  DEAD_LETTER_SOURCES, type DeadLetterFilter, deadLetterKey, listDeadLetters, parseSinceDate, retryDeadLetters, type SourceOptions, unknownSourceWords,
} from "./dlq.ts"
import { pageList, pageOf, readCursor, refuseQueryOfBody, refuseUnknownParameter } from "./pages.ts"
import { compiledOnFirstUse, deadLetterRetryBodySchema } from "./schemas.ts"
import { Pipeline, type PipelineShape } from "./pipeline.ts"
import { adminBodyOf, isReply, type QueryReply, receiveAdminBody, refuse, refuseFailure, refuseRepeated } from "./query-route.ts"

export const DEAD_LETTERS_PATH = "/v1/dead-letters"
const RETRY_PATH = `${DEAD_LETTERS_PATH}/retry`
/** The most dead letters one list page or one retry takes (cdp dlq's --limit takes the same on the data dir). */
export const LIST_MAX = 10_000
export const RETRY_MAX = 10_000
const RETRY_BODY = 'the body must be JSON {"source"?: "calls", "rule"?: "bad_timestamp", "since"?: "2024-11-01", "limit"?: 1000, "tenant"?: "..."}'
const validateRetryBody = compiledOnFirstUse<{ source?: string; rule?: string; since?: string; limit?: number; tenant?: string }>(deadLetterRetryBodySchema)
const FILTER_FIELDS = ["source", "rule", "since", "limit", "tenant"] as const
/** What the list takes, in the order its refusal names them (?tenant= last: without it, every tenant's). */
const LIST_PARAMETERS = ["source", "rule", "since", "all", "limit", "cursor", "tenant"]

/** A filter from text values (the query string's, or a body's), or the 400 naming the field. */
const filterOf = (given: Readonly<Record<string, string | undefined>>, limitMax: number, fallback: number, field: (name: string) => string): DeadLetterFilter | QueryReply => {
  const since = given["since"] === undefined ? undefined : parseSinceDate(given["since"])
  if (since instanceof DateNotOnCalendar) return refuse(400, "bad_since", `since: ${since.message}`, field("since"))
  if (since instanceof Error) return refuse(400, "bad_since", `since must be a date (2024-11-01) or a date-time: ${since.message}`, field("since"))
  const limitText = given["limit"]
  const limit = limitText === undefined ? fallback : /^\d{1,6}$/.test(limitText) ? Number(limitText) : Number.NaN
  if (!(limit >= 1 && limit <= limitMax)) return refuse(400, "bad_limit", `limit must be a whole number from 1 to ${limitMax}`, field("limit"))
  for (const name of ["source", "rule", "tenant"] as const) {
    if (given[name] === "") return refuse(400, `bad_${name}`, `${name} must not be empty (leave it out for every ${name})`, field(name))
  }
  const source = given["source"]
  if (source !== undefined && !DEAD_LETTER_SOURCES.includes(source)) return refuse(400, "bad_source", `source ${unknownSourceWords(source)}`, field("source"))
  return {
    limit,
    ...(given["source"] === undefined ? {} : { source: given["source"] }),
    ...(given["rule"] === undefined ? {} : { rule: given["rule"] }),
    ...(given["tenant"] === undefined ? {} : { tenant: given["tenant"] }),
    ...(since === undefined ? {} : { since }),
  }
}

const failed = (e: unknown): Effect.Effect<QueryReply> => Effect.succeed(refuseFailure(e, "dead_letters_failed"))

export const deadLetterRoute = (options: {
  readonly warehouse: WarehouseShape; readonly pipeline: PipelineShape; readonly bodyIdleMs?: number | undefined
  /** The server's source settings (CDP_SOURCE_OPTIONS): a retry reads zone-less times in its source's timeZone. */
  readonly sourceOptions?: SourceOptions | undefined
}) => {
  const list = (url: URL) =>
    Effect.gen(function* () {
      const unknown = refuseUnknownParameter(url, LIST_PARAMETERS)
      if (unknown !== undefined) return unknown
      const repeated = refuseRepeated(url, [...FILTER_FIELDS, "all", "cursor"])
      if (repeated !== undefined) return repeated
      const all = url.searchParams.get("all")
      if (all !== null && !["true", "false", "1", "0"].includes(all)) return refuse(400, "bad_all", "?all= must be true or false", "all")
      const filter = filterOf(Object.fromEntries(FILTER_FIELDS.map((n) => [n, url.searchParams.get(n) ?? undefined])), LIST_MAX, 100, (n) => n)
      if (isReply(filter)) return filter
      const bound = pageList(url, "dead letters")
      const cursor = readCursor(url, "nss", bound)
      if (isReply(cursor)) return cursor
      const after = cursor as readonly [number, string, string] | undefined
      const page = { limit: filter.limit ?? 100, after, list: bound }
      // One more than the page: whether another page follows.
      return yield* listDeadLetters({ ...filter, limit: page.limit + 1, after, all: all === "true" || all === "1" }).pipe(
        // On the warehouse's reads connection, beside the pipeline's landing.
        apiReads,
        Effect.provideService(Warehouse, options.warehouse),
        Effect.map((rows): QueryReply => {
          const { items, nextCursor } = pageOf(rows, page, deadLetterKey)
          return { status: 200, body: { success: true, deadLetters: items, nextCursor } }
        }),
        Effect.catch(failed),
      )
    })

  const retry = (req: IncomingMessage, url: URL) =>
    Effect.gen(function* () {
      // The list's filters go in the query string, the retry's in its body: ignored there, they re-drove every letter.
      const query = refuseQueryOfBody(url, ["source", "rule", "since", "limit"])
      if (query !== undefined) return query
      const text = yield* receiveAdminBody(req, 16 * 1024, options.bodyIdleMs, "a dead-letter retry body")
      if (typeof text !== "string") return text
      const body = adminBodyOf(text, validateRetryBody, RETRY_BODY)
      if (isReply(body)) return body
      const given = { ...body, limit: body.limit === undefined ? undefined : String(body.limit) }
      const filter = filterOf(given, RETRY_MAX, RETRY_MAX, (n) => `/${n}`)
      if (isReply(filter)) return filter
      return yield* retryDeadLetters(filter, options.sourceOptions).pipe(
        Effect.provideService(Warehouse, options.warehouse),
        Effect.provideService(Pipeline, options.pipeline),
        Effect.map((summary): QueryReply => ({ status: 200, body: { success: true, ...summary } })),
        Effect.catch(failed),
      )
    })

  return (req: IncomingMessage): Effect.Effect<QueryReply> => {
    const url = new URL(req.url ?? "/", "http://collector")
    const path = url.pathname.replace(/\/+$/, "")
    const method = req.method ?? "GET"
    if (path === DEAD_LETTERS_PATH) {
      return method === "GET" || method === "HEAD" ? list(url)
        : Effect.succeed(refuse(405, "method_not_allowed", `use GET ${DEAD_LETTERS_PATH} (POST ${RETRY_PATH} re-drives)`, undefined, { allow: "GET" }))
    }
    if (path === RETRY_PATH) {
      return method === "POST" ? retry(req, url) : Effect.succeed(refuse(405, "method_not_allowed", `use POST ${RETRY_PATH}`, undefined, { allow: "POST" }))
    }
    return Effect.succeed(refuse(404, "not_found", `no route ${path}; dead letters are served at GET ${DEAD_LETTERS_PATH} and POST ${RETRY_PATH}`))
  }
}
