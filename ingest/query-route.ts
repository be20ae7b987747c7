// POST /v1/query: analysts' read-only SQL for holders of a token with the query scope (ingest/auth.ts; the data
// directory's admin token is one: `cdp query` goes through it while `cdp serve` holds the embedded engine). Body: {"sql": "...", "tenant": "acme"} or {"sql", "allTenants": true}.
// Read-only, limits and tenant scope are the warehouse's analystQuery, enforced by the engine.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { DEFAULT_TENANT } from "./writekeys.ts"
import { apiReads, type QueryScope, type WarehouseShape } from "../warehouse/warehouse.ts"
import type { ValidateFunction } from "ajv"
import { BodyTooLarge, bodyErrorReply, receiveBody } from "./body.ts"
import { readJson } from "./json.ts"
import { explainSchemaError } from "./sources/items.ts"
import { keyedLocks } from "../warehouse/turns.ts"

const QUERY_BODY_LIMIT = 1024 * 1024

export interface QueryReply {
  readonly status: number
  readonly body: unknown
  readonly headers?: Record<string, string>
}

/** A refusal in the shape every admin route answers with: {success: false, error, rule, field?}. */
export const refuse = (status: number, rule: string, message: string, field?: string, headers?: Record<string, string>): QueryReply => ({
  status, body: { success: false, error: message, rule, ...(field === undefined ? {} : { field }) }, ...(headers === undefined ? {} : { headers }),
})

/** Every route's answer while the warehouse cannot be reached: 503 with Retry-After, so that clients try again. */
export const warehouseUnavailable = (message = "the warehouse is unavailable"): QueryReply =>
  refuse(503, "warehouse_unavailable", message, undefined, { "retry-after": "5" })

/**
 * The 400 for a value the warehouse could not read as its parameter's type (WarehouseQueryError with `parameter`), or
 * undefined for any other failure: the request's value is wrong, so no Retry-After (retrying cannot help).
 */
export const refuseBadParameter = (e: unknown): QueryReply | undefined => {
  const tagged = e as { readonly _tag?: string; readonly message?: string; readonly parameter?: string }
  if (tagged._tag !== "WarehouseQueryError" || typeof tagged.parameter !== "string") return undefined
  const detail = (tagged.message ?? "").split("\n")[0]!.slice(0, 300)
  return refuse(400, "bad_parameter", `${tagged.parameter}: the value cannot be read as this parameter's type (${detail})`, tagged.parameter)
}

/**
 * The 422 for a query the engine stopped at the time the route gives it (WarehouseQueryError code 159,
 * max_execution_time), or undefined for any other failure: what was asked is too broad, so no Retry-After (the same
 * request takes as long again). `rule`, `narrow` (what to narrow) and `field` are the route's.
 */
export const refuseTooSlow = (e: unknown, what: { readonly rule: string; readonly seconds: number; readonly narrow: string; readonly field: string }): QueryReply | undefined => {
  const tagged = e as { readonly _tag?: string; readonly code?: unknown }
  if (tagged._tag !== "WarehouseQueryError" || tagged.code !== "159") return undefined
  return refuse(422, what.rule, `the preview ran longer than the ${what.seconds} s it may take: narrow ${what.narrow}`, what.field)
}

/**
 * The 429 for a preview refused its turn (QueryBusy of warehouse interactiveTurn: the tenant's preview, or the
 * process's, already running), or undefined for any other failure.
 */
export const refuseBusy = (e: unknown): QueryReply | undefined => {
  const tagged = e as { readonly _tag?: string; readonly message?: string }
  if (tagged._tag !== "QueryBusy") return undefined
  return refuse(429, "preview_busy", tagged.message ?? "previews are already running; retry when one finishes", undefined, { "retry-after": "5" })
}

/**
 * A failure no case of the route covers: warehouseUnavailable while the warehouse cannot be reached, 400 for a value
 * the warehouse could not bind (refuseBadParameter), else 500 `rule`.
 */
export const refuseFailure = (e: unknown, rule: string): QueryReply => {
  const tagged = e as { readonly _tag?: string; readonly message?: string }
  const message = tagged.message ?? String(e)
  if (tagged._tag === "WarehouseUnavailable") return warehouseUnavailable(message)
  return refuseBadParameter(e) ?? refuse(500, rule, message)
}

/**
 * One of a tenant's heavy reads at a time across the API routes (a person's profile, its pages and consent, identity
 * suggestions, relationship summaries, reports and explanations); another tenant's never wait for them. Each read's
 * statements queue on the embedded engine's one connection with every tenant's landing and reads: ten reads at once of
 * one big profile held another tenant's requests 10 s, of its consent 13 s, ten suggestion lists 16 s. Waiting here, a
 * tenant's many reads hold its own requests, and another tenant's statements wait for one read's.
 */
export const tenantReads = keyedLocks()

