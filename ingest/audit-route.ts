// The audit log over HTTP, for tokens with audit:read (the compliance role; ingest/auth.ts guards it):
//   GET /v1/audit          entries newest first, a page at a time: ?limit= (1-500, default 100), ?cursor= (the previous
//                          page's nextCursor), ?since= / ?until= (ISO date or date-time, or 7d / 24h ago), ?kind=
//                          (comma-separated, or given more than once; "dsr." takes every dsr kind), ?tenant= (a bound
//                          token: its own only). Every other parameter given twice is 400 repeated_parameter.
//   GET /v1/audit/verify   the whole chain checked, as `cdp audit verify` does; a token bound to a tenant, or one
//                          naming a tenant (?tenant=), gets that tenant's entries' count and problems (not the other
//                          tenants' count or the head)
// The log is one chain for every tenant, so an entry's place in it (seq), its link (prevHash) and how many entries a
// page passed over say how busy the other tenants are: a token bound to a tenant gets its entries without them, and
// its cursor sealed. A cursor is bound to the log's page of its tenant (ingest/pages.ts; "" for every tenant's), as a
// list's is: given for another tenant, or by another list, it is refused 400.
// A page reads a bounded number of entries (consent/audit.ts readAuditPage), so it costs the same on a long log. It
// lists entries abridged (a request's subject keys: the first few and their count, whole at GET /v1/dsr/{id}) and
// ends before about 1 MB of them (MAX_AUDIT_PAGE_BYTES), with nextCursor to go on, whatever ?limit= says.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { type AuditSigner, type AuditVerification, MAX_AUDIT_PAGE_BYTES, readAuditPage, type TenantAuditVerification, verifyAudit, verifyAuditOfTenant } from "../consent/audit.ts"
import { type Principal, sealCursor, unsealCursor } from "./auth.ts"
import type { ObjectStore, ObjectStoreError } from "./objectstore.ts"
import { dateOffTheCalendar, EARLIEST_DAY, EARLIEST_MS, endNotAfterStart, LATEST_DAY } from "../warehouse/calendar.ts"
import { isReply, type QueryReply, refuse, refuseRepeated } from "./query-route.ts"
import { encodePageCursor, pageList, readCursorText, refuseUnknownParameter } from "./pages.ts"

export const AUDIT_PATH = "/v1/audit"
export const MAX_AUDIT_PAGE = 500
/** The list an audit cursor is bound to (pages.ts PageList), with the tenant of its page. */
export const AUDIT_LIST = "audit entries"

const RELATIVE = /^(\d{1,5})([dh])$/
const ISO = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/** A time bound: 7d / 24h before now, an ISO date (00:00 UTC) or date-time; undefined when absent. */
export const parseAuditTime = (text: string | null, field: string, nowMs: number): number | undefined | QueryReply => {
  if (text === null) return undefined
  const t = text.trim()
  const off = dateOffTheCalendar(t)
  if (off !== undefined) return refuse(400, `bad_${field}`, `${field}: ${off.message}`, field)
  const rel = RELATIVE.exec(t)
  const ms = rel !== null ? nowMs - Number(rel[1]) * (rel[2] === "d" ? 86_400_000 : 3_600_000)
    : ISO.test(t) ? Date.parse(t.length === 10 ? `${t}T00:00:00Z` : /Z|[+-]\d{2}:?\d{2}$/.test(t) ? t : `${t}Z`) : Number.NaN
  if (!Number.isFinite(ms)) return refuse(400, `bad_${field}`, `?${field}= must be an ISO date (2026-01-31), a date-time (2026-01-31T12:00:00Z) or 7d / 24h`, field)
  // 99999d is the year 1752: refused as 1899-12-31 is (a date-time's own offset is checked by dateOffTheCalendar).
  if (rel !== null && ms < EARLIEST_MS) {
    return refuse(400, `bad_${field}`, `${field}: ${t} reaches back to ${new Date(ms).toISOString().slice(0, 10)}, before ${EARLIEST_DAY}, ` +
      `the earliest day the warehouse holds (dates run from ${EARLIEST_DAY} to ${LATEST_DAY})`, field)
  }
  return ms
}

const KIND = /^[a-z][a-z0-9_.-]{0,60}$/

