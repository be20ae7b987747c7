// The audience API: GET/POST /v1/audiences (GET by page: ?limit=, ?cursor=), GET/PATCH/DELETE /v1/audiences/{id}, GET /v1/audiences/{id}/history (by page),
// /members and /changes (the feed, by cursor), POST /v1/audiences/preview (count, sample, why each is in). The caller
// is checked before the handler runs (a token with the audiences scopes, ingest/auth.ts); a token bound to a tenant
// only ever sees that tenant's audiences.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { type ConsentPolicies, ConsentPoliciesRef, DEFAULT_POLICIES } from "../consent/index.ts"
import {
  type Audience, audienceChangesSince, audienceHistory, BadCursor, AudienceInvalid, audienceMembers, AudienceUnusable, checkAudienceCondition, checkAudiencePurpose, createAudience, editAudience,
  DEFAULT_MAX_AUDIENCES, getAudience, listAudiencesPage, MAX_AUDIENCE_PAGE, MAX_CHANGES_LIMIT, MAX_SAMPLE, MaxAudiencesRef, previewAudience,
} from "../identity/audiences/index.ts"
import { AUDIENCE_PREVIEW_SECONDS } from "../warehouse/audiences.ts"
import { keyedLocks } from "../warehouse/turns.ts"
import { apiReads, Warehouse, type WarehouseQueryError, type WarehouseShape } from "../warehouse/warehouse.ts"
import { encodePageCursor, fittingBytes, listOf, pageOfBytes, readCursorText, readPage, refuseUnknownParameter } from "./pages.ts"
import { isReply, type QueryReply, receiveAdminBody, refuse, refuseBadParameter, refuseBusy, refuseRepeated, refuseTooSlow, warehouseUnavailable } from "./query-route.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

export const AUDIENCES_PATH = "/v1/audiences"

const BODY_LIMIT = 256 * 1024

/** A preview past AUDIENCE_PREVIEW_SECONDS: the audience's to narrow. */
const TOO_SLOW = { rule: "audience_too_slow", seconds: AUDIENCE_PREVIEW_SECONDS, narrow: "the audience's event windows or conditions", field: "/condition" }

/** Who calls: the token's id (kept as the editor in the history) and the tenant it is bound to, if any. */
export interface AudienceCaller {
  readonly tokenId: string
  readonly tenant: string | undefined
}

export interface AudienceRouteOptions {
  readonly warehouse: WarehouseShape
  readonly policies?: ConsentPolicies | undefined
  readonly bodyIdleMs?: number
  /** Audiences a tenant may have (CDP_MAX_AUDIENCES); default DEFAULT_MAX_AUDIENCES. */
  readonly maxAudiences?: number | undefined
  /** Called after an audience is created or edited, so its members are found without waiting for the next tick. */
  readonly changed?: () => void
}

const view = (a: Audience & { members?: number }) => ({
  id: a.id, tenant: a.tenant, name: a.name, purpose: a.purpose, condition: a.condition, version: a.version,
  updatedAt: a.updatedAt, updatedBy: a.updatedBy, ...(a.members === undefined ? {} : { members: a.members }),
  ...(a.invalid === undefined ? {} : { invalid: a.invalid }),
})

/** A body field the route does not take is named, never ignored (a typo of "note", an "id" of one's choosing). */
const unknownField = (body: Record<string, unknown>, fields: ReadonlyArray<string>): QueryReply | undefined => {
  const unknown = Object.keys(body).find((k) => k !== "tenant" && !fields.includes(k))
  return unknown === undefined ? undefined
    : refuse(400, "bad_audience", `unknown field "${unknown.slice(0, 40)}" (${fields.length === 0 ? "this route's body takes only tenant" : fields.join(", ")})`, `/${unknown.slice(0, 40)}`)
}

/** A value sent, as a refusal quotes it: JSON-quoted, cut to 80 characters (a 20,000-character id is not sent back whole). */
const quotedCut = (text: string) => JSON.stringify(text.length <= 80 ? text : `${text.slice(0, 80)}…`)

