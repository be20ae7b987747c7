// GET /v1/profiles/{identifier}?tenant=T&events=N: the unified profile of any identifier (URL-encoded "KIND:VALUE", a
// bare e-mail or +phone, or a prof_ id) for holders of the data directory's admin token, as POST /v1/query is.
// `cdp profile show` goes through it while `cdp serve` holds the embedded engine.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { defaultIdentityConfig, type IdentityConfig, readIdentifier, showProfile, type TraitPrecedence } from "../identity/index.ts"
import { Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import { presentsAdminToken, type QueryReply } from "./query-route.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

export const PROFILES_PATH = "/v1/profiles/"

/** Recent events a profile shows unless ?events= says otherwise, and the most it may ask for. */
export const DEFAULT_RECENT_EVENTS = 20
export const MAX_RECENT_EVENTS = 1000

const refuse = (status: number, rule: string, message: string, field?: string, headers?: Record<string, string>): QueryReply => ({
  status, body: { success: false, error: message, rule, ...(field === undefined ? {} : { field }) }, ...(headers === undefined ? {} : { headers }),
})

export const profileRoute = (req: IncomingMessage, options: {
  readonly adminToken: string | undefined
  readonly warehouse: WarehouseShape
  /** Called once the request presented the admin token (the connection is then trusted). */
  readonly authenticated?: (req: IncomingMessage) => void
  /** How each tenant's identifiers are read (phone regions, mailbox rules; default: identity's defaults). */
  readonly identity?: IdentityConfig
  /** How the sources of a trait are ranked (default: identity's default precedence). */
  readonly traitPrecedence?: TraitPrecedence
}): Effect.Effect<QueryReply> =>
  Effect.gen(function* () {
    if (req.method !== "GET") return refuse(405, "method_not_allowed", "use GET /v1/profiles/{identifier}", undefined, { allow: "GET" })
    if (!presentsAdminToken(req, options.adminToken)) {
      return refuse(401, "bad_admin_token", "GET /v1/profiles needs the data directory's admin token as a Bearer token")
    }
    options.authenticated?.(req)
    const url = new URL(req.url ?? "/", "http://collector")
    let identifier: string
    try {
      identifier = decodeURIComponent(url.pathname.slice(PROFILES_PATH.length))
    } catch {
      return refuse(400, "bad_identifier", "the identifier is not validly URL-encoded", "/identifier")
    }
    if (identifier.trim() === "") {
      return refuse(400, "bad_identifier", "say whose profile: GET /v1/profiles/{identifier}, e.g. /v1/profiles/email%3Aann%40x.example", "/identifier")
    }
    const tenant = url.searchParams.get("tenant") ?? DEFAULT_TENANT
    if (tenant === "") return refuse(400, "bad_tenant", "?tenant= must name a tenant", "tenant")
    const eventsParam = url.searchParams.get("events")
    const recent = eventsParam === null ? DEFAULT_RECENT_EVENTS : Number(eventsParam)
    if (eventsParam !== null && !(/^\d+$/.test(eventsParam) && recent <= MAX_RECENT_EVENTS)) {
      return refuse(400, "bad_events", `?events= must be a whole number from 0 to ${MAX_RECENT_EVENTS}`, "events")
    }
    const ref = yield* Effect.result(readIdentifier(identifier, tenant, options.identity ?? defaultIdentityConfig()))
    if (ref._tag === "Failure") return refuse(400, "bad_identifier", ref.failure.message, "/identifier")
    return yield* showProfile(tenant, ref.success, recent, options.traitPrecedence).pipe(
      Effect.provideService(Warehouse, options.warehouse),
      Effect.map((view): QueryReply => ({ status: 200, body: view })),
      Effect.catchTags({
        ProfileNotFound: (e) => Effect.succeed(refuse(404, "profile_not_found", e.message)),
        WarehouseQueryError: (e) => Effect.succeed(refuse(500, "warehouse_query_failed", e.message)),
        WarehouseUnavailable: (e) => Effect.succeed(refuse(503, "warehouse_unavailable", e.message, undefined, { "retry-after": "5" })),
      }),
    )
  })
