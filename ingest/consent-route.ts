// GET /v1/consent/{identifier}?tenant=T: a person's consent per purpose with its history and proofs, for holders of
// a token with the consent:read scope (ingest/auth.ts guards it). `cdp consent show` goes through it while `cdp serve`
// holds the embedded engine. It takes ?tenant=, and ?limit= and ?cursor= for the history's pages: the state is consent
// now, for every purpose, read from the whole ledger; the history is a page of it, newest first (a person's ledger can
// hold tens of thousands of entries, so the engine pages it and only the page is read). A history cursor pages only the
// history of the person (profile) and tenant it was given for (ingest/pages.ts).
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { type ConsentPolicies, ConsentPoliciesRef, type ConsentView, DEFAULT_POLICIES, showConsentPage } from "../consent/index.ts"
import { defaultIdentityConfig, type IdentifierRef, type IdentityConfig, profileIdOf, readIdentifier } from "../identity/index.ts"
import { Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import { LATEST_MS } from "../warehouse/calendar.ts"
import { encodePageCursor, fittingBytes, listOf, type PageKey, type PageList, type PageRequest, readPage, refuseUnknownParameter } from "./pages.ts"
import { type QueryReply, refuse, refuseBadParameter, tenantRead, warehouseUnavailable } from "./query-route.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

export const CONSENT_PATH = "/v1/consent/"

/**
 * What the route answers instead of what another parameter asks: the state now (consent/ledger.ts can tell a state
 * as of a time, but neither this route nor `cdp consent show` offers it) and every purpose (there is no filter).
 */
const ANSWERS = "(the history's pages) only, and answers consent as it stands now, for every purpose of the tenant; the answer's " +
  "history lists each change with its time (at), from which the state on an earlier date can be read"

/** History entries a page holds unless ?limit= (or --limit) says, and the most it may say. */
export const DEFAULT_CONSENT_HISTORY = 100
export const MAX_CONSENT_HISTORY = 1000

/** The answer: the consent view with a page of its history, the history's whole length, and the next page's cursor. */
export type ConsentPage = ConsentView & { readonly historyTotal: number; readonly nextCursor: string | null }

type HistoryEntry = ConsentView["history"][number]

/** An entry's place, newest first: times turned into falling whole numbers, then what tells entries of one time apart. */
const historyKey = (h: HistoryEntry): PageKey =>
  [LATEST_MS - Date.parse(h.at), LATEST_MS - Date.parse(h.recordedAt), h.messageId, h.purpose, h.state]
/** What a history cursor holds (pages.ts decodePageCursor). */
export const HISTORY_KEY_SHAPE = "nnsss"
/** The list a history cursor is bound to (pages.ts PageList), with its tenant and person (historyList). */
export const HISTORY_LIST = "history entries"
/** The list a history cursor is bound to: the history of profile `profileId` of `tenant`. */
export const historyList = (tenant: string, profileId: string): PageList => listOf(HISTORY_LIST, tenant, profileId)

const keyOrder = (a: PageKey, b: PageKey): number => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1
  return 0
}

/**
 * `view` with one page of its history (newest first, after the cursor's entry); the per-purpose state is the whole
 * ledger's. For a view already read whole (the tests' reference for readConsentPage, which pages in the engine). The
 * next page's cursor is bound to the view's person (historyList), whatever `page.list` says.
 */
export const consentPage = (view: ConsentView, page: PageRequest): ConsentPage => {
  const keyed = view.history.map((h) => ({ h, key: historyKey(h) })).sort((x, y) => keyOrder(x.key, y.key))
  const after = page.after
  const rest = after === undefined ? keyed : keyed.filter((e) => keyOrder(e.key, after) > 0)
  const items = rest.slice(0, fittingBytes(rest.slice(0, page.limit).map((e) => e.h)))
  const last = items[items.length - 1]
  return {
    ...view, history: items.map((e) => e.h), historyTotal: view.history.length,
    nextCursor: rest.length > items.length && last !== undefined ? encodePageCursor(last.key, historyList(view.tenant, view.profileId)) : null,
  }
}

/** A history cursor's key (HISTORY_KEY_SHAPE, checked by readPage). */
type HistoryAfter = readonly [number, number, string, string, string]

/**
 * The answer of a page read with one entry more than asked (showConsentPage): that one tells there is a next page. The
 * page also ends before about 1 MB of entries (fittingBytes): each keeps its proof, what its message said (up to a
 * message's 32 KB), and ?limit= may ask for 1,000. The cursor goes on from the last entry shown.
 */
