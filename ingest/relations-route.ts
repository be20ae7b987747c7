// The relationship scores over HTTP (`cdp relations ...` goes through them while `cdp serve` holds the data dir; a
// console reads them): tokens with relations:read read, relations:write computes (ingest/auth.ts guards both).
//   POST /v1/relations/compute {"asOf"?: "2024-11-01", "tenant"?, "wait"?}   every profile brought to a date (default
//        today), in the background: 202 with where to follow it; with "wait": true, 200 with the run when it ends
//   GET  /v1/relations/compute?tenant=                              the tenant's latest compute asked of this server
//   GET  /v1/relations/summary?from=&to=&limit=                   per type at two dates, movements, who changed
//   GET  /v1/relations/report?from=&to=&every=day|week|month      per type at the end of each period (stored runs)
//   GET  /v1/relations/explain/{identifier}?asOf=                 one profile's type, health, churn risk and evidence
// A tenant computes one run at a time (computeRelations): a second compute of the same day while one runs follows it;
// of another day it is 409, not a second pass. A compute over a million events takes about a minute: longer than a
// proxy or a console waits for an answer, so it runs in the server's scope, not the request's.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { defaultIdentityConfig, type IdentityConfig, profileIdOf, readIdentifier } from "../identity/index.ts"
import {
  computeRelations, ComputeRunning, dayOf, DEFAULT_RELATIONS_CONFIG, explainRelation, isComputing, notARunDay, relationSeries, type RelationsConfig, SERIES_EVERY,
  type SeriesEvery, summarise,
} from "../identity/relations/index.ts"
import { notADay } from "../warehouse/calendar.ts"
import { storedOperations } from "../warehouse/operations.ts"
import { readRuns } from "../warehouse/relations.ts"
import { Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import { compiledOnFirstUse, relationsComputeBodySchema } from "./schemas.ts"
import { adminBodyOf, isReply, type QueryReply, receiveAdminBody, refuse, refuseBadParameter, refuseRepeated, tenantRead, warehouseUnavailable } from "./query-route.ts"
import { accepted, awaitJob, isRunning, type Jobs, jobView, operationView } from "./jobs.ts"
import { refuseQueryOfBody, refuseUnknownParameter } from "./pages.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

export const RELATIONS_PATH = "/v1/relations"
const EXPLAIN_PATH = `${RELATIONS_PATH}/explain/`
const COMPUTE_PATH = `${RELATIONS_PATH}/compute`
const ROUTES = `POST and GET ${COMPUTE_PATH}, GET ${RELATIONS_PATH}/summary, GET ${RELATIONS_PATH}/report, GET ${EXPLAIN_PATH}{identifier}`
const DAY_MS = 86_400_000
/** Profiles listed as changed in a summary unless ?limit= says otherwise, and the most it may say. */
const DEFAULT_CHANGED = 100
const MAX_CHANGED = 10_000
const validateComputeBody = compiledOnFirstUse<{ asOf?: string; tenant?: string; wait?: boolean }>(relationsComputeBodySchema)
const COMPUTE_BODY = 'the body must be JSON {"asOf"?: "2024-11-01", "tenant"?: "...", "wait"?: true}'
/** The kind of job a compute is (ingest/jobs.ts): GET /v1/operations lists it beside the others. */
export const COMPUTE_JOB = "relations-compute"

/** A day parameter: YYYY-MM-DD that is a day on the calendar, or why not. */
const dayParameter = (name: string, text: string, field = name): string | QueryReply => {
  const reason = notADay(text)
  return reason === undefined ? text : refuse(400, `bad_${name}`, `${name}: ${reason}`, field)
}

/** The route's query parameters, or the 400 naming one it does not take or one given twice. */
const readParameters = (url: URL, allowed: ReadonlyArray<string>): Record<string, string> | QueryReply => {
  const unknown = refuseUnknownParameter(url, allowed, "route")
  if (unknown !== undefined) return unknown
  const repeated = refuseRepeated(url, ["tenant", ...allowed])
  if (repeated !== undefined) return repeated
  const out: Record<string, string> = {}
  for (const name of allowed) {
    const v = url.searchParams.get(name)
    if (v !== null) out[name] = v
  }
  return out
}

/** Days given as parameters, checked; undefined where not given. */
const days = (given: Record<string, string>, names: ReadonlyArray<string>): Record<string, string | undefined> | QueryReply => {
  const out: Record<string, string | undefined> = {}
  for (const name of names) {
    const text = given[name]
    if (text === undefined) continue
    const d = dayParameter(name, text)
    if (isReply(d)) return d
    out[name] = d
  }
  return out
}

const failed = (e: unknown): Effect.Effect<QueryReply> => {
  const tagged = e as { _tag?: string; message?: string; field?: string }
  const message = tagged.message ?? String(e)
  switch (tagged._tag) {
    case "BadIdentifier": return Effect.succeed(refuse(400, "bad_identifier", message, "/identifier"))
    case "ProfileNotFound": return Effect.succeed(refuse(404, "profile_not_found", message))
    case "NoRelationsYet": return Effect.succeed(refuse(404, "no_relations", message))
    case "ProfileNotScored": return Effect.succeed(refuse(404, "profile_not_scored", message))
    case "ComputeRunning": return Effect.succeed(refuse(409, "compute_running", message, undefined, { "retry-after": "30" }))
    case "PeriodInvalid": return Effect.succeed(refuse(400, "bad_period", message, tagged.field))
    case "WarehouseUnavailable": return Effect.succeed(warehouseUnavailable(message))
    default: return Effect.succeed(refuseBadParameter(e) ?? refuse(500, "relations_failed", message))
  }
}

export const relationsRoute = (options: {
  readonly warehouse: WarehouseShape
  /** How the scores are computed (CDP_RELATIONS). */
  readonly config?: RelationsConfig | undefined
  /** How identifiers are read (phone regions, mailbox rules): the pipeline's identity configuration. */
  readonly identity?: IdentityConfig | undefined
  readonly bodyIdleMs?: number | undefined
  /** The server's background jobs: a compute runs there, not on the request that asked for it. */
  readonly jobs: Jobs
}) => {
  const config = options.config ?? DEFAULT_RELATIONS_CONFIG
  const run = <A>(effect: Effect.Effect<A, unknown, Warehouse>, reply: (a: A) => QueryReply) =>
    effect.pipe(Effect.provideService(Warehouse, options.warehouse), Effect.map(reply), Effect.catch(failed))
  const startCompute = (tenant: string, asOf: string, askedBy: string) =>
    options.jobs.start(COMPUTE_JOB, tenant, { asOf },
      run(computeRelations({ tenant, asOf, config }), (result): QueryReply => ({ status: 200, body: { success: true, ...result } })), askedBy)

  const compute = (req: IncomingMessage, queryTenant: string, askedBy: string) =>
    Effect.gen(function* () {
      const text = yield* receiveAdminBody(req, 16 * 1024, options.bodyIdleMs, "a relations compute body")
      if (typeof text !== "string") return text
      const body = adminBodyOf(text, validateComputeBody, COMPUTE_BODY)
      if (isReply(body)) return body
      // The guard checked the body's tenant against the token's and filled in a bound token's.
      const tenant = body.tenant ?? queryTenant
      const asOf = body.asOf === undefined ? dayOf(Date.now()) : dayParameter("asOf", body.asOf, "/asOf")
      if (isReply(asOf)) return asOf
      const outside = notARunDay(asOf)
      if (outside !== undefined) return refuse(400, "bad_period", `asOf ${outside}`, "/asOf")
      const running = options.jobs.latest(COMPUTE_JOB, tenant)
      let job = running
      if (isRunning(running)) {
        if (running.params["asOf"] !== asOf) {
          return refuse(409, "compute_running",
            `tenant "${tenant}" is computing its relationships as of ${String(running.params["asOf"])} already (since ${running.startedAt}); ` +
              `follow it at GET ${COMPUTE_PATH}?tenant=${encodeURIComponent(tenant)} and ask again when it ends`,
            undefined, { "retry-after": "30" })
        }
      } else {
        // The daily schedule computes outside this route: its compute is refused the same way, at once.
        if (isComputing(tenant)) return yield* failed(new ComputeRunning({ tenant }))
        job = yield* startCompute(tenant, asOf, askedBy)
      }
      return body.wait === true ? yield* awaitJob(job!) : accepted(job!)
    })

  const computeStatus = (url: URL, tenant: string) => {
    const given = readParameters(url, [])
    if (isReply(given)) return Effect.succeed(given)
    const job = options.jobs.latest(COMPUTE_JOB, tenant)
    if (job !== undefined) return Effect.succeed<QueryReply>({ status: 200, body: jobView(job) })
    // None asked of this server: the latest on record, which an earlier server ran.
    return run(storedOperations({ tenant, kind: COMPUTE_JOB, limit: 1 }), ([op]): QueryReply => op !== undefined ? { status: 200, body: operationView(op) }
      : refuse(404, "no_compute", `no compute of tenant "${tenant}" was asked; POST ${COMPUTE_PATH} starts one, GET ${RELATIONS_PATH}/summary reads the stored runs`))
  }

  const summary = (url: URL, tenant: string) =>
    Effect.gen(function* () {
      const given = readParameters(url, ["from", "to", "limit"])
      if (isReply(given)) return given
      const range = days(given, ["from", "to"])
      if (isReply(range)) return range
      const limitText = given["limit"] ?? String(DEFAULT_CHANGED)
      const limit = /^\d{1,6}$/.test(limitText) ? Number(limitText) : Number.NaN
      if (!(limit >= 0 && limit <= MAX_CHANGED)) return refuse(400, "bad_limit", `?limit= must be a whole number 0-${MAX_CHANGED} (profiles listed as changed)`, "limit")
      return yield* run(tenantRead(tenant)(summarise({ tenant, from: range["from"], to: range["to"], config })), (s): QueryReply => ({
        status: 200, body: { success: true, ...s, changed: s.changed.slice(0, limit), changedTotal: s.changed.length },
      }))
    })

  const report = (url: URL, tenant: string) =>
    Effect.gen(function* () {
      const given = readParameters(url, ["from", "to", "every", "computeMissing"])
      if (isReply(given)) return given
      if (given["computeMissing"] !== undefined && given["computeMissing"] !== "false") {
        return refuse(400, "compute_missing_not_served",
          `a report over the API shows stored runs only (computing a period computes every profile): POST ${RELATIONS_PATH}/compute with the dates it needs first`, "computeMissing")
      }
      const range = days(given, ["from", "to"])
      if (isReply(range)) return range
      const every = given["every"] ?? "week"
      if (!SERIES_EVERY.includes(every as SeriesEvery)) return refuse(400, "bad_every", `?every= must be one of ${SERIES_EVERY.join(", ")}`, "every")
      return yield* run(tenantRead(tenant)(Effect.gen(function* () {
        const to = range["to"] ?? (yield* readRuns(tenant)).map((r) => r.asOf).sort().at(-1) ?? dayOf(Date.now())
        const from = range["from"] ?? dayOf(Date.parse(`${to}T00:00:00Z`) - 83 * DAY_MS)
        // Stored runs only: a GET never computes every profile (POST compute brings a date's scores).
        return yield* relationSeries({ tenant, from, to, every: every as SeriesEvery, computeMissing: false, config })
      })), (series): QueryReply => ({ status: 200, body: { success: true, ...series } }))
    })

  const explain = (url: URL, tenant: string) =>
    Effect.gen(function* () {
      let identifier: string
      try {
        identifier = decodeURIComponent(url.pathname.slice(EXPLAIN_PATH.length))
      } catch {
        return refuse(400, "bad_identifier", "the identifier is not validly URL-encoded", "/identifier")
      }
      if (identifier.trim() === "") return refuse(400, "bad_identifier", `say whose relationship: GET ${EXPLAIN_PATH}{identifier}`, "/identifier")
      const given = readParameters(url, ["asOf"])
      if (isReply(given)) return given
      const asOf = given["asOf"] === undefined ? undefined : dayParameter("asOf", given["asOf"])
      if (isReply(asOf)) return asOf
      return yield* run(tenantRead(tenant)(Effect.gen(function* () {
        const ref = yield* readIdentifier(identifier, tenant, options.identity ?? defaultIdentityConfig())
        return yield* explainRelation(tenant, yield* profileIdOf(tenant, ref), asOf)
      })), (e): QueryReply => ({ status: 200, body: { success: true, ...e } }))
    })

  return (req: IncomingMessage, principal?: { readonly tokenId: string }): Effect.Effect<QueryReply> => {
    const url = new URL(req.url ?? "/", "http://collector")
    const path = url.pathname.replace(/\/+$/, "")
    const tenant = url.searchParams.get("tenant") ?? DEFAULT_TENANT
    const method = req.method ?? "GET"
    const read = method === "GET" || method === "HEAD"
    const only = (allowed: string, then: () => Effect.Effect<QueryReply>) =>
      (allowed === "GET" ? read : method === allowed) ? then() : Effect.succeed(refuse(405, "method_not_allowed", `use ${allowed} ${path}`, undefined, { allow: allowed }))
    if (path === COMPUTE_PATH) {
      if (read) return computeStatus(url, tenant)
      if (method === "POST") {
        // ?asOf= ignored computed as of today.
        const query = refuseQueryOfBody(url, ["asOf", "wait"])
        return query !== undefined ? Effect.succeed(query) : compute(req, tenant, principal?.tokenId ?? "")
      }
      return Effect.succeed(refuse(405, "method_not_allowed", `use POST ${path} to compute, GET ${path} to follow it`, undefined, { allow: "GET, POST" }))
    }
    if (path === `${RELATIONS_PATH}/summary`) return only("GET", () => summary(url, tenant))
    if (path === `${RELATIONS_PATH}/report`) return only("GET", () => report(url, tenant))
    if (path.startsWith(EXPLAIN_PATH) || path === EXPLAIN_PATH.slice(0, -1)) return only("GET", () => explain(url, tenant))
    return Effect.succeed(refuse(404, "not_found", `no route ${path}; relations serves ${ROUTES}`))
  }
}
