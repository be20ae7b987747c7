// API tokens over HTTP for holders of the tokens:manage scope (ingest/auth.ts guards them); `cdp token` goes through
// these while `cdp serve` holds the data directory. A token bound to a tenant manages only that tenant's tokens.
//   POST /v1/tokens                {"role", "tenant"?, "scopes"?: [...], "name"?, "expires"?}: 201 {token, details}
//   GET  /v1/tokens[?tenant=T]     the tokens, oldest first, a page at a time (?limit=, ?cursor=; never a token or its hash)
//   GET  /v1/tokens/{id}           one token
//   POST /v1/tokens/inspect        {"token": "cdp_..."}: the token's details (the token in a body, never in a URL)
//   POST /v1/tokens/{id}/revoke    revokes it at once
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import {
  effectiveScopes, type Principal, type Scope, statusOf, TokenLimitReached, tokenLookup, TokenInvalid, TokenNotFound, type TokenRegistry, tokenView, validateTokenInput,
} from "./auth.ts"
import { pageInMemory, readPage, refuseQueryOfBody, refuseUnknownParameter } from "./pages.ts"
import { type QueryReply, receiveAdminBody, refuse, refuseFailure } from "./query-route.ts"
import type { TokenRecord } from "../warehouse/tokens.ts"
import { apiReads } from "../warehouse/warehouse.ts"

export const TOKENS_PATH = "/v1/tokens"
const BODY_LIMIT = 16 * 1024
/** Tokens a list page may hold (GET /v1/tokens?limit=). */
export const MAX_TOKEN_PAGE = 1000

const failure = (e: unknown): QueryReply => refuseFailure(e, "tokens_failed")

const readObject = (text: string): Record<string, unknown> | QueryReply => {
  try {
    const body: unknown = JSON.parse(text)
    if (body !== null && typeof body === "object" && !Array.isArray(body)) return body as Record<string, unknown>
  } catch { /* answered below */ }
  return refuse(400, "bad_body", "the body must be a JSON object")
}

/**
 * The 404 for a token id nobody has, and for another tenant's asked for with a token bound to a tenant: a 403 there told
 * it that the id exists.
 */
const unknownTokenId = (id: string): QueryReply => refuse(404, "token_not_found", new TokenNotFound({ what: id }).message, "/id")
/** The 404 for a token given in a body (an inspection) that is not known, or is another tenant's. */
const unknownToken = (): QueryReply => refuse(404, "token_not_found", "the token is not known", "/token")

/** The 404 for something in a token's place in the path that no token id can be (a GET of it, a revoke). */
const notATokenId = (id: string): QueryReply => refuse(404, "token_not_found", notATokenIdMessage(id), "/id")

/** What a token id looks like (ids are made as tok_ and 12 random characters). */
export const TOKEN_ID = /^tok_[A-Za-z0-9_-]{6,40}$/

/**
 * Why `id` names no token: what a token id is, with the id as given (cut at 80 characters), and what lists the ids
 * (`cdp token revoke` names its own command, not the route).
 */