/** What each route takes in its query string besides ?tenant= (the list's GET; members and changes by page); the rest go in bodies. */
const queryTakes = (rest: ReadonlyArray<string>, method: string): ReadonlyArray<string> | undefined =>
  rest.length === 0 ? (method === "GET" ? ["limit", "cursor"] : ["tenant"])
    : rest.length === 1 ? ["tenant"]
    : rest.length !== 2 ? undefined
    : rest[1] === "history" ? ["limit", "cursor"] : rest[1] === "members" ? ["after", "limit"] : rest[1] === "changes" ? ["cursor", "limit"] : undefined

/** Versions a history page shows unless ?limit= says, and the most it may say (a page also ends at MAX_PAGE_BYTES). */
const HISTORY_PAGE = 100
const MAX_HISTORY_PAGE = 1000

/**
 * A page of an audience's history, oldest first (?limit=, ?cursor= the previous page's nextCursor, bound to the audience
 * and tenant), ending before about 1 MB of versions (pageOfBytes): each holds its condition and what it changed (the
 * condition before and after), so 40 edits of a wide condition answered 27 MB at once.
 */
const historyPage = (url: URL, tenant: string, id: string, read: (effect: Effect.Effect<QueryReply, unknown, Warehouse>) => Effect.Effect<QueryReply>) => {
  const page = readPage(url, { what: "versions", of: id, shape: "n", fallback: HISTORY_PAGE, max: MAX_HISTORY_PAGE })
  if ("status" in page) return Effect.succeed(page)
  return read(Effect.map(audienceHistory(tenant, id, { after: (page.after?.[0] as number | undefined) ?? 0, limit: page.limit + 1 }), (versions) => {
    const { items, nextCursor } = pageOfBytes(versions, page, (v) => [v.version])
    return { status: 200, body: { success: true, id, versions: items, nextCursor } }
  }))
}

const wholeNumber = (text: string | null, field: string, min: number, max: number, fallback: number): number | QueryReply => {
  if (text === null) return fallback
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) return refuse(400, `bad_${field}`, `?${field}= must be a whole number from ${min} to ${max}`, field)
  return Number(text)
}

/** The list a changes feed's cursor is bound to (ingest/pages.ts): the audience's feed, of its tenant. */
const changesList = (tenant: string, id: string) => listOf("changes", tenant, id)

/**
 * The change number a feed cursor holds (undefined for none or ""), when the API gave it for audience `id` of
 * `tenant`; else the 400 naming ?cursor= (another audience's or list's cursor is refused as the lists' are).
 */
export const changesCursorKey = (cursor: string | null | undefined, tenant: string, id: string): string | undefined | QueryReply => {
  const key = readCursorText(cursor ?? null, "s", changesList(tenant, id))
  return isReply(key) ? key : key?.[0] as string | undefined
}

/**
 * The feed of audience `id` after change number `after` (audienceChangesSince), its cursor bound to the audience and
 * tenant as a list's is (ingest/pages.ts); "" (nothing yet) stays "", the start of any feed. `cdp audience changes`
 * reads it so on the data directory too, so its cursors are the server's.
 */
export const boundChangesSince = (tenant: string, id: string, after: string | undefined, limit: number) =>
  Effect.map(audienceChangesSince(tenant, id, after, limit), (page) => {
    // A page ends before about 1 MB of changes (fittingBytes): a cause names every condition that matched, each with
    // the value seen, and ?limit= may ask for 10,000 of them. The cursor goes on from the last change shown.
    const changes = page.changes.slice(0, fittingBytes(page.changes))
    const cursor = changes.length < page.changes.length ? changes.at(-1)!.seq : page.cursor
    return { ...page, changes, cursor: cursor === "" ? "" : encodePageCursor([cursor], changesList(tenant, id)) }
  })

/** The list a members cursor (?after=) is bound to (ingest/pages.ts): the audience's members, of its tenant. */
const membersList = (tenant: string, id: string) => listOf("members", tenant, id)