const pageOf = (view: ConsentView, total: number, page: PageRequest): ConsentPage => {
  const items = view.history.slice(0, fittingBytes(view.history.slice(0, page.limit)))
  const last = items[items.length - 1]
  return {
    ...view, history: items, historyTotal: total,
    nextCursor: view.history.length > items.length && last !== undefined ? encodePageCursor(historyKey(last), historyList(view.tenant, view.profileId)) : null,
  }
}

/**
 * A page of a person's consent history (newest first, after `page.after`) with the state per purpose and the history's
 * length: the engine pages the ledger (warehouse/consent.ts ledgerPageOfProfile), so a page and one row per purpose
 * are read. The route answers it, and `cdp consent show` prints it from a data dir no server holds. Its cursor is bound to
 * the person's history (historyList).
 */
export const readConsentPage = (tenant: string, ref: IdentifierRef, page: PageRequest) =>
  Effect.map(showConsentPage(tenant, ref, { limit: page.limit, after: page.after as HistoryAfter | undefined, latestMs: LATEST_MS }),
    ({ view, total }) => pageOf(view, total, page))

export const consentRoute = (req: IncomingMessage, options: {
  readonly warehouse: WarehouseShape
  /** How identifiers are read (phone regions, mailbox rules): the pipeline's identity configuration. */
  readonly identity?: IdentityConfig | undefined
  readonly policies?: ConsentPolicies | undefined
}): Effect.Effect<QueryReply> =>
  Effect.gen(function* () {
    // HEAD is a GET without the body (node leaves it out), as on every route that answers GET.
    if (req.method !== "GET" && req.method !== "HEAD") return refuse(405, "method_not_allowed", "use GET /v1/consent/{identifier}", undefined, { allow: "GET" })
    const url = new URL(req.url ?? "/", "http://collector")
    let identifier: string
    try {
      identifier = decodeURIComponent(url.pathname.slice(CONSENT_PATH.length))
    } catch {
      return refuse(400, "bad_identifier", "the identifier is not validly URL-encoded", "/identifier")
    }
    if (identifier.trim() === "") {
      return refuse(400, "bad_identifier", "say whose consent: GET /v1/consent/{identifier}, e.g. /v1/consent/email%3Aann%40x.example", "/identifier")
    }
    // A parameter the route does not take (?at=2024-01-01 for consent "as of" a date, ?purpose=) is refused, not ignored.
    const unknown = refuseUnknownParameter(url, ["tenant", "limit", "cursor"], "route")
    if (unknown !== undefined) {
      const body = unknown.body as { readonly error: string; readonly rule: string; readonly field?: string }
      return refuse(unknown.status, body.rule, `${body.error} ${ANSWERS}`, body.field)
    }
    const tenant = url.searchParams.get("tenant") ?? DEFAULT_TENANT
    if (tenant === "") return refuse(400, "bad_tenant", "?tenant= must name a tenant", "tenant")
    const pageOfPerson = (of: string | undefined, at: URL) =>
      readPage(at, { what: HISTORY_LIST, of, shape: HISTORY_KEY_SHAPE, fallback: DEFAULT_CONSENT_HISTORY, max: MAX_CONSENT_HISTORY })
    // ?limit= is checked before anything is read; the cursor once its person is known.
    const withoutCursor = new URL(url)
    withoutCursor.searchParams.delete("cursor")
    const limit = pageOfPerson(undefined, withoutCursor)
    if ("status" in limit) return limit
    const cursor = url.searchParams.get("cursor")
    return yield* readIdentifier(identifier, tenant, options.identity ?? defaultIdentityConfig()).pipe(
      Effect.flatMap((ref) => Effect.gen(function* () {
        if (cursor === null || cursor === "") return { status: 200, body: yield* readConsentPage(tenant, ref, limit) } satisfies QueryReply
        // A cursor pages only the history of the person it was given for, by whichever of their identifiers.
        const profileId = yield* profileIdOf(tenant, ref)
        const page = pageOfPerson(profileId, url)
        if ("status" in page) return page
        return { status: 200, body: yield* readConsentPage(tenant, { _tag: "profile", profileId }, page) } satisfies QueryReply
      })),
      tenantRead(tenant),
      Effect.provideService(Warehouse, options.warehouse),
      Effect.provideService(ConsentPoliciesRef, options.policies ?? DEFAULT_POLICIES),
      Effect.catchTags({
        BadIdentifier: (e) => Effect.succeed(refuse(400, "bad_identifier", e.message, "/identifier")),
        ProfileNotFound: (e) => Effect.succeed(refuse(404, "profile_not_found", e.message)),
        // A value the engine could not bind is the request's (400 naming it); any other query error is ours.
        WarehouseQueryError: (e) => Effect.succeed(refuseBadParameter(e) ?? refuse(500, "warehouse_query_failed", e.message)),
        WarehouseUnavailable: (e) => Effect.succeed(warehouseUnavailable(e.message)),
      }),
    )
  })
