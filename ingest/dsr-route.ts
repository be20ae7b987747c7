// Data-subject requests over HTTP for tokens with the dsr:read / dsr:write scopes (ingest/auth.ts guards them), as
// `cdp dsr submit|status|list` does on the data directory itself; the CLI goes through these while `cdp serve` holds it.
//   POST /v1/dsr        {"type": "erasure", "identifier": "email:ann@x.example", "tenant"?: "acme", "set"?: {"name": "Ann"},
//                       "lift"?: true (a restriction lifted)}
//                       runs the request at once: 201 with it (completed or failed); 400 naming the field
//   GET  /v1/dsr/{id}   the request with its audit trail; 404 when unknown
//   GET  /v1/dsr        the requests, oldest first, a page at a time (?tenant=T, ?overdue=1, ?limit=, ?cursor=)
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { type AuditSigner, auditSigner } from "../consent/audit.ts"
import { DsrInvalid, type DsrEnv, DsrNotFound, DsrProfileNotFound, failInterrupted, listDsr, requestListView, requestStatus, requestView, submitRequest } from "../consent/dsr.ts"
import { Keys, loadSecret, makeKeys } from "../consent/keys.ts"
import { type ConsentPolicies, ConsentPoliciesRef, DEFAULT_POLICIES } from "../consent/purposes.ts"
import type { NormaliseOptions } from "../identity/normalise.ts"
import { RunningGraph } from "../identity/stage.ts"
import type { ObjectStore } from "./objectstore.ts"
import { keyedPermits, TurnsPerKey } from "../warehouse/turns.ts"
import { apiReads, type Warehouse } from "../warehouse/warehouse.ts"
import { pageOfBytes, readPage, refuseQueryOfBody, refuseUnknownParameter } from "./pages.ts"
import { type QueryReply, receiveAdminBody, refuse, refuseFailure, refuseRepeated } from "./query-route.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

export const DSR_PATH = "/v1/dsr"

const DSR_BODY_LIMIT = 64 * 1024
/** Requests a list page may hold (GET /v1/dsr?limit=). */
export const MAX_DSR_PAGE = 1000

/**
 * Requests of one tenant run at once; more are refused 429 (nothing recorded: submit again). Requests share one
 * engine, and 200 of one tenant posted together made another tenant's single request wait 13 minutes.
 */
export const MAX_RUNNING_DSR_PER_TENANT = 2

/**
 * Requests of all tenants that run at once; more are refused 429 the same way. Without it, a hundred tenants with two
 * requests each would run two hundred together on the one engine, and each would take minutes.
 */
export const MAX_RUNNING_DSR = 8
/** The key of the server-wide count (no tenant name holds "*"). */
const EVERY_TENANT = "*"

/**
 * Per tenant, an erasure runs alone and other rights beside each other: an erasure rewrites the tenant's archive
 * objects and manifests from its own reading of them and removes the person's bundles, so two erasures at once put
 * back what the other removed (seen: both failed, one person left in the archive), and an access bundle written
 * during an erasure could outlive it. The wait is short: at most MAX_RUNNING_DSR_PER_TENANT requests are let in.
 */
const tenantTurns = () => {
  const take = keyedPermits(MAX_RUNNING_DSR_PER_TENANT)
  return (tenant: string, alone: boolean) => take(tenant, alone ? MAX_RUNNING_DSR_PER_TENANT : 1)
}


const BODY_SHAPE = 'the body must be JSON {"type": "...", "identifier": "KIND:VALUE", "tenant"?: "...", "set"?: {"trait": "value"}}'

const BODY_FIELDS: ReadonlyArray<string> = ["type", "identifier", "tenant", "set", "lift"]

