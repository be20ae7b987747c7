// Operators' identity decisions on a running `cdp serve`, for holders of a token with the identity:read /
// identity:write scopes (ingest/auth.ts guards them): each is recorded, the pipeline's graph is reloaded, and a rebuild of the tenant moves
// what was stored before. `cdp identity split|separate|suggestions` go through these while the server holds the data.
//   POST /v1/identity/split                      {"identifier", "reason", "tenant"?}
//   POST /v1/identity/separate                   {"a", "b", "reason", "tenant"?}
//   GET  /v1/identity/suggestions?tenant=T&limit=N&cursor=C   (pages: ingest/pages.ts)
//   POST /v1/identity/suggestions/{id}/accept    {"reason"?, "tenant"?}
//   POST /v1/identity/suggestions/{id}/dismiss   {"reason"?, "tenant"?}
//   POST /v1/identity/rebuild                    {"tenant"?, "wait"?}   every profile recomputed with the server's rules, in the
//        background (an operation: ingest/jobs.ts); without a tenant, every tenant's, one after another
import type { IncomingMessage } from "node:http"
import { Effect, Option } from "effect"
import {
  checkReason, decideSuggestion, type DecisionResult, type IdentityConfig, openSuggestions, rebuildIdentity, type RebuildSummary, type Reload, separateIdentifiers,
  splitIdentifier, type Suggestion,
} from "../identity/index.ts"
import { observedTenants } from "../warehouse/identity.ts"
import { keyedLocks } from "../warehouse/turns.ts"
import { Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import { accepted, awaitJob, type Jobs, refuseIfRunning } from "./jobs.ts"
import { pageInMemory, type PageKey, readPage, refuseQueryOfBody, refuseUnknownParameter } from "./pages.ts"
import { Pipeline } from "./pipeline.ts"
import { type QueryReply, receiveAdminBody, refuse, refuseFailure, tenantRead, warehouseUnavailable } from "./query-route.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

export const IDENTITY_PATH = "/v1/identity/"

const BODY_LIMIT = 64 * 1024
const DEFAULT_SUGGESTIONS = 50
const MAX_SUGGESTIONS = 1000

/**
 * A suggestion's place in its list, best first: the score (0..1, in thousandths) turned into a rising whole number,
 * then the pair's id. Suggestions are computed on each request; a page starts after the last key of the page before,
 * so one accepted or dismissed meanwhile shifts nothing.
 */
const suggestionKey = (s: Suggestion): PageKey => [1000 - Math.round(s.score * 1000), s.id]

const ROUTES = "POST /v1/identity/split, POST /v1/identity/separate, GET /v1/identity/suggestions, " +
  "POST /v1/identity/suggestions/{id}/accept|dismiss, POST /v1/identity/rebuild"
/** The kind of operation a rebuild is (GET /v1/operations lists it). */
const REBUILD_JOB = "identity-rebuild"

type Body = Readonly<Record<string, unknown>>

/** A string field of the body; `required` fields must not be empty. */
const field = (body: Body, name: string, required: boolean): string | QueryReply => {
  const value = body[name]
  if (value === undefined && !required) return ""
  if (typeof value !== "string" || (required && value.trim() === "")) {
    return refuse(400, "bad_body", `"${name}" must be a ${required ? "non-empty " : ""}string`, `/${name}`)
  }
  return value
}

const tenantOf = (body: Body): string | QueryReply => {
  const tenant = body["tenant"] ?? DEFAULT_TENANT
  return typeof tenant === "string" && tenant !== "" ? tenant : refuse(400, "bad_tenant", '"tenant" must name a tenant', "/tenant")
}

export const identityRoute = (options: {
  readonly warehouse: WarehouseShape
  readonly config: IdentityConfig
  /** Rebuilds the running graph from the warehouse when no Pipeline is in context (Pipeline.reloadIdentityOf is used when one is). */
  readonly reload: Reload<unknown>
  readonly bodyIdleMs?: number
  /** The server's background operations: a rebuild runs there, not on the request. */
  readonly jobs?: Jobs | undefined
}) =>
  Effect.gen(function* () {
    // One decision of a tenant at a time (each rebuild starts from what the previous one stored, and a suggestion is
    // accepted once), and never waiting for another tenant's: a rebuild reads and writes its own tenant's rows only.
    const oneAtATime = keyedLocks()
    // With the running pipeline at hand (cdp serve), a decision reloads its own tenant's graph alone, so it waits for
    // no other tenant's reload; otherwise the reload given.
    const pipeline = yield* Effect.serviceOption(Pipeline)
    const reloadOf = (tenant: string): Reload<unknown> => Option.isSome(pipeline) ? pipeline.value.reloadIdentityOf(tenant) : options.reload

    const answer = (tenant: string, decision: Effect.Effect<DecisionResult, unknown, Warehouse>, fieldOf: (input: string) => string = () => "/identifier") =>
      decision.pipe(
        oneAtATime(tenant),
        Effect.provideService(Warehouse, options.warehouse),
        Effect.map((result): QueryReply => ({ status: 200, body: { success: true, ...result } })),
        Effect.catch((e: unknown) => Effect.succeed(failure(e, fieldOf))),
      )

    /**
     * One tenant's graph recomputed from its stored observations read again with the server's rules, under its
     * decision lock: then the running graph is reloaded from what the rebuild stored, and a second rebuild (no re-read)
     * moves what landed while the first ran, resolved by the graph it replaced.
     */
    const rebuildTenant = (tenant: string) =>
      Effect.gen(function* () {
        const first = yield* rebuildIdentity(options.config, tenant, { reread: true })
        yield* reloadOf(tenant)
        const again = yield* rebuildIdentity(options.config, tenant)
        const before = first.tenants[0]
        const after = again.tenants[0]
        return before === undefined || after === undefined ? [] : [{
          tenant, messages: after.messages, profilesBefore: before.profilesBefore, profilesAfter: after.profilesAfter,
          moved: before.moved + after.moved, seconds: before.seconds + after.seconds,
        } satisfies RebuildSummary]
      }).pipe(oneAtATime(tenant))

    const rebuild = (tenant: string | undefined) =>
      Effect.gen(function* () {
        const started = performance.now()
        const tenants = tenant === undefined ? yield* observedTenants() : [tenant]
        const summaries: Array<RebuildSummary> = []
        for (const t of tenants) summaries.push(...(yield* rebuildTenant(t)))
        return { tenants: summaries, seconds: (performance.now() - started) / 1000 }
      }).pipe(
        Effect.provideService(Warehouse, options.warehouse),
        Effect.map((result): QueryReply => ({ status: 200, body: { success: true, ...result } })),
        Effect.catch((e: unknown) => Effect.succeed(refuseFailure(e, "rebuild_failed"))),
      )

    const startRebuild = (b: Body, jobs: Jobs, viewer: string | undefined, askedBy: string) =>
      Effect.gen(function* () {
        const extra = Object.keys(b).find((k) => k !== "tenant" && k !== "wait")
        if (extra !== undefined) return refuse(400, "bad_body", `unknown field "${extra.slice(0, 80)}" (a rebuild takes tenant, wait)`, `/${extra.slice(0, 80)}`)
        if (b["wait"] !== undefined && typeof b["wait"] !== "boolean") return refuse(400, "bad_body", '"wait" must be true or false', "/wait")
        const tenant = b["tenant"] === undefined ? undefined : tenantOf(b)
        if (tenant !== undefined && typeof tenant !== "string") return tenant
        const busy = refuseIfRunning(jobs, REBUILD_JOB, "rebuild", viewer, tenant)
        if (busy !== undefined) return busy
        const job = yield* jobs.start(REBUILD_JOB, tenant, {}, rebuild(tenant), askedBy)
        return b["wait"] === true ? yield* awaitJob(job) : accepted(job)
      })

    return (req: IncomingMessage, principal?: { readonly tenant: string | undefined; readonly tokenId?: string }): Effect.Effect<QueryReply> =>
      Effect.gen(function* () {
        const url = new URL(req.url ?? "/", "http://collector")
        const path = url.pathname.replace(/\/+$/, "").slice(IDENTITY_PATH.length)
        if (path === "suggestions") {
          if (req.method !== "GET" && req.method !== "HEAD") return refuse(405, "method_not_allowed", "use GET /v1/identity/suggestions", undefined, { allow: "GET" })
          const tenant = url.searchParams.get("tenant") ?? DEFAULT_TENANT
          if (tenant === "") return refuse(400, "bad_tenant", "?tenant= must name a tenant", "tenant")
          const unknown = refuseUnknownParameter(url)
          if (unknown !== undefined) return unknown
          const page = readPage(url, { what: "suggestions", shape: "ns", fallback: DEFAULT_SUGGESTIONS, max: MAX_SUGGESTIONS })
          if ("status" in page) return page
          return yield* openSuggestions(tenant).pipe(
            tenantRead(tenant),
            Effect.provideService(Warehouse, options.warehouse),
            Effect.map((all): QueryReply => {
              const { items, nextCursor } = pageInMemory(all, page, suggestionKey)
              return { status: 200, body: { success: true, suggestions: items, nextCursor } }
            }),
            Effect.catch((e: unknown) => Effect.succeed(failure(e))),
          )
        }
        const suggestion = /^suggestions\/([^/]+)\/(accept|dismiss)$/.exec(path)
        if (path !== "split" && path !== "separate" && path !== "rebuild" && suggestion === null) {
          return refuse(404, "not_found", `no route ${req.method} ${url.pathname}; the identity routes are ${ROUTES}`)
        }
        if (req.method !== "POST") return refuse(405, "method_not_allowed", `use POST ${url.pathname}`, undefined, { allow: "POST" })
        // A decision's reason or a rebuild's wait given as ?reason= is refused, not ignored.
        const query = refuseQueryOfBody(url, path === "rebuild" ? ["wait"] : suggestion !== null ? ["reason"] : path === "split" ? ["identifier", "reason"] : ["a", "b", "reason"])
        if (query !== undefined) return query
        // Who decided, as the decision is recorded (identity_operations.actor).
        const actor = principal?.tokenId === undefined ? "api" : `token:${principal.tokenId}`
        const text = yield* receiveAdminBody(req, BODY_LIMIT, options.bodyIdleMs, "a decision's body")
        if (typeof text !== "string") return text
        let body: unknown
        try {
          body = text.trim() === "" ? {} : JSON.parse(text)
        } catch {
          return refuse(400, "bad_body", "the body must be a JSON object")
        }
        if (body === null || typeof body !== "object" || Array.isArray(body)) return refuse(400, "bad_body", "the body must be a JSON object")
        const b = body as Body
        if (path === "rebuild") {
          return options.jobs === undefined ? refuse(404, "not_served", "this server runs no background operations") : yield* startRebuild(b, options.jobs, principal?.tenant, principal?.tokenId ?? "")
        }
        const [what, takes] = suggestion !== null ? ["a suggestion's decision", ["reason", "tenant"]]
          : path === "split" ? ["a split", ["identifier", "reason", "tenant"]] : ["a separation", ["a", "b", "reason", "tenant"]]
        // A misspelt field is refused, not ignored (a "reasn" would record the evidence as the reason).
        const extra = Object.keys(b).find((k) => !takes.includes(k))
        if (extra !== undefined) return refuse(400, "bad_body", `unknown field "${extra.slice(0, 80)}" (${what} takes ${takes.join(", ")})`, `/${extra.slice(0, 80)}`)
        const tenant = tenantOf(b)
        if (typeof tenant !== "string") return tenant
        const reason = field(b, "reason", suggestion === null)
        if (typeof reason !== "string") return reason
        // Also checked by the decision itself; here before it waits for the tenant's decision lock behind a running one.
        const badReason = yield* checkReason(reason).pipe(Effect.match({ onFailure: (e) => failure(e), onSuccess: () => undefined }))
        if (badReason !== undefined) return badReason
        if (suggestion !== null) {
          let id: string
          try {
            id = decodeURIComponent(suggestion[1]!)
          } catch {
            return refuse(400, "bad_suggestion", "the suggestion id is not validly URL-encoded", "/id")
          }
          return yield* answer(tenant, decideSuggestion(tenant, id, suggestion[2] === "accept", reason, options.config, reloadOf(tenant), actor))
        }
        if (path === "split") {
          const identifier = field(b, "identifier", true)
          if (typeof identifier !== "string") return identifier
          return yield* answer(tenant, splitIdentifier(tenant, identifier, reason, options.config, reloadOf(tenant), actor))
        }
        const a = field(b, "a", true)
        if (typeof a !== "string") return a
        const second = field(b, "b", true)
        if (typeof second !== "string") return second
        return yield* answer(tenant, separateIdentifiers(tenant, a, second, reason, options.config, reloadOf(tenant), actor), (input) => (input === a ? "/a" : "/b"))
      })
  })

/** A decision's failure as its answer: what the operator named is wrong (400, 404) or the warehouse failed (5xx). */
const failure = (e: unknown, fieldOf: (input: string) => string = () => "/identifier"): QueryReply => {
  const error = e as { readonly _tag?: string; readonly message?: string; readonly input?: string }
  switch (error._tag) {
    case "BadIdentifier":
      return refuse(400, "bad_identifier", error.message ?? "not an identifier", fieldOf(error.input ?? ""))
    case "SameIdentifier":
      // A separation's b given as its a: the repeated one is b.
      return refuse(400, "bad_identifier", error.message ?? "a and b are the same identifier", "/b")
    case "BadReason":
      // identity/decisions.ts checks it for every decision, as on the data dir (cdp identity ...).
      return refuse(400, "bad_body", `"reason" ${(e as { readonly problem: string }).problem}`, "/reason")
    case "ProfileNotFound":
      return refuse(404, "profile_not_found", error.message ?? "no profile holds it")
    case "UnknownSuggestion":
      return refuse(404, "unknown_suggestion", error.message ?? "no such suggestion", "/id")
    case "SuggestionDecided":
      return refuse(409, (e as { readonly accepted?: boolean }).accepted === true ? "suggestion_already_accepted" : "suggestion_already_dismissed",
        error.message ?? "the suggestion was already decided", "/id")
    case "SuggestionKeptApart":
      return refuse(409, "suggestion_kept_apart", error.message ?? "the suggestion's profiles were separated", "/id")
    // A console's list is stale: what it shows left the list since, and the answer says why (not 404, as a typo is).
    case "SuggestionProfilesMerged":
      return refuse(409, "suggestion_profiles_merged", error.message ?? "the suggestion's profiles are now one", "/id")
    case "SuggestionReplaced":
      return refuse(409, "suggestion_replaced", error.message ?? "the suggestion's profiles have other ids now", "/id")
    case "SuggestionNotLinkable":
      return refuse(409, "suggestion_not_linkable", error.message ?? "a profile of the suggestion cannot be linked", "/id")
    case "WarehouseUnavailable":
      return warehouseUnavailable(error.message)
    default:
      return refuse(500, "decision_failed", `the decision could not be applied: ${error.message ?? String(e)}`)
  }
}