/**
 * The profile id a members cursor (?after=, the previous page's `next`) holds (undefined for none or ""), when the
 * API gave it for audience `id` of `tenant`; else the 400 naming ?after= (another audience's, tenant's or list's
 * cursor, or a bare profile id, is refused as the lists' are).
 */
export const membersCursorKey = (after: string | null | undefined, tenant: string, id: string): string | undefined | QueryReply => {
  const key = readCursorText(after ?? null, "s", membersList(tenant, id), "after", "next")
  return key === undefined || isReply(key) ? key : key[0] as string
}

/** A page of audience `id`'s members after profile `after` (audienceMembers), its `next` bound to the audience and tenant. */
export const boundMembers = (tenant: string, id: string, after: string | undefined, limit: number) =>
  Effect.map(audienceMembers(tenant, id, after ?? "", limit), (page) => {
    // A page ends before about 1 MB of members (fittingBytes): each keeps why it entered, every condition that matched
    // with the value seen, and ?limit= may ask for 10,000 of them. `next` goes on from the last member shown.
    const members = page.members.slice(0, fittingBytes(page.members))
    const next = members.length < page.members.length ? members.at(-1)!.profileId : page.next
    return { ...page, members, next: next === null ? null : encodePageCursor([next], membersList(tenant, id)) }
  })

/** membersCursorKey for `cdp audience members` on the data directory: a cursor the API did not give fails as BadCursor. */
export const membersCursorOrFail = (after: string | undefined, tenant: string, id: string) => {
  const key = membersCursorKey(after, tenant, id)
  return isReply(key) ? Effect.fail(new BadCursor({ cursor: after ?? "", list: "members" })) : Effect.succeed(key)
}

/** changesCursorKey for `cdp audience changes` on the data directory: a cursor the feed did not give fails as BadCursor. */
export const changesCursorOrFail = (cursor: string | undefined, tenant: string, id: string) => {
  const key = changesCursorKey(cursor, tenant, id)
  return isReply(key) ? Effect.fail(new BadCursor({ cursor: cursor ?? "" })) : Effect.succeed(key)
}

/**
 * One save (create, edit, delete) of a tenant's audiences at a time: a save reads the tenant's audiences (is the name
 * taken, is the cap reached, which version is the latest) and then writes, so two at once would both pass the same
 * check (two audiences of one name, two versions 2). Another tenant's saves never wait. The locks are the process's
 * (the server is the one writer of its data dir's audiences; servers sharing a ClickHouse server are not covered). A
 * tenant's lock is kept while a save holds or waits for it, so naming many tenants leaves nothing behind.
 */
const saving = keyedLocks()