/** A tenant's heavy read: in its turn (tenantReads), on the warehouse's reads connection (apiReads). */
export const tenantRead = (tenant: string) => <A, E, R>(read: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => tenantReads(tenant)(apiReads(read))

/** Bodies the guard (ingest/auth.ts) read to check their tenant, with the tenant filled in: the route reads them here. */
export const preReadBodies = new WeakMap<IncomingMessage, string>()

/**
 * An admin route's body as text, or the refusal to answer with: 413 naming the limit (`what`: whose body, e.g. "a
 * query body"), or the transport's error (timeout, bad encoding, invalid UTF-8).
 */
export const receiveAdminBody = (req: IncomingMessage, limit: number, idleMs: number | undefined, what: string) =>
  Effect.map(preReadBodies.has(req) ? Effect.succeed(preReadBodies.get(req)!) : receiveBody(req, limit, idleMs), (text): string | QueryReply => {
    if (typeof text === "string" && Buffer.byteLength(text) > limit) return refuse(413, "body_too_large", `${what} may be at most ${limit / 1024} KB`)
    if (text instanceof BodyTooLarge) return refuse(413, "body_too_large", `${what} may be at most ${limit / 1024} KB`)
    if (text instanceof Error) {
      const r = bodyErrorReply(text)
      return refuse(r.status, r.rule, r.message)
    }
    return text
  })

/** Whether a route's intermediate result is already its answer (a refusal) rather than a value to go on with. */
export const isReply = (x: unknown): x is QueryReply => typeof x === "object" && x !== null && "status" in x && "body" in x

/**
 * The 400 naming the first of `names` given more than once (?limit=5&limit=5000): URLSearchParams.get takes the first,
 * so the caller would silently get what it did not mean, or a proxy and this server would read different values.
 */
export const refuseRepeated = (url: URL, names: ReadonlyArray<string>): QueryReply | undefined => {
  for (const name of names) {
    const n = url.searchParams.getAll(name).length
    if (n > 1) return refuse(400, "repeated_parameter", `?${name}= is given ${n} times: give it once`, name)
  }
  return undefined
}

/**
 * An admin route's JSON body (an empty one is {}) checked against its schema (ajv, ingest/schemas.ts): the value, or
 * 400 bad_body naming the field and what is wrong with it, then the shape the route takes.
 */
export const adminBodyOf = <T>(text: string, validate: ValidateFunction<T>, shape: string): T | QueryReply => {
  const read = text.trim() === "" ? { _tag: "read" as const, value: {} } : readJson(text)
  if (read._tag === "refused") return refuse(400, "bad_body", `${shape}: ${read.rejection.message}`, read.rejection.field)
  if (validate(read.value)) return read.value
  const why = explainSchemaError(validate.errors![0]!, read.value, "the body")
  return refuse(400, "bad_body", `${why.message}; ${shape}`, why.field)
}

const BODY_SHAPE = 'the body must be JSON {"sql": "...", "tenant": "..."} (or "allTenants": true instead of "tenant")'

/** The statement and its scope from the body, or why they are not usable. */
const parseBody = (text: string): { sql: string; scope: QueryScope } | QueryReply => {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return refuse(400, "bad_body", BODY_SHAPE)
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) return refuse(400, "bad_body", BODY_SHAPE)
  // A field it does not take would be ignored: {"allTenant": true} (a typo) would answer the default tenant's rows.
  const unknown = Object.keys(body).find((k) => !["sql", "tenant", "allTenants"].includes(k))
  if (unknown !== undefined) return refuse(400, "bad_body", `unknown field "${unknown.slice(0, 80)}"; ${BODY_SHAPE}`, `/${unknown.slice(0, 80)}`)
  const { sql, tenant, allTenants } = body as Record<string, unknown>
  if (typeof sql !== "string") return refuse(400, "bad_body", `"sql" must be a string; ${BODY_SHAPE}`, "/sql")
  if (allTenants !== undefined && typeof allTenants !== "boolean") return refuse(400, "bad_body", '"allTenants" must be true or false', "/allTenants")
  if (tenant !== undefined && typeof tenant !== "string") return refuse(400, "bad_body", '"tenant" must be a string', "/tenant")
  if (allTenants === true && tenant !== undefined) {
    return refuse(400, "bad_scope", 'give either "tenant" or "allTenants": true, not both', "/tenant")
  }
  return { sql, scope: allTenants === true ? { allTenants: true } : { tenant: tenant ?? DEFAULT_TENANT } }
}

/** Aborts when the client's connection closes before its answer is sent, so the engine stops the query. */
const clientGone = (req: IncomingMessage) => {
  const controller = new AbortController()
  const abort = () => controller.abort(new Error("the client closed the connection"))
  req.socket.once("close", abort)
  return { signal: controller.signal, release: () => req.socket.off("close", abort) }
}

/** The route; the guard (ingest/auth.ts) has checked the token, its scope and tenant before it runs. */
export const queryRoute = (options: {
  readonly warehouse: WarehouseShape
  readonly bodyIdleMs?: number
}) => (req: IncomingMessage): Effect.Effect<QueryReply> =>
  Effect.gen(function* () {
    if (req.method !== "POST") return refuse(405, "method_not_allowed", "use POST /v1/query", undefined, { allow: "POST" })
    const extra = [...new URL(req.url ?? "/", "http://collector").searchParams.keys()].find((n) => n !== "tenant")
    if (extra !== undefined) {
      return refuse(400, "unknown_parameter", `?${extra.slice(0, 80)}= is not taken here; this route takes ?tenant= (the SQL goes in the body)`, extra.slice(0, 80))
    }
    const body = yield* receiveAdminBody(req, QUERY_BODY_LIMIT, options.bodyIdleMs, "a query body")
    if (typeof body !== "string") return body
    const parsed = parseBody(body)
    if ("status" in parsed) return parsed
    const gone = clientGone(req)
    return yield* options.warehouse.analystQuery<Record<string, unknown>>(parsed.sql, parsed.scope, gone.signal).pipe(
      Effect.map((rows): QueryReply => ({ status: 200, body: { success: true, rows } })),
      Effect.catchTags({
        WarehouseQueryError: (e) => Effect.succeed(refuse(400, "bad_query", e.message)),
        QueryLimitExceeded: (e) => Effect.succeed(refuse(422, "query_limit", `${e.message} (${e.limit})`)),
        QueryBusy: (e) => Effect.succeed(refuse(429, "query_busy", e.message, undefined, { "retry-after": "5" })),
        WarehouseUnavailable: (e) => Effect.succeed(warehouseUnavailable(e.message)),
      }),
      Effect.ensuring(Effect.sync(gone.release)),
    )
  })