export const auditRoute = (options: {
  readonly signer: AuditSigner
  /** The most bytes of entries a page holds (default MAX_AUDIT_PAGE_BYTES, about 1 MB); one entry alone may be more. */
  readonly maxPageBytes?: number | undefined
}) =>
  Effect.gen(function* () {
    const context = yield* Effect.context<ObjectStore>()
    const failure = (e: { message?: string }) => refuse(503, "object_store_unavailable", `the audit log could not be read: ${e.message ?? String(e)}`, undefined, { "retry-after": "5" })
    return (req: IncomingMessage, principal?: Principal): Effect.Effect<QueryReply> =>
      Effect.gen(function* () {
        const url = new URL(req.url ?? "/", "http://collector")
        const path = url.pathname.replace(/\/+$/, "")
        if (req.method !== "GET" && req.method !== "HEAD") return refuse(405, "method_not_allowed", `use GET ${path}`, undefined, { allow: "GET" })
        if (path === `${AUDIT_PATH}/verify`) {
          // The guard checked ?tenant= against the token's and wrote a bound token's there.
          const extra = [...url.searchParams.keys()].find((n) => n !== "tenant")
          if (extra !== undefined) {
            return refuse(400, "unknown_parameter", `?${extra.slice(0, 80)}= is not taken here; GET ${AUDIT_PATH}/verify checks the whole chain, or one tenant's entries with ?tenant=`, extra.slice(0, 80))
          }
          const tenant = principal?.tenant ?? url.searchParams.get("tenant") ?? undefined
          return yield* (tenant === undefined ? verifyAudit(options.signer) : verifyAuditOfTenant(options.signer, tenant) as Effect.Effect<AuditVerification | TenantAuditVerification, ObjectStoreError, ObjectStore>).pipe(
            Effect.provideContext(context),
            Effect.map((verification): QueryReply => ({ status: 200, body: { success: true, verification } })),
            Effect.catch((e) => Effect.succeed(failure(e))),
          )
        }
        if (path !== AUDIT_PATH) return refuse(404, "not_found", `no route ${path}; the audit log serves GET ${AUDIT_PATH} and GET ${AUDIT_PATH}/verify`)
        const q = url.searchParams
        const unknown = refuseUnknownParameter(url, ["limit", "cursor", "since", "until", "kind", "tenant"])
        if (unknown !== undefined) return unknown
        const repeated = refuseRepeated(url, ["limit", "cursor", "since", "until"])
        if (repeated !== undefined) return repeated
        const limitText = q.get("limit")
        if (limitText !== null && (!/^\d{1,4}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_AUDIT_PAGE)) {
          return refuse(400, "bad_limit", `?limit= must be a whole number from 1 to ${MAX_AUDIT_PAGE}`, "limit")
        }
        const bound = principal?.tenant !== undefined
        const list = pageList(url, AUDIT_LIST)
        const givenCursor = q.get("cursor")
        const cursorText = givenCursor === null || givenCursor === "" || !bound ? givenCursor : unsealCursor(givenCursor) ?? "-"
        const after = readCursorText(cursorText, "n", list)
        if (isReply(after)) return after
        const beforeSeq = after?.[0] as number | undefined
        if (beforeSeq !== undefined && beforeSeq < 1) return refuse(400, "bad_cursor", "?cursor= is not a cursor this API gave (pass nextCursor of the previous page as it is)", "cursor")
        const now = Date.now()
        const sinceMs = parseAuditTime(q.get("since"), "since", now)
        if (typeof sinceMs === "object") return sinceMs
        const untilMs = parseAuditTime(q.get("until"), "until", now)
        if (typeof untilMs === "object") return untilMs
        if (sinceMs !== undefined && untilMs !== undefined && untilMs <= sinceMs) {
          return refuse(400, "bad_until", `until: ${endNotAfterStart(q.get("until")!, { name: "since", text: q.get("since")! })}`, "until")
        }
        const kindTexts = q.getAll("kind")
        const kinds = kindTexts.length === 0 ? undefined : kindTexts.flatMap((t) => t.split(",")).map((k) => k.trim()).filter((k) => k !== "")
        const badKind = kinds?.find((k) => !KIND.test(k))
        if (badKind !== undefined) return refuse(400, "bad_kind", `?kind= takes kinds such as dsr.completed, api.access or dsr. (not "${badKind.slice(0, 60)}")`, "kind")
        return yield* readAuditPage({
          tenant: q.get("tenant") ?? undefined, kinds, sinceMs, untilMs,
          beforeSeq, limit: limitText === null ? 100 : Number(limitText),
          listView: { maxBytes: options.maxPageBytes ?? MAX_AUDIT_PAGE_BYTES },
        }).pipe(
          Effect.provideContext(context),
          Effect.map((page): QueryReply => {
            const next = page.nextCursor === null ? null : encodePageCursor([page.nextCursor], list)
            const body = bound
              ? { success: true, entries: page.entries.map(({ seq: _seq, prevHash: _prev, ...entry }) => entry), nextCursor: next === null ? null : sealCursor(next) }
              : { success: true, entries: page.entries, nextCursor: next, scanned: page.scanned }
            return { status: 200, body }
          }),
          Effect.catch((e) => Effect.succeed(failure(e))),
        )
      })
  })