const parseBody = (text: string): { type: string; identifier: string; tenant: string; set: Record<string, string>; lift: boolean } | QueryReply => {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return refuse(400, "bad_body", BODY_SHAPE)
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) return refuse(400, "bad_body", BODY_SHAPE)
  // A field not taken is named, not ignored: "Lift" for "lift" would run a restriction instead of lifting one.
  const unknown = Object.keys(body).find((k) => !BODY_FIELDS.includes(k))
  if (unknown !== undefined) return refuse(400, "bad_body", `unknown field "${unknown.slice(0, 40)}" (a request takes ${BODY_FIELDS.join(", ")})`, `/${unknown.slice(0, 40)}`)
  const { type, identifier, tenant, set, lift } = body as Record<string, unknown>
  if (typeof type !== "string") return refuse(400, "bad_body", `"type" must be a string; ${BODY_SHAPE}`, "/type")
  if (typeof identifier !== "string") return refuse(400, "bad_body", `"identifier" must be a string (KIND:VALUE); ${BODY_SHAPE}`, "/identifier")
  if (tenant !== undefined && typeof tenant !== "string") return refuse(400, "bad_body", '"tenant" must be a string', "/tenant")
  if (set !== undefined && (set === null || typeof set !== "object" || Array.isArray(set) || Object.values(set).some((v) => typeof v !== "string"))) {
    return refuse(400, "bad_body", '"set" must be an object of trait -> value (strings)', "/set")
  }
  if (lift !== undefined && typeof lift !== "boolean") return refuse(400, "bad_body", '"lift" must be true or false', "/lift")
  return { type, identifier, tenant: tenant ?? DEFAULT_TENANT, set: (set ?? {}) as Record<string, string>, lift: lift === true }
}

const failure = (e: unknown): QueryReply => refuseFailure(e, "dsr_failed")

/**
 * The route, built once when the collector starts: it loads the keyed-hash secret from the data directory, signs with
 * the audit key the server read once (`signer`), and fails requests an earlier process left unfinished.
 */
