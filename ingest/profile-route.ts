// GET /v1/profiles/{identifier}?tenant=T&events=N: the unified profile of any identifier (URL-encoded "KIND:VALUE", a
// bare e-mail or +phone, or a prof_ id) with its consent per purpose and the first page of its timeline, and
// GET /v1/profiles/{identifier}/events?limit=&cursor=&channel=&event=&since=&until=: its timeline page by page, and
// GET /v1/profiles/{identifier}/identifiers?limit=&cursor=: its identifiers page by page (a profile may hold 100,000), for
// holders of a token with the profiles:read scope (ingest/auth.ts guards it, and masks identifiers for marketers).
// A page's cursor is bound to its list (the timeline or the identifiers), the profile and the tenant (ingest/pages.ts).
// Shapes: ingest/openapi.json.
// `cdp profile show` and `cdp profile events` go through them while `cdp serve` holds the embedded engine.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { type ConsentPolicies, DEFAULT_POLICIES, policyOf } from "../consent/index.ts"
import {
  BadIdentifierCursor, defaultIdentityConfig, type IdentifierRef, identifierLimit, type IdentityConfig, profileIdentifiers, profileIdOf, profilePhoneRuns,
  profileTimeline, readIdentifier, readTimelineQuery, TIMELINE_KEY_SHAPE, timelineList, type TraitPrecedence,
} from "../identity/index.ts"
import { apiReads, Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import { withTheirPhones } from "./mask.ts"
import { type ProfileWithConsent, readProfile as readProfileAsRead, readProfileCached } from "./profile-read.ts"
import { isReply, type QueryReply, refuse, refuseBadParameter, refuseRepeated, tenantRead, warehouseUnavailable } from "./query-route.ts"
import { bindCursor, encodePageCursor, listOf, type PageList, readCursorText, refuseUnknownParameter } from "./pages.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

export const PROFILES_PATH = "/v1/profiles/"

/** Recent events a profile shows unless ?events= says otherwise, and the most it may ask for. */
export const DEFAULT_RECENT_EVENTS = 20
const EVENTS_SUFFIX = "/events"
const IDENTIFIERS_SUFFIX = "/identifiers"
export const MAX_RECENT_EVENTS = 1000
/** The parameters of the profile routes that take one value (channel and event may repeat). */
const SINGLE_PARAMETERS = ["tenant", "events", "purpose", "limit", "cursor", "since", "until"]
/** What each route takes besides ?tenant= (the guard reads ?purpose= to mask): anything else is refused, not ignored. */
const TAKES = {
  profile: ["events", "purpose"],
  events: ["limit", "cursor", "since", "until", "channel", "event", "purpose"],
  identifiers: ["limit", "cursor", "purpose"],
} as const

/** What an identifiers cursor holds (identity/profile.ts): "i", then the last identifier's kind and value. */
const IDENTIFIERS_KEY_SHAPE = "sss"
/** The list an identifiers cursor is bound to: the identifiers of profile `profileId` of `tenant`. */
const identifiersList = (tenant: string, profileId: string): PageList => listOf("identifiers", tenant, profileId)

/**
 * The profile a page's ?cursor= is read for, when one is given: the identifier resolved to its profile (a cursor is
 * bound to the profile, whichever of its identifiers the URL names) and the cursor checked against that profile's
 * `list` (another profile's, tenant's or list's, or one not made by this API, is the 400 naming ?cursor=); its key is
 * given on as identity/ reads it (bare).
 */
const cursorForProfile = (tenant: string, ref: IdentifierRef, cursor: string | undefined, shape: string, list: (profileId: string) => PageList) =>
  Effect.gen(function* () {
    if (cursor === undefined || cursor === "") return { ref, cursor }
    const profileId = yield* profileIdOf(tenant, ref)
    const key = readCursorText(cursor, shape, list(profileId))
    if (isReply(key)) return key
    return { ref: { _tag: "profile", profileId } satisfies IdentifierRef as IdentifierRef, cursor: key === undefined ? undefined : encodePageCursor(key) }
  })

/** Longest part of a refused ?purpose= value quoted back. */
const QUOTED_PURPOSE_CHARS = 40
/** Characters that would not show in a message as themselves (controls, invisible format characters). */
const UNSEEN = /[\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/g

/** A refused value as a message may quote it: cut, JSON-quoted (controls escaped), invisible characters escaped too. */
const quoted = (text: string) =>
  JSON.stringify(text.slice(0, QUOTED_PURPOSE_CHARS)).replace(UNSEEN, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) +
  (text.length > QUOTED_PURPOSE_CHARS ? ` (cut; ${text.length} characters)` : "")

/**
 * The 400 for a ?purpose= that is not exactly one of the tenant's purposes (CDP_CONSENT): the read's purpose decides
 * what a reader without profiles:identifiers sees (ingest/mask.ts), so a near miss ("Analytics\0", "analytics") is
 * refused on every page and for every reader, before anything is read, rather than answered as if it were valid.
 */
const refuseUnknownPurpose = (url: URL, tenant: string, policies: ConsentPolicies): QueryReply | undefined => {
  const purpose = url.searchParams.get("purpose")
  if (purpose === null) return undefined
  const known = Object.keys(policyOf(policies, tenant).purposes)
  if (known.includes(purpose)) return undefined
  return refuse(400, "bad_purpose",
    `?purpose= must name one of the purposes of tenant "${tenant}", exactly as written: ${known.join(", ")}; ` +
      (purpose === "" ? "it is empty" : `${quoted(purpose)} is not one`), "purpose")
}

export const profileRoute = (req: IncomingMessage, options: {
  readonly warehouse: WarehouseShape
  /** How each tenant's identifiers are read (phone regions, mailbox rules; default: identity's defaults). */
  readonly identity?: IdentityConfig
  /** How the sources of a trait are ranked (default: identity's default precedence). */
  readonly traitPrecedence?: TraitPrecedence
  /** Each tenant's consent policy (which purposes a profile shows). */
  readonly policies?: ConsentPolicies | undefined
}): Effect.Effect<QueryReply> =>
  Effect.gen(function* () {
    if (req.method !== "GET" && req.method !== "HEAD") return refuse(405, "method_not_allowed", "use GET /v1/profiles/{identifier}", undefined, { allow: "GET" })
    const url = new URL(req.url ?? "/", "http://collector")
    const rest = url.pathname.slice(PROFILES_PATH.length).replace(/\/+$/, "")
    const timeline = rest.endsWith(EVENTS_SUFFIX)
    const identifiersPage = rest.endsWith(IDENTIFIERS_SUFFIX)
    let identifier: string
    try {
      identifier = decodeURIComponent(timeline ? rest.slice(0, -EVENTS_SUFFIX.length) : identifiersPage ? rest.slice(0, -IDENTIFIERS_SUFFIX.length) : rest)
    } catch {
      return refuse(400, "bad_identifier", "the identifier is not validly URL-encoded", "/identifier")
    }
    if (identifier.trim() === "") {
      return refuse(400, "bad_identifier", "say whose profile: GET /v1/profiles/{identifier}, e.g. /v1/profiles/email%3Aann%40x.example", "/identifier")
    }
    // Each of these takes one value: a second (?limit=5&limit=5000) is refused rather than silently dropped.
    const repeated = refuseRepeated(url, SINGLE_PARAMETERS)
    if (repeated !== undefined) return repeated
    const takes: ReadonlyArray<string> = TAKES[timeline ? "events" : identifiersPage ? "identifiers" : "profile"]
    const unknown = refuseUnknownParameter(url, takes, "route")
    if (unknown !== undefined) return unknown
    const tenant = url.searchParams.get("tenant") ?? DEFAULT_TENANT
    if (tenant === "") return refuse(400, "bad_tenant", "?tenant= must name a tenant", "tenant")
    const badPurpose = refuseUnknownPurpose(url, tenant, options.policies ?? DEFAULT_POLICIES)
    if (badPurpose !== undefined) return badPurpose
    const failures = {
      BadIdentifier: (e: { readonly message: string }) => Effect.succeed(refuse(400, "bad_identifier", e.message, "/identifier")),
      ProfileNotFound: (e: { readonly message: string }) => Effect.succeed(refuse(404, "profile_not_found", e.message)),
      // A value the engine could not bind is the request's (400 naming it); any other query error is ours.
      WarehouseQueryError: (e: { readonly message: string }) => Effect.succeed(refuseBadParameter(e) ?? refuse(500, "warehouse_query_failed", e.message)),
      WarehouseUnavailable: (e: { readonly message: string }) => Effect.succeed(warehouseUnavailable(e.message)),
    }
    // Should the guard mask an answer (ingest/mask.ts), the person's phones among its digit runs are found in the
    // warehouse, among all their identifiers; a failed lookup counts every run as theirs.
    const maskable = <B extends { readonly profileId: string }>(body: B): B =>
      withTheirPhones(body, (runs) =>
        profilePhoneRuns(tenant, body.profileId, runs).pipe(
          apiReads,
          Effect.provideService(Warehouse, options.warehouse),
          Effect.orElseSucceed((): ReadonlySet<string> => new Set(runs)),
        ))
    const badParameter = (e: { readonly message: string; readonly field: string }) => Effect.succeed(refuse(400, `bad_${e.field}`, e.message, e.field))
    const list = (name: string) => (url.searchParams.has(name) ? url.searchParams.getAll(name) : undefined)
    const param = (name: string) => url.searchParams.get(name) ?? undefined
    if (timeline) {
      return yield* Effect.gen(function* () {
        const q = yield* readTimelineQuery({
          limit: param("limit"), cursor: param("cursor"), channel: list("channel"), event: list("event"), since: param("since"), until: param("until"),
        })
        const ref = yield* readIdentifier(identifier, tenant, options.identity ?? defaultIdentityConfig())
        const bound = yield* cursorForProfile(tenant, ref, q.cursor, TIMELINE_KEY_SHAPE, (id) => timelineList(tenant, id))
        if (isReply(bound)) return bound
        return { status: 200, body: maskable(yield* profileTimeline(tenant, bound.ref, q)) } satisfies QueryReply
      }).pipe(tenantRead(tenant), Effect.provideService(Warehouse, options.warehouse), Effect.catchTags({ ...failures, BadTimelineQuery: badParameter }))
    }
    if (identifiersPage) {
      return yield* Effect.gen(function* () {
        const limit = identifierLimit(param("limit"))
        if (limit instanceof BadIdentifierCursor) return yield* Effect.fail(limit)
        const ref = yield* readIdentifier(identifier, tenant, options.identity ?? defaultIdentityConfig())
        const bound = yield* cursorForProfile(tenant, ref, param("cursor"), IDENTIFIERS_KEY_SHAPE, (id) => identifiersList(tenant, id))
        if (isReply(bound)) return bound
        const page = yield* profileIdentifiers(tenant, bound.ref, limit, bound.cursor)
        return {
          status: 200, body: maskable({ ...page, nextCursor: bindCursor(page.nextCursor, IDENTIFIERS_KEY_SHAPE, identifiersList(tenant, page.profileId)) }),
        } satisfies QueryReply
      }).pipe(tenantRead(tenant), Effect.provideService(Warehouse, options.warehouse), Effect.catchTags({ ...failures, BadIdentifierCursor: badParameter }))
    }
    const eventsParam = url.searchParams.get("events")
    const recent = eventsParam === null ? DEFAULT_RECENT_EVENTS : Number(eventsParam)
    if (eventsParam !== null && !(/^\d+$/.test(eventsParam) && recent <= MAX_RECENT_EVENTS)) {
      return refuse(400, "bad_events", `?events= must be a whole number from 0 to ${MAX_RECENT_EVENTS}`, "events")
    }
    return yield* readProfileCached({
      warehouse: options.warehouse, tenant, identifier, recent, identity: options.identity ?? defaultIdentityConfig(),
      precedence: options.traitPrecedence, policies: options.policies,
      // A miss's statements run on the warehouse's reads connection (apiReads), in the tenant's turn.
      missTurn: tenantRead(tenant),
    }).pipe(
      Effect.map((body): QueryReply => ({ status: 200, body: maskable(withBoundCursors(tenant, body)) })),
      Effect.catchTags(failures),
    )
  })

/** A profile answer with its first pages' cursors bound as their own routes bind theirs (identity/ gives them bare). */
const withBoundCursors = (tenant: string, body: ProfileWithConsent): ProfileWithConsent => ({
  ...body,
  identifiersNextCursor: bindCursor(body.identifiersNextCursor, IDENTIFIERS_KEY_SHAPE, identifiersList(tenant, body.profileId)),
  timeline: { ...body.timeline, nextCursor: bindCursor(body.timeline.nextCursor, TIMELINE_KEY_SHAPE, timelineList(tenant, body.profileId)) },
})

/** readProfile (ingest/profile-read.ts) with the cursors the route answers: `cdp profile show` on the data dir prints the same. */
export const readProfile = (...args: Parameters<typeof readProfileAsRead>) =>
  Effect.map(readProfileAsRead(...args), (body) => withBoundCursors(args[0], body))

export type { ProfileWithConsent }