export const audienceRoute = (options: AudienceRouteOptions) => (req: IncomingMessage, caller?: AudienceCaller): Effect.Effect<QueryReply> =>
  Effect.gen(function* () {
    const url = new URL(req.url ?? "/", "http://collector")
    const path = url.pathname.replace(/\/+$/, "").replace(/^\/v1\/tenants\/[^/]+/, "/v1")
    const rest = path.slice(AUDIENCES_PATH.length).split("/").filter((s) => s !== "")
    // HEAD is a GET without the body (node leaves it out).
    const method = req.method === "HEAD" ? "GET" : req.method ?? "GET"
    const actor = caller === undefined ? "api" : `token:${caller.tokenId}`
    // A parameter a route does not take is named, never ignored (?limt=2 answered the default page).
    const takes = queryTakes(rest, method)
    const unknownParameter = takes === undefined ? undefined : refuseUnknownParameter(url, takes, rest.length === 0 && method === "GET" ? "list" : "route")
    if (unknownParameter !== undefined) return unknownParameter
    const readBody = Effect.gen(function* () {
      const text = yield* receiveAdminBody(req, BODY_LIMIT, options.bodyIdleMs, "an audience body")
      if (typeof text !== "string") return text
      let body: unknown
      try {
        body = JSON.parse(text === "" ? "{}" : text)
      } catch {
        return refuse(400, "bad_body", "the body must be a JSON object")
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) return refuse(400, "bad_body", "the body must be a JSON object")
      return body as Record<string, unknown>
    })
    const tenantOf = (body?: Record<string, unknown>): string | QueryReply => {
      const named = (body?.["tenant"] ?? url.searchParams.get("tenant") ?? undefined) as unknown
      if (named !== undefined && (typeof named !== "string" || named === "")) return refuse(400, "bad_tenant", "tenant must name a tenant", body?.["tenant"] !== undefined ? "/tenant" : "tenant")
      if (caller?.tenant !== undefined && named !== undefined && named !== caller.tenant) {
        return refuse(403, "tenant_forbidden", `this token is bound to tenant "${caller.tenant}"`, "tenant")
      }
      return caller?.tenant ?? (named as string | undefined) ?? DEFAULT_TENANT
    }
    const notAllowed = (allow: string) => refuse(405, "method_not_allowed", `use ${allow} ${path}`, undefined, { allow })

    const run = (effect: Effect.Effect<QueryReply, unknown, Warehouse>) =>
      effect.pipe(
        Effect.provideService(Warehouse, options.warehouse),
        Effect.provideService(ConsentPoliciesRef, options.policies ?? DEFAULT_POLICIES),
        Effect.provideService(MaxAudiencesRef, options.maxAudiences ?? DEFAULT_MAX_AUDIENCES),
        Effect.catch((e: unknown): Effect.Effect<QueryReply> => {
          const tagged = e as { _tag?: string; message?: string; field?: string }
          switch (tagged._tag) {
            case "AudienceInvalid": {
              // A purpose the tenant does not have is `bad_purpose` wherever it is written (as on the profile route).
              const { rule, reason, field } = e as AudienceInvalid
              return Effect.succeed(rule === "bad_purpose" ? refuse(400, "bad_purpose", reason, `/${field}`) : refuse(400, "bad_audience", reason, `/${field}`))
            }
            case "AudienceUnusable":
              return Effect.succeed(refuse(409, "audience_invalid", tagged.message ?? "the audience cannot be used", "/id"))
            case "AudienceNameTaken":
              return Effect.succeed(refuse(409, "audience_name_taken", tagged.message ?? "the tenant already has an audience of that name", "/name"))
            case "AudienceLimitReached":
              return Effect.succeed(refuse(409, "audience_limit", tagged.message ?? "the tenant has as many audiences as it may have", "tenant"))
            case "AudienceNotFound": {
              const { id, tenant } = e as { id: string; tenant: string }
              return Effect.succeed(refuse(404, "audience_not_found", `no audience ${quotedCut(id)} in tenant "${tenant}" (cdp audience list shows them)`))
            }
            case "BadCursor":
              return Effect.succeed(refuse(400, "bad_cursor", tagged.message ?? "bad cursor", "cursor"))
            case "UnknownPurpose": {
              const { purpose, tenant, known } = e as { purpose: string; tenant: string; known: ReadonlyArray<string> }
              return Effect.succeed(refuse(400, "bad_purpose", `${quotedCut(purpose)} is not a purpose of tenant "${tenant}" (purposes: ${known.join(", ")})`, "/purpose"))
            }
            case "WarehouseUnavailable":
              return Effect.succeed(warehouseUnavailable(tagged.message))
            case "QueryBusy":
              return Effect.succeed(refuseBusy(e)!)
            case "WarehouseQueryError":
              if (refuseBadParameter(e) !== undefined) return Effect.succeed(refuseBadParameter(e)!)
              if (refuseTooSlow(e, TOO_SLOW) !== undefined) return Effect.succeed(refuseTooSlow(e, TOO_SLOW)!)
              return Effect.succeed(refuse(500, "audience_failed", `the audience could not be read: ${tagged.message ?? String(e)}`.slice(0, 300)))
            default:
              return Effect.succeed(refuse(500, "audience_failed", `the audience could not be read: ${tagged.message ?? String(e)}`.slice(0, 300)))
          }
        }),
      )
    // A GET's reads (list, one, history, members, changes; none writes) on the warehouse's reads connection, beside the
    // pipeline's landing.
    const read = (effect: Effect.Effect<QueryReply, unknown, Warehouse>) => run(apiReads(effect))

    // /v1/audiences
    if (rest.length === 0) {
      if (method === "GET") {
        const tenant = tenantOf()
        if (typeof tenant !== "string") return tenant
        const page = readPage(url, { what: "audiences", shape: "s", fallback: 100, max: MAX_AUDIENCE_PAGE })
        if ("status" in page) return page
        return yield* read(Effect.map(listAudiencesPage(tenant, (page.after?.[0] as string | undefined) ?? "", page.limit + 1), (rows) => {
          // Each audience is listed with its condition: a page ends before about 1 MB of them (pageOfBytes).
          const { items, nextCursor } = pageOfBytes(rows.map(view), page, (a) => [a.id])
          return { status: 200, body: { success: true, audiences: items, nextCursor } }
        }))
      }
      if (method !== "POST") return notAllowed("GET, POST")
      const body = yield* readBody
      if ("status" in body) return body as QueryReply
      const tenant = tenantOf(body)
      if (typeof tenant !== "string") return tenant
      const unknown = unknownField(body, ["name", "purpose", "condition", "note"])
      if (unknown !== undefined) return unknown
      for (const field of ["name", "purpose", "condition"]) {
        if (body[field] === undefined) return refuse(400, "bad_audience", `the body needs "${field}"`, `/${field}`)
      }
      if (body["note"] !== undefined && typeof body["note"] !== "string") return refuse(400, "bad_audience", "note must be a string", "/note")
      return yield* saving(tenant)(run(Effect.map(
        createAudience(tenant, { name: body["name"] as string, purpose: body["purpose"] as string, condition: body["condition"] }, actor, (body["note"] as string | undefined) ?? ""),
        (a) => {
          options.changed?.()
          return { status: 201, body: { success: true, audience: view(a) } }
        })))
    }

    // /v1/audiences/preview
    if (rest.length === 1 && rest[0] === "preview") {
      if (method !== "POST") return notAllowed("POST")
      const body = yield* readBody
      if ("status" in body) return body as QueryReply
      const tenant = tenantOf(body)
      if (typeof tenant !== "string") return tenant
      const unknown = unknownField(body, ["id", "purpose", "condition", "sample"])
      if (unknown !== undefined) return unknown
      const sample = body["sample"] ?? 10
      if (typeof sample !== "number" || !Number.isInteger(sample) || sample < 0 || sample > MAX_SAMPLE) {
        return refuse(400, "bad_sample", `sample must be a whole number from 0 to ${MAX_SAMPLE}`, "/sample")
      }
      return yield* run(Effect.gen(function* () {
        let purpose = body["purpose"]
        let condition = body["condition"]
        if (body["id"] !== undefined) {
          if (typeof body["id"] !== "string") return refuse(400, "bad_audience", "id must be an audience id", "/id")
          const a = yield* getAudience(tenant, body["id"])
          // Its removed purpose (or condition) is refused, naming it; the body may try it with another.
          if (a.invalid !== undefined && body[a.invalid.field === "purpose" ? "purpose" : "condition"] === undefined) {
            return yield* Effect.fail(new AudienceUnusable({ tenant, id: a.id, name: a.name, field: a.invalid.field, reason: a.invalid.reason }))
          }
          purpose = purpose ?? a.purpose
          condition = condition ?? a.condition
        }
        if (purpose === undefined) return refuse(400, "bad_audience", 'the body needs "purpose" (or "id" of a saved audience)', "/purpose")
        if (condition === undefined) return refuse(400, "bad_audience", 'the body needs "condition" (or "id" of a saved audience)', "/condition")
        const known = yield* checkAudiencePurpose(tenant, purpose)
        if (known instanceof AudienceInvalid) return yield* Effect.fail(known)
        const node = yield* checkAudienceCondition(tenant, condition)
        if (node instanceof AudienceInvalid) return yield* Effect.fail(node)
        const p = yield* previewAudience(tenant, known, node, sample)
        return { status: 200, body: { success: true, ...p } } satisfies QueryReply
      }))
    }

    let id: string
    try {
      id = decodeURIComponent(rest[0]!)
    } catch {
      return refuse(400, "bad_audience_id", "the audience id is not validly URL-encoded", "/id")
    }
    const tenantQ = tenantOf()
    if (rest.length === 1) {
      if (method === "GET") {
        if (typeof tenantQ !== "string") return tenantQ
        return yield* read(Effect.map(getAudience(tenantQ, id), (a) => ({ status: 200, body: { success: true, audience: view(a) } })))
      }
      if (method === "DELETE") {
        // Its tenant may be named in a body too, as PATCH's is (the guard checked the token against it): never ignored.
        const body = yield* readBody
        if ("status" in body) return body as QueryReply
        const tenant = tenantOf(body)
        if (typeof tenant !== "string") return tenant
        const unknown = unknownField(body, [])
        if (unknown !== undefined) return unknown
        return yield* saving(tenant)(run(Effect.map(editAudience(tenant, id, { delete: true }, actor), (a) => {
          options.changed?.()
          return { status: 200, body: { success: true, audience: view(a), deleted: true } }
        })))
      }
      if (method !== "PATCH") return notAllowed("GET, PATCH, DELETE")
      const body = yield* readBody
      if ("status" in body) return body as QueryReply
      const tenant = tenantOf(body)
      if (typeof tenant !== "string") return tenant
      const unknown = unknownField(body, ["name", "purpose", "condition", "note"])
      if (unknown !== undefined) return unknown
      // As cdp audience edit: a note alone changes nothing, and would only add a version saying so.
      if (body["name"] === undefined && body["purpose"] === undefined && body["condition"] === undefined) {
        return refuse(400, "bad_audience", "nothing to change: give name, purpose or condition")
      }
      if (body["note"] !== undefined && typeof body["note"] !== "string") return refuse(400, "bad_audience", "note must be a string", "/note")
      const edit = {
        ...(body["name"] === undefined ? {} : { name: body["name"] as string }),
        ...(body["purpose"] === undefined ? {} : { purpose: body["purpose"] as string }),
        ...(body["condition"] === undefined ? {} : { condition: body["condition"] }),
      }
      return yield* saving(tenant)(run(Effect.map(editAudience(tenant, id, edit, actor, (body["note"] as string | undefined) ?? ""), (a) => {
        // The same name, purpose and condition: no version was saved, nothing to refresh.
        if ("unchanged" in a) return { status: 200, body: { success: true, audience: view(a), unchanged: true } }
        options.changed?.()
        return { status: 200, body: { success: true, audience: view(a) } }
      })))
    }
    if (rest.length !== 2 || !["history", "members", "changes"].includes(rest[1]!)) {
      return refuse(404, "not_found", `no route ${method} ${path}; audiences serve /v1/audiences, /v1/audiences/preview and /v1/audiences/{id}[/history|/members|/changes]`)
    }
    if (method !== "GET") return notAllowed("GET")
    if (typeof tenantQ !== "string") return tenantQ
    const repeated = refuseRepeated(url, ["limit", "after", "cursor"])
    if (repeated !== undefined) return repeated
    if (rest[1] === "history") return yield* historyPage(url, tenantQ, id, read)
    const limit = wholeNumber(url.searchParams.get("limit"), "limit", 1, MAX_CHANGES_LIMIT, 100)
    if (typeof limit !== "number") return limit
    if (rest[1] === "members") {
      const after = membersCursorKey(url.searchParams.get("after"), tenantQ, id)
      if (isReply(after)) return after
      return yield* read(Effect.map(boundMembers(tenantQ, id, after, limit), (page) => ({ status: 200, body: { success: true, id, ...page } })))
    }
    const after = changesCursorKey(url.searchParams.get("cursor"), tenantQ, id)
    if (isReply(after)) return after
    return yield* read(Effect.map(boundChangesSince(tenantQ, id, after, limit), (page) => ({ status: 200, body: { success: true, id, ...page } })))
  })