export const notATokenIdMessage = (id: string, lister = `GET ${TOKENS_PATH}`): string => {
  // Named as it was given (`cdp token revoke ../../x` is told "../../x", not the URL's "..%2F..%2Fx"), with invisible
  // characters (a bidi override) written out as JSON writes control characters.
  let given = id
  try {
    given = decodeURIComponent(id)
  } catch { /* not validly encoded: shown as sent */ }
  const shown = JSON.stringify(given.length <= 80 ? given : `${given.slice(0, 80)}…`)
    .replace(/[\p{Cf}\p{Zl}\p{Zp}]/gu, (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`)
  return `no token ${shown}: a token id is tok_ and 6-40 letters, digits, _ or - (${lister} lists them)`
}

/** The 400 naming a field the body does not take (a misspelt "scope" or "expire" must not fall back to the role's scopes or no expiry). */
const unknownField = (body: Record<string, unknown>, what: string, takes: ReadonlyArray<string>): QueryReply | undefined => {
  const extra = Object.keys(body).find((k) => !takes.includes(k))
  return extra === undefined ? undefined : refuse(400, "bad_body", `unknown field "${extra.slice(0, 80)}" (${what} takes ${takes.join(", ")})`, `/${extra.slice(0, 80)}`)
}

/**
 * What of `target` (a token asked for, or one to revoke) the asking token could not have given it, expiring at
 * `untilMs` (null: never): a scope it does not hold (a narrowed admin token cannot mint a full one), or a life past its
 * own (a token lent for an hour made one that never expires, and kept the tenant for good).
 */
const beyondCaller = (principal: Principal, untilMs: number | null, target: { readonly scopes: ReadonlyArray<string>; readonly expiresAtMs: number | null }):
  { readonly scope: string } | { readonly untilMs: number } | undefined => {
  const scope = target.scopes.find((s) => !principal.scopes.has(s as Scope))
  if (scope !== undefined) return { scope }
  return untilMs !== null && (target.expiresAtMs === null || target.expiresAtMs > untilMs) ? { untilMs } : undefined
}

/** The 403 for revoking a token the asking one could not have made (it may always revoke itself). */
const refuseRevoking = (record: TokenRecord, beyond: { readonly scope: string } | { readonly untilMs: number }): QueryReply =>
  "scope" in beyond
    ? refuse(403, "missing_scope", `token ${record.id} holds the scope ${beyond.scope}, which this token does not hold, so it cannot revoke it ` +
      "(a token revokes only tokens whose scopes are all among its own, and itself)", "/id")
    : refuse(403, "expiry_beyond_token", `token ${record.id} ${record.expiresAtMs === null ? "never expires" : `expires at ${new Date(record.expiresAtMs).toISOString()}`}` +
      `, and this token expires at ${new Date(beyond.untilMs).toISOString()}, so it cannot revoke it (a token revokes only tokens expiring by then, and itself)`, "/id")

/** 405 naming what the path serves: the list GET and POST, a token GET, inspect and a revocation POST. */
const refuseMethod = (path: string, rest: string): QueryReply =>
  path === TOKENS_PATH ? refuse(405, "method_not_allowed", `use GET or POST ${TOKENS_PATH}`, undefined, { allow: "GET, POST" })
    : TOKEN_ID.test(rest) ? refuse(405, "method_not_allowed", `use GET ${path} (POST ${path}/revoke revokes it)`, undefined, { allow: "GET" })
    : refuse(405, "method_not_allowed", `use POST ${path}`, undefined, { allow: "POST" })

export const tokenRoute = (options: {
  readonly registry: TokenRegistry
  readonly bodyIdleMs?: number
  /** Tenant names with capitals the server takes as written (warehouse/tenant.ts knownSpellings). */
  readonly knownTenants?: ReadonlySet<string>
}) => {
  return (req: IncomingMessage, principal: Principal): Effect.Effect<QueryReply> =>
    Effect.gen(function* () {
      /** When the asking token expires (null: never, or the data directory's admin token). */
      const callerExpiry = () => options.registry.find({ id: principal.tokenId })?.expiresAtMs ?? null
      const url = new URL(req.url ?? "/", "http://collector")
      const path = url.pathname.replace(/\/+$/, "")
      const rest = path.slice(TOKENS_PATH.length + 1)
      // HEAD is a GET without the body (node leaves it out).
      const reading = req.method === "GET" || req.method === "HEAD"
      const views = options.registry.views.pipe(Effect.map((vs) => new Map(vs.map((v) => [v.id, v]))))
      // A token bound to none that names a tenant (/v1/tenants/T/tokens/..., ?tenant=T) reads and revokes that tenant's
      // tokens alone, as the list does: before, it revoked another tenant's token under a request naming this one.
      const named = url.searchParams.get("tenant")
      const own = (tenant: string | null) => (principal.tenant === undefined || principal.tenant === tenant) && (named === null || named === tenant)
      // A GET's views (their stored last uses) are read on the warehouse's reads connection, beside the pipeline's landing;
      // a creation's count and a revocation read theirs on the pipeline's, with their writes.
      const readViews = apiReads(views)
      if (path === TOKENS_PATH && reading) {
        const tenant = url.searchParams.get("tenant")
        const unknown = refuseUnknownParameter(url)
        if (unknown !== undefined) return unknown
        const page = readPage(url, { what: "tokens", shape: "ss", fallback: 100, max: MAX_TOKEN_PAGE })
        if ("status" in page) return page
        return yield* readViews.pipe(
          Effect.map((vs): QueryReply => {
            const { items, nextCursor } = pageInMemory([...vs.values()].filter((v) => tenant === null || v.tenant === tenant), page, (v) => [v.createdAt, v.id])
            return { status: 200, body: { success: true, tokens: items, nextCursor } }
          }),
          Effect.catch((e) => Effect.succeed(failure(e))),
        )
      }
      if (reading && TOKEN_ID.test(rest)) {
        const unknown = refuseUnknownParameter(url, [], "route")
        if (unknown !== undefined) return unknown
        return yield* readViews.pipe(
          Effect.map((vs): QueryReply => {
            const v = vs.get(rest)
            return v !== undefined && own(v.tenant) ? { status: 200, body: { success: true, details: v } } : unknownTokenId(rest)
          }),
          Effect.catch((e) => Effect.succeed(failure(e))),
        )
      }
      if (reading && (rest === "inspect" || /^[^/]+\/revoke$/.test(rest))) return refuseMethod(path, rest)
      if (reading && rest !== "" && !rest.includes("/")) return notATokenId(rest)
      if (req.method !== "POST") return refuseMethod(path, rest)
      // What a creation or an inspection takes goes in its body (?scopes= ignored beside {"role": "admin"} made a full admin).
      const query = path === TOKENS_PATH ? refuseQueryOfBody(url, ["role", "tenant", "scopes", "name", "expires"])
        : rest === "inspect" ? refuseQueryOfBody(url, ["token"]) : refuseUnknownParameter(url, [], "route")
      if (query !== undefined) return query
      const text = yield* receiveAdminBody(req, BODY_LIMIT, options.bodyIdleMs, "a token request")
      if (typeof text !== "string") return text
      const body = text.trim() === "" ? {} : readObject(text)
      if ("status" in body && typeof body.status === "number" && "body" in body) return body as unknown as QueryReply
      const b = body as Record<string, unknown>
      if (path === TOKENS_PATH) {
        const extra = unknownField(b, "a token request", ["role", "tenant", "scopes", "name", "expires"])
        if (extra !== undefined) return extra
        // A token bound to a tenant written with capitals before the rule makes tokens of its own tenant as written.
        const known = principal.tenant === undefined ? options.knownTenants : new Set([...(options.knownTenants ?? []), principal.tenant])
        const input = validateTokenInput({ role: b.role, tenant: b.tenant, scopes: b.scopes, name: b.name, expires: b.expires }, Date.now(), known)
        if (input instanceof TokenInvalid) return refuse(400, "bad_token_request", input.message, `/${input.field}`)
        const beyond = beyondCaller(principal, callerExpiry(), input)
        if (beyond !== undefined && "scope" in beyond) {
          return refuse(403, "missing_scope", `this token does not hold the scope ${beyond.scope}, so it cannot give it to a new token (name fewer with "scopes")`, "/scopes")
        }
        if (beyond !== undefined) {
          return refuse(403, "expiry_beyond_token", `this token expires at ${new Date(beyond.untilMs).toISOString()}, so a token it makes must expire by then ` +
            `(name "expires" at or before it)`, "/expires")
        }
        // Counted and made one request of the tenant at a time, its oldest stopped tokens dropped (the registry's).
        return yield* options.registry.create(input).pipe(
          Effect.map(({ token, record }): QueryReply => ({ status: 201, body: { success: true, token, details: tokenView(record, undefined) } })),
          Effect.catch((e) => Effect.succeed(e instanceof TokenLimitReached ? refuse(409, "token_limit", e.message, "/tenant") : failure(e))),
        )
      }
      if (rest === "inspect") {
        const extra = unknownField(b, "an inspection", ["token", "tenant"])
        if (extra !== undefined) return extra
        if (typeof b.token !== "string") return refuse(400, "bad_body", '"token" must be the token (cdp_...)', "/token")
        const by = tokenLookup(b.token)
        if (by instanceof TokenInvalid) return refuse(400, "bad_token", by.message, "/token")
        const record = options.registry.find(by)
        const bodyTenant = typeof b.tenant === "string" ? b.tenant : undefined
        if (record === undefined || !own(record.tenant ?? null) || (bodyTenant !== undefined && bodyTenant !== record.tenant)) return unknownToken()
        return yield* views.pipe(
          Effect.map((vs): QueryReply => ({ status: 200, body: { success: true, details: vs.get(record.id) ?? tokenView(record, undefined) } })),
          Effect.catch((e) => Effect.succeed(failure(e))),
        )
      }
      const revoke = /^(tok_[A-Za-z0-9_-]{6,40})\/revoke$/.exec(rest)
      if (revoke === null && /^[^/]+\/revoke$/.test(rest)) return notATokenId(rest.slice(0, -"/revoke".length))
      if (revoke === null) return refuse(404, "not_found", `no route ${req.method} ${path}; the token routes are POST ${TOKENS_PATH}, GET ${TOKENS_PATH}[/{id}], POST ${TOKENS_PATH}/inspect, POST ${TOKENS_PATH}/{id}/revoke`)
      const record = options.registry.find({ id: revoke[1]! })
      if (record !== undefined && !own(record.tenant ?? null)) return unknownTokenId(revoke[1]!)
      // Revoking is acting on a token as making one is: a token narrowed to tokens:manage revoked its tenant's admin token.
      const beyond = record === undefined || record.id === principal.tokenId ? undefined
        : beyondCaller(principal, callerExpiry(), { scopes: effectiveScopes(record), expiresAtMs: record.expiresAtMs })
      if (beyond !== undefined) return refuseRevoking(record!, beyond)
      // Its details as GET shows them (its stored last use too); once revoked, a failed read of them still answers the revocation.
      return yield* options.registry.revoke(revoke[1]!).pipe(
        Effect.flatMap((r) => views.pipe(Effect.map((vs) => vs.get(r.id) ?? tokenView(r, undefined)), Effect.orElseSucceed(() => tokenView(r, undefined)),
          Effect.map((details): QueryReply => ({ status: 200, body: { success: true, details, wasActive: statusOf(record ?? r, Date.now()) === "active" } })))),
        Effect.catch((e) => Effect.succeed(e instanceof TokenNotFound ? unknownTokenId(revoke[1]!) : failure(e as never))),
      )
    })
}
