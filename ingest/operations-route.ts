// Operations an admin runs on a live server, in its background (ingest/jobs.ts), and follows by id. While `cdp serve`
// holds the data directory, `cdp replay`, `cdp sentiment rescore` and `cdp retention apply` go through them, so
// none of them needs the server stopped:
//   POST /v1/operations/replay    {"from", "to", "source"?, "tenant"?, "wait"?}   archived raw messages through this server's pipeline again
//   POST /v1/operations/rescore   {"since", "tenant"?, "wait"?}                  stored texts scored again with the current model
//   POST /v1/operations/retention {"wait"?}                                       CDP_RETENTION applied now (to every tenant)
//   GET  /v1/operations                                                           the operations servers ran over this warehouse, newest first (?limit=, ?cursor=)
//   GET  /v1/operations/{id}                                                      one of them: running, done with what it did, failed with why, or interrupted
// A POST answers 202 with where to follow the operation (with "wait": true, what it did when it ends). One operation
// of a kind runs at a time per tenant (one over every tenant holds them all): another while one runs is 409 naming it;
// another tenant's runs beside it. Relationship computes are listed here too.
import type { IncomingMessage } from "node:http"
import type { ValidateFunction } from "ajv"
import { Effect } from "effect"
import { ObjectStore, type ObjectStoreShape } from "./objectstore.ts"
import { Pipeline, type PipelineShape } from "./pipeline.ts"
import { parseReplayRange, replayArchive, replayIncomplete } from "./replay.ts"
import { applyStoredRetention } from "./retention.ts"
import { accepted, awaitJob, type Jobs, jobView, OPERATIONS_PATH, operationView, refuseIfRunning } from "./jobs.ts"
import { pageOf, readPage, refuseQueryOfBody, refuseUnknownParameter } from "./pages.ts"
import { adminBodyOf, isReply, type QueryReply, receiveAdminBody, refuse, refuseFailure, refuseRepeated } from "./query-route.ts"
import { compiledOnFirstUse, operationBodySchemas } from "./schemas.ts"
import { RAW_PARSERS } from "./sources/index.ts"
import type { Principal } from "./auth.ts"
import type { AuditSigner } from "../consent/audit.ts"
import type { SentimentConfig } from "../sentiment/index.ts"
import { dateOffTheCalendar } from "../warehouse/calendar.ts"
import { type OperationRecord, storedOperation, storedOperations } from "../warehouse/operations.ts"
import type { RetentionPolicy } from "../warehouse/retention.ts"
import { apiReads, Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"

const KINDS = ["replay", "rescore", "retention"] as const
type Kind = (typeof KINDS)[number]
/** What each operation's body takes besides "tenant" (a query parameter for one of them is refused, not ignored). */
const FIELDS: Record<Kind, ReadonlyArray<string>> = { replay: ["from", "to", "source", "wait"], rescore: ["since", "wait"], retention: ["wait"] }
const BODIES: Record<Kind, string> = {
  replay: 'the body must be JSON {"from": "2024-09-01", "to": "2024-09-30", "source"?: "segment", "tenant"?: "...", "wait"?: true}',
  rescore: 'the body must be JSON {"since": "2024-09-01", "tenant"?: "...", "wait"?: true}',
  retention: 'the body must be JSON {"wait"?: true} (retention applies to every tenant)',
}
type Body = { from?: string; to?: string; source?: string; since?: string; tenant?: string; wait?: boolean }
const validators = Object.fromEntries(KINDS.map((k) => [k, compiledOnFirstUse<Body>(operationBodySchemas[k])])) as Record<Kind, ValidateFunction<Body>>
/** Operations a page of the list shows at most, and by default. */
const LIST_MAX = 100
const LIST_DEFAULT = 50

export const operationsRoute = (options: {
  readonly warehouse: WarehouseShape
  readonly pipeline: PipelineShape
  readonly objects: ObjectStoreShape
  readonly jobs: Jobs
  /** How texts are scored (CDP_SENTIMENT): the pipeline's own configuration. */
  readonly sentiment?: SentimentConfig | undefined
  /** CDP_RETENTION, as the server applies it daily. */
  readonly retention?: RetentionPolicy | undefined
  /** Where a retention pass that changed something is recorded (the data dir's signed audit log). */
  readonly audit?: AuditSigner | undefined
  /** CDP_MAX_TOKENS: the stopped tokens a retention pass leaves each tenant. */
  readonly maxTokens?: number | undefined
  readonly bodyIdleMs?: number | undefined
}) => {
  const finish = <A>(effect: Effect.Effect<A, unknown, Warehouse | Pipeline | ObjectStore>, rule: string, reply: (a: A) => Record<string, unknown>) =>
    effect.pipe(
      Effect.provideService(Warehouse, options.warehouse),
      Effect.provideService(Pipeline, options.pipeline),
      Effect.provideService(ObjectStore, options.objects),
      Effect.map((a): QueryReply => ({ status: 200, body: { success: true, ...reply(a) } })),
      Effect.catch((e) => Effect.succeed(refuseFailure(e, rule))),
    )

  /** The operation a checked body asks for, or the 400 naming what is wrong with it. */
  const planned = (kind: Kind, body: Body): { readonly params: Record<string, unknown>; readonly work: Effect.Effect<QueryReply> } | QueryReply => {
    if (kind === "replay") {
      if (body.source !== undefined && !RAW_PARSERS.has(body.source)) {
        return refuse(400, "unknown_source", `source "${body.source}" cannot be replayed; sources: ${[...RAW_PARSERS.keys()].join(", ")}`, "/source")
      }
      const range = Effect.runSync(Effect.result(parseReplayRange(body.from ?? "", body.to ?? "", { from: "from", to: "to" })))
      // The reason starts with the field it is about ("to (...) must be after from (...)" is about "to").
      if (range._tag === "Failure") return refuse(400, "bad_range", range.failure.message, range.failure.reason.startsWith("to") ? "/to" : "/from")
      const { from, to } = range.success
      return {
        params: { from: body.from, to: body.to, ...(body.source === undefined ? {} : { source: body.source }) },
        work: finish(replayArchive({ from, to, ...(body.source === undefined ? {} : { source: body.source }), ...(body.tenant === undefined ? {} : { tenant: body.tenant }) }),
          "replay_failed", (s) => ({ ...s, ...(replayIncomplete(s) === undefined ? {} : { incomplete: replayIncomplete(s)!.message }) })),
      }
    }
    if (kind === "rescore") {
      const since = (body.since ?? "").trim()
      const off = dateOffTheCalendar(since)
      const ms = Date.parse(since)
      if (off !== undefined || Number.isNaN(ms)) {
        return refuse(400, "bad_since", `since: ${off?.message ?? `must be a date (2024-09-01) or an ISO-8601 date-time (got ${JSON.stringify(since.slice(0, 40))})`}`, "/since")
      }
      return {
        params: { since },
        // The scorer (and its lexicons) loads with the first rescore, not with every server.
        work: finish(Effect.flatMap(Effect.promise(() => import("../sentiment/index.ts")), ({ rescore }) =>
          rescore({ since: new Date(ms), ...(options.sentiment === undefined ? {} : { config: options.sentiment }), ...(body.tenant === undefined ? {} : { tenant: body.tenant }) })),
        "rescore_failed", (s) => ({ ...s })),
      }
    }
    const policy = options.retention
    if (policy === undefined) return refuse(404, "not_served", "this server applies no retention policy")
    return {
      params: {},
      work: finish(applyStoredRetention(policy, { ...(options.audit === undefined ? {} : { audit: options.audit }), maxTokens: options.maxTokens }), "retention_failed", (r) => ({ policy, tablesChanged: r.tables, archiveDaysRemoved: r.archiveDays, tokensDropped: r.tokens })),
    }
  }

  /** A bound token sees its tenant's operations only; those of every tenant are an unbound token's. */
  const visible = (op: { readonly tenant: string | undefined }, principal: Principal) => principal.tenant === undefined || op.tenant === principal.tenant

  /** An operation as this server knows it now (its own, running or ended), else as the warehouse recorded it. */
  const current = (op: OperationRecord) => {
    const live = options.jobs.get(op.id)
    return live === undefined ? operationView(op) : jobView(live)
  }
  // The list's and one operation's reads (GET only), on the warehouse's reads connection beside the pipeline's landing.
  const read = <A>(effect: Effect.Effect<A, unknown, Warehouse>, answer: (a: A) => QueryReply) =>
    effect.pipe(
      apiReads,
      Effect.provideService(Warehouse, options.warehouse),
      Effect.map(answer),
      Effect.catch((e) => Effect.succeed(refuseFailure(e, "operations_read_failed"))),
    )

  const start = (req: IncomingMessage, kind: Kind, principal: Principal) =>
    Effect.gen(function* () {
      const query = refuseQueryOfBody(new URL(req.url ?? "/", "http://collector"), FIELDS[kind])
      if (query !== undefined) return query
      const text = yield* receiveAdminBody(req, 16 * 1024, options.bodyIdleMs, `a ${kind} body`)
      if (typeof text !== "string") return text
      const body = adminBodyOf(text, validators[kind], BODIES[kind])
      if (isReply(body)) return body
      if (kind === "retention" && body.tenant !== undefined) {
        return principal.tenant !== undefined
          ? refuse(403, "tenant_forbidden", `retention applies to every tenant: it needs a token bound to no tenant (this one is bound to "${principal.tenant}")`)
          : refuse(400, "bad_body", "retention applies to every tenant: name none", "/tenant")
      }
      // A wrong body is told as such first: a 409 would have it sent again, as wrong, when what runs ends.
      const plan = planned(kind, body)
      if (isReply(plan)) return plan
      const busy = refuseIfRunning(options.jobs, kind, kind, principal.tenant, body.tenant)
      if (busy !== undefined) return busy
      const job = yield* options.jobs.start(kind, body.tenant, plan.params, plan.work, principal.tokenId)
      return body.wait === true ? yield* awaitJob(job) : accepted(job)
    })

  const list = (url: URL, principal: Principal): Effect.Effect<QueryReply> => {
    const unknown = refuseUnknownParameter(url, ["limit", "cursor"], "list")
    if (unknown !== undefined) return Effect.succeed(unknown)
    const repeated = refuseRepeated(url, ["tenant"])
    if (repeated !== undefined) return Effect.succeed(repeated)
    const page = readPage(url, { what: "operations", shape: "ns", fallback: LIST_DEFAULT, max: LIST_MAX })
    if (isReply(page)) return Effect.succeed(page)
    // A bound token's list is its tenant's (the guard refused any other ?tenant=); an unbound token's, all or ?tenant='s.
    const tenant = principal.tenant ?? url.searchParams.get("tenant") ?? undefined
    const before = page.after === undefined ? undefined : [page.after[0] as number, page.after[1] as string] as const
    return read(storedOperations({ tenant, limit: page.limit + 1, before }), (ops) => {
      const { items, nextCursor } = pageOf(ops, page, (op) => [Date.parse(op.startedAt), op.id])
      return { status: 200, body: { success: true, operations: items.map(current), nextCursor } }
    })
  }

  const one = (id: string, principal: Principal): Effect.Effect<QueryReply> => {
    // Another tenant's operation is not told apart from none: its id says nothing to this token.
    const missing = refuse(404, "operation_not_found", `no operation ${JSON.stringify(id.slice(0, 80))}; GET ${OPERATIONS_PATH} lists them`)
    const live = options.jobs.get(id)
    if (live !== undefined) return Effect.succeed(visible(live, principal) ? { status: 200, body: jobView(live) } : missing)
    return read(storedOperation(id), (op) => op === undefined || !visible(op, principal) ? missing : { status: 200, body: operationView(op) })
  }

  return (req: IncomingMessage, principal: Principal): Effect.Effect<QueryReply> => {
    const url = new URL(req.url ?? "/", "http://collector")
    const path = url.pathname.replace(/\/+$/, "")
    const method = req.method ?? "GET"
    const reading = method === "GET" || method === "HEAD"
    const rest = path.slice(OPERATIONS_PATH.length + 1)
    if (path === OPERATIONS_PATH) {
      return reading ? list(url, principal) : Effect.succeed(refuse(405, "method_not_allowed", `use GET ${OPERATIONS_PATH} to list; POST ${OPERATIONS_PATH}/{${KINDS.join("|")}} starts one`, undefined, { allow: "GET" }))
    }
    if (KINDS.includes(rest as Kind)) {
      return method === "POST" ? start(req, rest as Kind, principal)
        : Effect.succeed(refuse(405, "method_not_allowed", `use POST ${path} to start a ${rest}`, undefined, { allow: "POST" }))
    }
    if (/^op_[A-Za-z0-9_-]+$/.test(rest)) {
      if (!reading) return Effect.succeed(refuse(405, "method_not_allowed", `use GET ${path}`, undefined, { allow: "GET" }))
      const unknown = refuseUnknownParameter(url, [], "route")
      return unknown === undefined ? one(rest, principal) : Effect.succeed(unknown)
    }
    return Effect.succeed(refuse(404, "not_found",
      `no route ${path}; operations are served at GET ${OPERATIONS_PATH}, POST ${OPERATIONS_PATH}/{${KINDS.join("|")}} and GET ${OPERATIONS_PATH}/{id}`))
  }
}