export const makeDsrRoute = (options: {
  readonly dataDir: string
  /**
   * The data directory's audit signing key as `cdp serve` read it for the access log and the audit routes; read here
   * only when not given (a fourth read of the key file at start-up otherwise).
   */
  readonly signer?: AuditSigner | undefined
  readonly normalise?: NormaliseOptions | undefined
  /** Each tenant's consent policy (CDP_CONSENT): which purposes an objection refuses, what access reports. */
  readonly policies?: ConsentPolicies | undefined
  readonly bodyIdleMs?: number
  /**
   * The running pipeline's identity graph, which an erasure takes the person out of (consent/erasure.ts): otherwise the
   * graph in memory still holds their identifiers, and its next snapshot would store them again.
   */
  readonly graph?: RunningGraph["Service"] | undefined
}) =>
  Effect.gen(function* () {
    const keys = makeKeys(yield* loadSecret(options.dataDir))
    const env: DsrEnv = { signer: options.signer ?? (yield* auditSigner(options.dataDir)), normalise: options.normalise }
    const context = yield* Effect.context<Warehouse | ObjectStore>()
    const graph = options.graph
    const run = <A>(effect: Effect.Effect<A, unknown, Warehouse | ObjectStore | Keys>) =>
      effect.pipe(graph === undefined ? (e) => e : Effect.provideService(RunningGraph, graph), Effect.provideService(Keys, keys), Effect.provideService(ConsentPoliciesRef, options.policies ?? DEFAULT_POLICIES), Effect.provideContext(context))
    yield* run(failInterrupted(env))
    const running = new TurnsPerKey()
    const turn = tenantTurns()

    /**
     * `caller`: the token's tenant, when it is bound to one (a request of another tenant is answered as an unknown one), and
     * its id and role, which a submitted request's own trail keeps.
     */
    return (req: IncomingMessage, caller?: { readonly tenant: string | undefined; readonly tokenId?: string; readonly role?: string }): Effect.Effect<QueryReply> =>
      Effect.gen(function* () {
        const url = new URL(req.url ?? "/", "http://collector")
        const path = url.pathname.replace(/\/+$/, "")
        if (path === DSR_PATH && req.method === "POST") {
          // ?lift=true or ?set= ignored would run another request than the one asked for.
          const query = refuseQueryOfBody(url, ["type", "identifier", "set", "lift"])
          if (query !== undefined) return query
          const text = yield* receiveAdminBody(req, DSR_BODY_LIMIT, options.bodyIdleMs, "a request body")
          if (typeof text !== "string") return text
          const input = parseBody(text)
          if ("status" in input) return input
          const submittedBy = caller?.tokenId === undefined || caller.role === undefined ? undefined : { tokenId: caller.tokenId, role: caller.role }
          if (!running.take(input.tenant, MAX_RUNNING_DSR_PER_TENANT)) {
            return refuse(429, "dsr_busy", `tenant ${input.tenant} already has ${MAX_RUNNING_DSR_PER_TENANT} data-subject requests running ` +
              "(the limit per tenant); this one was not recorded: submit it again when one finishes", undefined, { "retry-after": "5" })
          }
          if (!running.take(EVERY_TENANT, MAX_RUNNING_DSR)) {
            running.release(input.tenant)
            return refuse(429, "dsr_busy", `this server already runs ${MAX_RUNNING_DSR} data-subject requests of all tenants ` +
              "(the limit across tenants); this one was not recorded: submit it again when one finishes", undefined, { "retry-after": "5" })
          }
          const release = Effect.sync(() => {
            running.release(input.tenant)
            running.release(EVERY_TENANT)
          })
          return yield* run(submitRequest(env, { ...input, submittedBy })).pipe(
            turn(input.tenant, input.type === "erasure"),
            Effect.ensuring(release),
            Effect.map((r): QueryReply => ({ status: 201, body: { success: true, request: requestView(r) } })),
            Effect.catch((e) => Effect.succeed(e instanceof DsrInvalid ? refuse(400, "bad_request", e.message, `/${e.field}`)
              : e instanceof DsrProfileNotFound ? refuse(404, "profile_not_found", e.message, "/identifier") : failure(e))),
          )
        }
        // Allow names what this path serves: a request's own path is read only.
        if (req.method !== "GET" && req.method !== "HEAD") {
          return path === DSR_PATH
            ? refuse(405, "method_not_allowed", `use POST ${DSR_PATH} or GET ${DSR_PATH}`, undefined, { allow: "GET, POST" })
            : refuse(405, "method_not_allowed", `use GET ${DSR_PATH}/{id} (POST ${DSR_PATH} submits a request)`, undefined, { allow: "GET" })
        }
        if (path === DSR_PATH) {
          // A filter it does not have (?status=, ?since=) is named, not ignored: the list would answer every request.
          const unknown = refuseUnknownParameter(url, ["overdue", "limit", "cursor"])
          if (unknown !== undefined) return unknown
          const tenant = url.searchParams.get("tenant") ?? undefined
          const repeated = refuseRepeated(url, ["overdue"])
          if (repeated !== undefined) return repeated
          const overdue = url.searchParams.get("overdue")
          if (overdue !== null && !["0", "1", "true", "false"].includes(overdue)) return refuse(400, "bad_overdue", "?overdue= must be 1 or 0", "overdue")
          const page = readPage(url, { what: "requests", shape: "ns", fallback: 100, max: MAX_DSR_PAGE })
          if ("status" in page) return page
          const after = page.after === undefined ? undefined : { receivedAtMs: page.after[0] as number, requestId: page.after[1] as string }
          // On the warehouse's reads connection (apiReads), beside the pipeline's landing; as the status below, it writes nothing.
          return yield* run(apiReads(listDsr({ tenant, overdue: overdue === "1" || overdue === "true", page: { after, limit: page.limit + 1 } }))).pipe(
            Effect.map((rs): QueryReply => {
              // A rectification's details name every trait it set (up to a body's 64 KB): a page ends before about 1 MB
              // of requests as listed (pageOfBytes), its cursor going on from the last one shown.
              const { items, nextCursor } = pageOfBytes(rs.map((r) => requestListView(r)), page, (v) => [Date.parse(v.receivedAt!), v.id])
              return { status: 200, body: { success: true, requests: items, nextCursor } }
            }),
            Effect.catch((e) => Effect.succeed(failure(e))),
          )
        }
        const id = path.slice(DSR_PATH.length + 1)
        if (!/^dsr_[A-Za-z0-9_-]{1,64}$/.test(id)) return refuse(400, "bad_request_id", "a request id looks like dsr_...", "/id")
        const unknown = refuseUnknownParameter(url, [], "route")
        if (unknown !== undefined) return unknown
        // Another tenant's request is answered as one nobody has (a 403 told a bound token that the id exists), and
        // costs what one nobody has costs: it is looked up by the token's tenant and id, so its row and trail are not read.
        // A token bound to none that names a tenant (/v1/tenants/T/dsr/ID, ?tenant=T) is answered for that tenant alone.
        const notFound = () => refuse(404, "dsr_not_found", new DsrNotFound({ requestId: id }).message)
        return yield* run(apiReads(requestStatus(id, caller?.tenant ?? url.searchParams.get("tenant") ?? undefined))).pipe(
          Effect.map((s): QueryReply => ({ status: 200, body: { success: true, request: requestView(s.request), trail: s.trail } })),
          Effect.catch((e) => Effect.succeed(e instanceof DsrNotFound ? notFound() : failure(e))),
        )
      })
  })

export type DsrRoute = Effect.Success<ReturnType<typeof makeDsrRoute>>
