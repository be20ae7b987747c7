// Who may call which API route: scoped API tokens (`cdp token create`), the roles they are made from, the table of
// every non-collector route with the scope it needs, and the one guard every such route goes through (token, scope,
// tenant in path, query and body, access audit, identifier masking). The collector's Segment routes take write keys
// (writekeys.ts) or a token with the `ingest` scope.
//
// Tokens are `cdp_` + 256 random bits (base64url), shown once and stored as their SHA-256 (warehouse/tokens.ts). A
// plain hash is enough: nobody can guess 2^256 values whatever the hash costs, and it needs no secret to check (a
// keyed hash would tie every token to the keyed-hash secret file). The data directory's admin token (cli/server-info.ts)
// still works as a token of the admin role, so `cdp query` and the CLI's calls through `cdp serve` keep working.
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from "node:crypto"
import type { IncomingMessage } from "node:http"
import { Data, Effect, Schedule, Semaphore } from "effect"
import { appendAudit, type AuditSigner } from "../consent/audit.ts"
import { identifierKey, type KeysShape } from "../consent/keys.ts"
import { parseIdentifier } from "../identity/index.ts"
import type { NormaliseOptions } from "../identity/normalise.ts"
import type { ObjectStore } from "./objectstore.ts"
import { allTokens, dropStoppedBeyond, findToken, storeToken, storeTokenUses, type TokenRecord, tokenLastUses } from "../warehouse/tokens.ts"
import { Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import { BodyTooLarge, bodyErrorReply, receiveBody } from "./body.ts"
import { readJson } from "./json.ts"
import { DEFAULT_READ_PURPOSE, holdsAlwaysMasked, maskProfileAnswer, type ProfilePage } from "./mask.ts"
import { preReadBodies, type QueryReply, refuse } from "./query-route.ts"
import { labelProblem, normaliseLabel } from "../warehouse/labels.ts"
import { TENANT_CANONICAL_RULE, TENANT_NAME, tenantNameProblem } from "../warehouse/tenant.ts"
import { dateOffTheCalendar, EARLIEST_DAY, LATEST_DAY, LATEST_MS } from "../warehouse/calendar.ts"
import { keyedLocks } from "../warehouse/turns.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

/** Every scope, with what it lets a token do. */
export const SCOPES = {
  ingest: "send events to the collector's Segment routes (POST /v1/track, /v1/batch, ...) as a write key does",
  "profiles:read": "read profiles and their timelines (GET /v1/profiles/...) and preview computed traits over them (POST /v1/traits/preview)",
  "profiles:identifiers": "see e-mail addresses and phone numbers in profiles whatever the purpose's consent says",
  "audiences:read": "read audiences, their members and changes",
  "audiences:write": "create, edit and delete audiences",
  "listening:read": "read social listening (mentions, sentiment, alerts: GET /v1/listening/report)",
  "relations:read": "read relationship scores: the summary, the report per period and one profile's evidence (GET /v1/relations/...)",
  "relations:write": "bring every profile's relationship scores to a date (POST /v1/relations/compute)",
  "exports:read": "read export destinations, their status and history (GET /v1/exports...)",
  "exports:write": "run exports, see what a sync would send (dry run), replay dead letters (POST /v1/exports/...)",
  "consent:read": "read a person's consent per purpose with its history and proofs (GET /v1/consent/...)",
  "dsr:read": "read data-subject requests and their audit trail (GET /v1/dsr...)",
  "dsr:write": "submit data-subject requests (POST /v1/dsr)",
  "audit:read": "read the audit log and verify it (GET /v1/audit, /v1/audit/verify)",
  "identity:read": "read duplicate suggestions (GET /v1/identity/suggestions)",
  "identity:write": "split, separate, accept and dismiss identity decisions (POST /v1/identity/...)",
  "dead-letters:read": "list dead letters (refused input) with why each was refused, without payloads (GET /v1/dead-letters)",
  "dead-letters:write": "re-drive dead letters through the pipeline after a fix (POST /v1/dead-letters/retry)",
  query: "run read-only analyst SQL (POST /v1/query)",
  "operations:read": "follow the operations a server runs in the background: replays, rescores, retention, relationship computes (GET /v1/operations...)",
  "operations:write": "start a replay of the archive, a rescore of stored texts or retention on a running server (POST /v1/operations/...)",
  "tokens:manage": "create, list, inspect and revoke API tokens (/v1/tokens)",
} as const

export type Scope = keyof typeof SCOPES
export const ALL_SCOPES = Object.keys(SCOPES) as ReadonlyArray<Scope>

/**
 * What each role may do. A marketer reads profiles (e-mail and phone masked unless the purpose of the read is
 * consented), audiences, listening, exports and relationship scores (an admin computes them); compliance handles consent, data-subject requests and the audit log.
 * A token may hold fewer scopes than its role (`--scopes`), never more.
 */
export const ROLES = {
  collector: ["ingest"],
  marketer: ["profiles:read", "audiences:read", "audiences:write", "listening:read", "exports:read", "relations:read"],
  compliance: ["consent:read", "dsr:read", "dsr:write", "audit:read"],
  admin: ALL_SCOPES,
} as const satisfies Record<string, ReadonlyArray<Scope>>

export type Role = keyof typeof ROLES
export const ROLE_NAMES = Object.keys(ROLES) as ReadonlyArray<Role>

/**
 * Scopes a role gained after tokens of it could be made, with when. A token made with its whole role (no `--scopes`)
 * holds the role's scopes of that day; it holds what the role grew since too, so a marketer's token of last month can
 * read relationship scores. A token made with fewer scopes lacks one its role had that day: it keeps exactly its own.
 * Add a line here whenever ROLES gains a scope.
 */
const GRANTED_LATER: ReadonlyArray<{ readonly role: Role; readonly scope: Scope; readonly since: string }> = [
  { role: "marketer", scope: "relations:read", since: "2026-12-04T13:48:53Z" },
  { role: "admin", scope: "relations:read", since: "2026-12-04T13:48:53Z" },
  { role: "admin", scope: "relations:write", since: "2026-12-04T13:48:53Z" },
  { role: "admin", scope: "dead-letters:read", since: "2026-12-04T14:06:44Z" },
  { role: "admin", scope: "dead-letters:write", since: "2026-12-04T14:06:44Z" },
  { role: "admin", scope: "operations:read", since: "2026-12-04T23:40:00Z" },
  { role: "admin", scope: "operations:write", since: "2026-12-04T23:40:00Z" },
]

/** The scopes a token holds now: its role's today when it was made with its whole role then, else its own. */
export const effectiveScopes = (record: Pick<TokenRecord, "role" | "scopes" | "createdAtMs">): ReadonlyArray<string> => {
  const role = ROLES[record.role as Role] as ReadonlyArray<Scope> | undefined
  if (role === undefined) return record.scopes
  const roleThen = role.filter((s) => !GRANTED_LATER.some((g) => g.role === record.role && g.scope === s && Date.parse(g.since) > record.createdAtMs))
  const held = new Set(record.scopes)
  const wholeRoleThen = roleThen.every((s) => held.has(s)) && record.scopes.every((s) => role.includes(s as Scope))
  return wholeRoleThen ? role : record.scopes
}

/** Who a request is: a token's id, role, tenant (undefined: every tenant) and scopes. */
export interface Principal {
  readonly tokenId: string
  readonly role: Role
  readonly tenant: string | undefined
  readonly scopes: ReadonlySet<Scope>
}

/** The data directory's admin token, as a principal. */
export const ADMIN_TOKEN_ID = "admin-token"
const ADMIN_PRINCIPAL: Principal = { tokenId: ADMIN_TOKEN_ID, role: "admin", tenant: undefined, scopes: new Set(ALL_SCOPES) }

/** What a route needs that every valid token has: GET /v1/me, where a token reads what it may do. */
export const ANY_TOKEN = "any token"

/** An API route and the scope it needs: `read` for GET and HEAD, `write` for every other method. */
export interface ApiRoute {
  readonly name: string
  /** How the route is named in answers, logs and the audit log (no identifier in it). */
  readonly template: string
  readonly matches: (path: string) => boolean
  readonly read: Scope | typeof ANY_TOKEN
  readonly write: Scope | typeof ANY_TOKEN
  /**
   * What of its calls goes to the audit log: "all" (granted and denied) for routes that read or change personal
   * data or the log about it; "none" (tokens: no person in them).
   */
  readonly audit: "all" | "none"
  /** The identifier the request is about, from the path (its keyed hash goes to the audit log). */
  readonly subject?: (path: string) => string | undefined
  /**
   * A write this route accepted (2xx) is audited by its own entries, which name the token that made it (a DSR's
   * dsr.received): no access record beside them, so one request has one trail. Refused writes and reads are accesses.
   */
  readonly ownTrail?: true
  /** Largest body a write may carry (default 1 MB); the route's own limit may be smaller. */
  readonly bodyLimit?: number
}

const under = (prefix: string) => (path: string) => path === prefix || path.startsWith(`${prefix}/`)
const segmentAfter = (prefix: string) => (path: string) => {
  const rest = path.slice(prefix.length).split("/", 1)[0]
  return rest === undefined || rest === "" ? undefined : rest
}

/**
 * Every route of the API but the collector's, each with the scope it needs. The collector serves only what is
 * listed here (ingest/collector.ts maps each name to its handler), so a route cannot be added without a scope.
 */
export const API_ROUTES = [
  { name: "query", template: "/v1/query", matches: (p: string) => p === "/v1/query", read: "query", write: "query", audit: "all" },
  {
    name: "profiles", template: "/v1/profiles/{identifier}", matches: (p: string) => p.startsWith("/v1/profiles/"),
    read: "profiles:read", write: "profiles:read", audit: "all", subject: segmentAfter("/v1/profiles/"),
  },
  {
    name: "consent", template: "/v1/consent/{identifier}", matches: (p: string) => p.startsWith("/v1/consent/"),
    read: "consent:read", write: "consent:read", audit: "all", subject: segmentAfter("/v1/consent/"),
  },
  { name: "identity", template: "/v1/identity/...", matches: under("/v1/identity"), read: "identity:read", write: "identity:write", audit: "all" },
  // A request's own entries audit what it did, but not who read it afterwards: reads of a person's request are
  // accesses too (issue 17: granted and denied access to personal data goes to the audit log).
  { name: "dsr", template: "/v1/dsr", matches: under("/v1/dsr"), read: "dsr:read", write: "dsr:write", audit: "all", ownTrail: true },
  {
    name: "audiences", template: "/v1/audiences", matches: under("/v1/audiences"), read: "audiences:read", write: "audiences:write", audit: "all",
  },
  { name: "tokens", template: "/v1/tokens", matches: under("/v1/tokens"), read: "tokens:manage", write: "tokens:manage", audit: "none" },
  // The asking token's own role, tenant and scopes, and what it may do on each route (what a console shows): no person.
  { name: "me", template: "/v1/me", matches: (p: string) => p === "/v1/me", read: ANY_TOKEN, write: ANY_TOKEN, audit: "none", bodyLimit: 1024 },
  // Status and history name profiles by id; a dry run shows the records it would send.
  { name: "exports", template: "/v1/exports", matches: under("/v1/exports"), read: "exports:read", write: "exports:write", audit: "all" },
  // Lists public handles of authors.
  {
    name: "listening", template: "/v1/listening/report", matches: under("/v1/listening"), read: "listening:read", write: "listening:read", audit: "all",
  },
  // The summary names profiles by id; an explanation is one person's, asked for by identifier.
  {
    name: "relations", template: "/v1/relations", matches: under("/v1/relations"), read: "relations:read", write: "relations:write", audit: "all",
    subject: (p: string) => (p.startsWith("/v1/relations/explain/") ? segmentAfter("/v1/relations/explain/")(p) : undefined),
  },
  // A computed trait previewed over profiles' data: their values (e-mail and phone masked without profiles:identifiers).
  { name: "traits", template: "/v1/traits/preview", matches: under("/v1/traits"), read: "profiles:read", write: "profiles:read", audit: "all" },
  // Reasons name fields and values of refused input (personal data can be in them); payloads are never shown.
  {
    name: "deadLetters", template: "/v1/dead-letters", matches: under("/v1/dead-letters"), read: "dead-letters:read", write: "dead-letters:write",
    audit: "all",
  },
  // The log holds keyed hashes of the people it is about and who read them: who reads it is logged too.
  { name: "audit", template: "/v1/audit", matches: under("/v1/audit"), read: "audit:read", write: "audit:read", audit: "all" },
  // Replays, rescores and retention passes hold counts and dates, no personal data; who started one is logged.
  { name: "operations", template: "/v1/operations", matches: under("/v1/operations"), read: "operations:read", write: "operations:write", audit: "all" },
] as const satisfies ReadonlyArray<ApiRoute>

export type ApiRouteName = (typeof API_ROUTES)[number]["name"]

export interface RouteMatch {
  readonly route: ApiRoute
  /** The path without a /v1/tenants/{T} prefix, normalised as the handlers read it. */
  readonly path: string
  /** The tenant named in the path (/v1/tenants/{T}/...). */
  readonly pathTenant: string | undefined
  /** Why the path's tenant names no tenant (badly percent-encoded, or not a tenant's shape): the guard refuses it. */
  readonly badPathTenant?: string
}

const TENANT_PATH = /^\/v1\/tenants\/([^/]+)(\/.*)$/

/**
 * The API route a request is for, if any. Every route also answers under /v1/tenants/{T}/..., which names the
 * tenant in the path (as ?tenant=T does).
 */
export const matchApiRoute = (req: IncomingMessage): RouteMatch | undefined => {
  let url: URL
  try {
    url = new URL(req.url ?? "/", "http://collector")
  } catch {
    return undefined
  }
  let path = url.pathname.replace(/\/+$/, "")
  let pathTenant: string | undefined
  let badPathTenant: string | undefined
  const t = TENANT_PATH.exec(path)
  if (t !== null) {
    try {
      // Left unset when refused, so not even the refusal's audit entry is filed under a tenant nobody can have.
      const decoded = decodeURIComponent(t[1]!)
      if (TENANT_NAME.test(decoded)) pathTenant = decoded
      else badPathTenant = `the path's tenant ${tenantNameProblem(decoded) ?? ""}`
    } catch {
      badPathTenant = "the tenant in the path is not validly percent-encoded"
    }
    path = `/v1${t[2]!}`
  }
  const route = API_ROUTES.find((r) => r.matches(path))
  return route === undefined ? undefined : { route, path, pathTenant, ...(badPathTenant === undefined ? {} : { badPathTenant }) }
}

export const hashToken = (token: string) => createHash("sha256").update(token, "utf8").digest("hex")

export class TokenInvalid extends Data.TaggedError("TokenInvalid")<{ readonly field: string; readonly message: string }> {}

export interface TokenInput {
  readonly role: Role
  readonly tenant: string | undefined
  readonly scopes: ReadonlyArray<Scope>
  readonly name: string
  readonly expiresAtMs: number | null
}


/** A refused value as a message quotes it: JSON-quoted, cut to 80 characters. */
const quotedValue = (text: string) => JSON.stringify(text.length <= 80 ? text : `${text.slice(0, 80)}…`)

/** When a token expires: an ISO date (at 00:00 UTC), an ISO date-time, or a duration from now (30d, 12h). */
export const parseExpiry = (text: string, nowMs: number): number | TokenInvalid => {
  const off = dateOffTheCalendar(text)
  if (off !== undefined) return new TokenInvalid({ field: "expires", message: `expires: ${off.message}` })
  const duration = /^(\d{1,5})([dh])$/.exec(text.trim())
  const ms = duration !== null
    ? nowMs + Number(duration[1]) * (duration[2] === "d" ? 86_400_000 : 3_600_000)
    : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim()) ? Date.parse(text.trim().length === 10 ? `${text.trim()}T00:00:00Z` : text.trim()) : Number.NaN
  if (!Number.isFinite(ms)) {
    return new TokenInvalid({ field: "expires", message: `expiry ${quotedValue(text)} is not a date (2027-01-31), a date-time (2027-01-31T12:00:00Z) or a duration (30d, 12h)` })
  }
  if (ms <= nowMs) return new TokenInvalid({ field: "expires", message: `expiry ${new Date(ms).toISOString()} is not in the future` })
  // A duration has no date for dateOffTheCalendar to check: the instant it reaches must be one expires_at can hold.
  if (ms > LATEST_MS) {
    return new TokenInvalid({
      field: "expires",
      message: `expires: ${text.trim()} reaches ${new Date(ms).toISOString().slice(0, 10)}, after ${LATEST_DAY}, the latest day the warehouse holds (dates run from ${EARLIEST_DAY} to ${LATEST_DAY})`,
    })
  }
  return ms
}

/** A token request checked: the role exists, the scopes are the role's, the tenant and name are usable. */
export const validateTokenInput = (input: {
  readonly role: unknown
  readonly tenant?: unknown
  readonly scopes?: unknown
  readonly name?: unknown
  readonly expires?: unknown
}, nowMs: number, known?: ReadonlySet<string>): TokenInput | TokenInvalid => {
  if (typeof input.role !== "string" || !(ROLE_NAMES as ReadonlyArray<string>).includes(input.role)) {
    return new TokenInvalid({ field: "role", message: `role must be one of ${ROLE_NAMES.join(", ")}${typeof input.role === "string" ? ` (not ${quotedValue(input.role)})` : ""}` })
  }
  const role = input.role as Role
  if (input.tenant !== undefined) {
    const problem = typeof input.tenant === "string" ? tenantNameProblem(input.tenant, known) : `must be a tenant's name (${TENANT_CANONICAL_RULE})`
    if (problem !== undefined) return new TokenInvalid({ field: "tenant", message: `tenant ${problem}` })
  }
  const allowed: ReadonlyArray<string> = ROLES[role]
  let scopes: ReadonlyArray<Scope> = ROLES[role]
  if (input.scopes !== undefined) {
    if (!Array.isArray(input.scopes) || input.scopes.some((s) => typeof s !== "string")) {
      return new TokenInvalid({ field: "scopes", message: "scopes must be a list of scope names" })
    }
    const given = [...new Set((input.scopes as Array<string>).map((s) => s.trim()).filter((s) => s !== ""))]
    if (given.length === 0) return new TokenInvalid({ field: "scopes", message: `name at least one scope of the ${role} role: ${allowed.join(", ")}` })
    const unknown = given.find((s) => !(s in SCOPES))
    if (unknown !== undefined) return new TokenInvalid({ field: "scopes", message: `unknown scope ${quotedValue(unknown)} (scopes: ${ALL_SCOPES.join(", ")})` })
    const outside = given.find((s) => !allowed.includes(s))
    if (outside !== undefined) {
      return new TokenInvalid({ field: "scopes", message: `scope "${outside}" is not the ${role} role's (its scopes: ${allowed.join(", ")})` })
    }
    scopes = given as Array<Scope>
  }
  if (input.name !== undefined && (typeof input.name !== "string" || input.name.length > 200)) {
    return new TokenInvalid({ field: "name", message: "name must be a label of at most 200 characters, without control characters" })
  }
  const nameProblem = input.name === undefined ? undefined : labelProblem(input.name)
  if (nameProblem !== undefined) {
    return new TokenInvalid({ field: "name", message: `name must be a label of at most 200 characters, without control characters: ${nameProblem}` })
  }
  let expiresAtMs: number | null = null
  if (input.expires !== undefined && input.expires !== null) {
    if (typeof input.expires !== "string") return new TokenInvalid({ field: "expires", message: "expires must be a date, date-time or duration" })
    const e = parseExpiry(input.expires, nowMs)
    if (e instanceof TokenInvalid) return e
    expiresAtMs = e
  }
  return { role, tenant: input.tenant as string | undefined, scopes, name: normaliseLabel((input.name as string | undefined) ?? ""), expiresAtMs }
}

/** Creates a token: the token itself is returned once and never stored. */
export const createToken = (input: TokenInput, nowMs: number = Date.now()) =>
  Effect.gen(function* () {
    const token = `cdp_${randomBytes(32).toString("base64url")}`
    const record: TokenRecord = {
      id: `tok_${randomBytes(9).toString("base64url")}`, hash: hashToken(token), role: input.role, tenant: input.tenant, scopes: input.scopes,
      name: input.name, createdAtMs: nowMs, expiresAtMs: input.expiresAtMs, revokedAtMs: null,
    }
    yield* storeToken(record)
    return { token, record }
  })

export type TokenStatus = "active" | "revoked" | "expired"

/** What `cdp token inspect|list` and GET /v1/tokens show of a token (never its hash). */
export interface TokenView {
  readonly id: string
  readonly role: string
  readonly tenant: string | null
  readonly scopes: ReadonlyArray<string>
  readonly name: string
  readonly status: TokenStatus
  readonly createdAt: string
  readonly expiresAt: string | null
  readonly revokedAt: string | null
  readonly lastUsedAt: string | null
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

export const statusOf = (r: TokenRecord, nowMs: number): TokenStatus =>
  r.revokedAtMs !== null ? "revoked" : r.expiresAtMs !== null && r.expiresAtMs <= nowMs ? "expired" : "active"

export const tokenView = (r: TokenRecord, lastUsedMs: number | undefined, nowMs: number = Date.now()): TokenView => ({
  id: r.id, role: r.role, tenant: r.tenant ?? null, scopes: effectiveScopes(r), name: r.name, status: statusOf(r, nowMs), createdAt: iso(r.createdAtMs)!,
  expiresAt: iso(r.expiresAtMs), revokedAt: iso(r.revokedAtMs), lastUsedAt: iso(lastUsedMs ?? null),
})

/** A token by id (tok_...) or by the token itself (cdp_...), or why the text is neither. */
export const tokenLookup = (idOrToken: string): { readonly id: string } | { readonly hash: string } | TokenInvalid =>
  /^tok_[A-Za-z0-9_-]{6,40}$/.test(idOrToken) ? { id: idOrToken }
    : /^cdp_[A-Za-z0-9_-]{20,100}$/.test(idOrToken) ? { hash: hashToken(idOrToken) }
    // Named by its prefix but not whole (cut when copied, mistyped): say what a whole one looks like.
    : idOrToken.startsWith("cdp_")
      ? new TokenInvalid({ field: "token", message: "that is not a whole token: a token is cdp_ and 20-100 letters, digits, _ or - (as cdp token create printed it)" })
    : idOrToken.startsWith("tok_")
      ? new TokenInvalid({ field: "token", message: "that is not a token id: a token id is tok_ and 6-40 letters, digits, _ or - (cdp token list shows them)" })
    : new TokenInvalid({ field: "token", message: "give a token id (tok_...) or a token (cdp_...)" })

export const inspectToken = (idOrToken: string) =>
  Effect.gen(function* () {
    const by = tokenLookup(idOrToken)
    if (by instanceof TokenInvalid) return yield* Effect.fail(by)
    const record = yield* findToken(by)
    if (record === undefined) return yield* Effect.fail(new TokenNotFound({ what: "id" in by ? by.id : "the token given" }))
    return tokenView(record, (yield* tokenLastUses()).get(record.id))
  })

/**
 * Active tokens one tenant (or the unbound ones, together) may hold at once (CDP_MAX_TOKENS): every token is kept in
 * the registry of each server and listed by GET /v1/tokens, so a tenant's token manager must not make them without end.
 */
export const DEFAULT_MAX_TOKENS = 1000

export class TokenLimitReached extends Data.TaggedError("TokenLimitReached")<{ readonly tenant: string | undefined; readonly limit: number }> {
  override get message() {
    return `${this.tenant === undefined ? "unbound tokens already hold" : `tenant "${this.tenant}" already holds`} ${this.limit} active tokens, the most CDP_MAX_TOKENS allows; revoke one first`
  }
}

/** TokenLimitReached when `tenant` already holds `limit` active tokens among `views`. */
export const tokenLimitReached = (views: Iterable<TokenView>, tenant: string | undefined, limit: number): TokenLimitReached | undefined => {
  let active = 0
  for (const v of views) if (v.tenant === (tenant ?? null) && v.status === "active") active++
  return active >= limit ? new TokenLimitReached({ tenant, limit }) : undefined
}

export const listTokens = Effect.gen(function* () {
  const uses = yield* tokenLastUses()
  return (yield* allTokens()).map((r) => tokenView(r, uses.get(r.id)))
})

export class TokenNotFound extends Data.TaggedError("TokenNotFound")<{ readonly what: string }> {
  override get message() {
    return `no token ${this.what} is known`
  }
}

/** Revokes a token (at once for every server that reads it through its registry; others within RELOAD_MS). */
export const revokeToken = (id: string, nowMs: number = Date.now()) =>
  Effect.gen(function* () {
    if (!/^tok_[A-Za-z0-9_-]{6,40}$/.test(id)) return yield* Effect.fail(new TokenInvalid({ field: "id", message: `"${id}" is not a token id (they look like tok_...)` }))
    const record = yield* findToken({ id })
    if (record === undefined) return yield* Effect.fail(new TokenNotFound({ what: id }))
    const revoked = record.revokedAtMs === null ? { ...record, revokedAtMs: nowMs } : record
    if (record.revokedAtMs === null) yield* storeToken(revoked)
    return revoked
  })

/** What a server's registry does as tokens change: remember a token made or revoked, forget the ones dropped. */
interface TokenChanges {
  readonly stored?: (record: TokenRecord) => void
  readonly dropped?: (ids: ReadonlyArray<string>) => void
}

/** Drops the tenant's stopped tokens past the newest `limit` (CDP_MAX_TOKENS; dropStoppedBeyond says why). */
const keepStopped = (tenant: string | undefined, limit: number, nowMs: number, changes: TokenChanges) =>
  Effect.tap(dropStoppedBeyond(limit, nowMs, { tenant }), (ids) => Effect.sync(() => changes.dropped?.(ids)))

/**
 * Makes a token within CDP_MAX_TOKENS: TokenLimitReached when the tenant holds `limit` active tokens; else its stopped
 * ones past the newest `limit` are dropped first (a failed drop fails the creation, which made nothing), so once it is
 * answered the tenant holds at most `limit` stopped tokens. Both POST /v1/tokens (the registry) and cdp token create
 * on a data dir make tokens through this.
 */
export const createTokenWithin = (input: TokenInput, limit: number, changes: TokenChanges = {}, nowMs: number = Date.now()) =>
  Effect.gen(function* () {
    const full = tokenLimitReached((yield* allTokens()).map((r) => tokenView(r, undefined, nowMs)), input.tenant, limit)
    if (full !== undefined) return yield* Effect.fail(full)
    yield* keepStopped(input.tenant, limit, nowMs, changes)
    const made = yield* createToken(input, nowMs)
    changes.stored?.(made.record)
    return made
  })

/**
 * Revokes a token, then drops its tenant's stopped tokens past the newest `limit`, so once it is answered the tenant
 * holds at most `limit` stopped tokens. The revocation comes first and counts at once (`stored`), and is what is
 * answered: a drop that cannot run (a mutation of the table failing in the way) is logged, and left to the next
 * creation, revocation or retention pass, instead of answering 500 for a token that is revoked.
 */
export const revokeTokenWithin = (id: string, limit: number, changes: TokenChanges = {}, nowMs: number = Date.now()) =>
  Effect.gen(function* () {
    const record = yield* revokeToken(id, nowMs)
    changes.stored?.(record)
    yield* keepStopped(record.tenant, limit, nowMs, changes).pipe(
      Effect.catch((e) => Effect.logWarning("token revoked; its tenant's older stopped tokens not dropped yet (the next creation, revocation or retention pass drops them)").pipe(
        Effect.annotateLogs({ token: record.id, error: String(e).slice(0, 300) }))),
    )
    return record
  })

/** How often a server re-reads the token table (a token created or revoked by another process counts after at most this). */
export const RELOAD_MS = 5_000
/** How often the last use of each token is written (in memory in between; always when the server stops). */
const USES_FLUSH_MS = 60_000

export interface Denial {
  readonly status: 401
  readonly rule: string
  readonly message: string
  readonly tokenId?: string
}

const sameSecret = (given: string, expected: string): boolean => {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The server's tokens in memory (by hash, so checking one costs a SHA-256 and a map lookup, no query), re-read every
 * RELOAD_MS and changed at once by what this server creates or revokes; last uses are written once a minute.
 */
export const makeTokenRegistry = (options: {
  readonly adminToken: string | undefined
  readonly warehouse: WarehouseShape
  /** CDP_MAX_TOKENS: active tokens a tenant may hold, and stopped ones it keeps. */
  readonly maxTokens?: number | undefined
}) =>
  Effect.gen(function* () {
    const run = <A, E>(effect: Effect.Effect<A, E, Warehouse>) => Effect.provideService(effect, Warehouse, options.warehouse)
    const limit = options.maxTokens ?? DEFAULT_MAX_TOKENS
    // A tenant's tokens change one request at a time: counted apart from the creation, requests sent together all
    // passed the count and took the tenant past CDP_MAX_TOKENS; a revocation's drop counts what the others left.
    const changing = keyedLocks()
    const tenantKey = (tenant: string | undefined) => (tenant === undefined ? "unbound" : `tenant:${tenant}`)
    let byHash = new Map<string, TokenRecord>()
    // What this server created or revoked lately: a reload whose query began before the write must not undo it.
    const recent = new Map<string, { readonly record: TokenRecord; readonly atMs: number }>()
    const remember = (record: TokenRecord) => {
      recent.set(record.hash, { record, atMs: Date.now() })
      byHash.set(record.hash, record)
    }
    const changes = {
      stored: remember,
      dropped: (ids: ReadonlyArray<string>) => {
        const gone = new Set(ids)
        for (const [hash, r] of byHash) if (gone.has(r.id)) byHash.delete(hash)
        for (const [hash, { record }] of recent) if (gone.has(record.id)) recent.delete(hash)
      },
    }
    const load = run(allTokens()).pipe(Effect.map((rs) => {
      const loaded = new Map(rs.map((r) => [r.hash, r]))
      for (const [hash, { record, atMs }] of recent) {
        if (Date.now() - atMs > 6 * RELOAD_MS) {
          recent.delete(hash)
          continue
        }
        const stored = loaded.get(hash)
        // A revocation only ever comes later than the token: whichever side knows of one wins.
        if (stored === undefined || (stored.revokedAtMs === null && record.revokedAtMs !== null)) loaded.set(hash, record)
      }
      byHash = loaded
    }))
    yield* load
    yield* Effect.forkScoped(load.pipe(Effect.ignore, Effect.repeat(Schedule.spaced(RELOAD_MS))))
    const uses = new Map<string, number>()
    const flushUses = Effect.suspend(() => {
      const batch = new Map(uses)
      uses.clear()
      return run(storeTokenUses(batch)).pipe(Effect.ignore)
    })
    yield* Effect.forkScoped(flushUses.pipe(Effect.repeat(Schedule.spaced(USES_FLUSH_MS))))
    yield* Effect.addFinalizer(() => flushUses)

    const authenticate = (req: IncomingMessage, nowMs: number = Date.now()): Principal | Denial => {
      const header = req.headers.authorization
      if (header === undefined || header === "") {
        return { status: 401, rule: "missing_token", message: "send an API token as Authorization: Bearer TOKEN (cdp token create)" }
      }
      const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1]
      if (token === undefined) return { status: 401, rule: "bad_authorization", message: "Authorization must be Bearer with an API token" }
      if (options.adminToken !== undefined && options.adminToken !== "" && sameSecret(token, options.adminToken)) return ADMIN_PRINCIPAL
      // A map lookup by the hash of a 256-bit secret: its timing says nothing usable about the token.
      const record = byHash.get(hashToken(token))
      if (record === undefined) return { status: 401, rule: "unknown_token", message: "the token is not known (wrong, or from another deployment)" }
      const status = statusOf(record, nowMs)
      if (status === "revoked") return { status: 401, rule: "token_revoked", message: `token ${record.id} was revoked`, tokenId: record.id }
      if (status === "expired") {
        return { status: 401, rule: "token_expired", message: `token ${record.id} expired at ${iso(record.expiresAtMs)}`, tokenId: record.id }
      }
      uses.set(record.id, nowMs)
      return { tokenId: record.id, role: record.role as Role, tenant: record.tenant, scopes: new Set(effectiveScopes(record) as ReadonlyArray<Scope>) }
    }

    return {
      authenticate,
      /** Makes a token within CDP_MAX_TOKENS (createTokenWithin); TokenLimitReached when the tenant holds as many. */
      create: (input: TokenInput) => run(createTokenWithin(input, limit, changes)).pipe(changing(tenantKey(input.tenant))),
      /** Revokes a token and keeps its tenant within CDP_MAX_TOKENS stopped ones (revokeTokenWithin). */
      revoke: (id: string) => Effect.gen(function* () {
        const tenant = [...byHash.values()].find((r) => r.id === id)?.tenant ?? (yield* run(findToken({ id })).pipe(Effect.orElseSucceed(() => undefined)))?.tenant
        return yield* run(revokeTokenWithin(id, limit, changes)).pipe(changing(tenantKey(tenant)))
      }),
      /** Views with the last uses this server has not written yet. */
      views: Effect.gen(function* () {
        const stored = yield* run(tokenLastUses())
        return [...byHash.values()].sort((a, b) => a.createdAtMs - b.createdAtMs || a.id.localeCompare(b.id))
          .map((r) => tokenView(r, uses.get(r.id) ?? stored.get(r.id)))
      }),
      find: (by: { readonly id: string } | { readonly hash: string }) =>
        "id" in by ? [...byHash.values()].find((r) => r.id === by.id) : byHash.get(by.hash),
    }
  })

export type TokenRegistry = Effect.Success<ReturnType<typeof makeTokenRegistry>>

/** One access to a route, as the audit log keeps it: who, which route, about whom (keyed hash), and the outcome. */
export interface AccessRecord {
  readonly at: string
  readonly tokenId: string | null
  readonly role: string | null
  readonly route: string
  readonly method: string
  readonly subject?: string
  readonly outcome: "granted" | "denied"
  readonly status: number
  readonly rule?: string
  /**
   * A profile read's declared purpose (?purpose=, or the default), and whether the person's e-mail addresses and
   * phone numbers were shown or masked for it: who saw whose contact details, and for what, is on record.
   */
  readonly purpose?: string
  readonly identifiers?: "shown" | "masked"
}

/** Access records gathered before they go to the audit log as one entry per tenant (kind api.access). */
const ACCESS_FLUSH_MS = 10_000
const ACCESS_BATCH = 5_000

/** What a request's record holds until its flush: the time and the subject as named, hashed off the request path. */
type PendingRecord = Omit<AccessRecord, "at" | "subject"> & { readonly atMs: number; readonly subjectText?: string }

/**
 * The keyed hash of the identifier a request names, as DSRs and suppression key it (consent/keys.ts identifierKey); a
 * profile id, or a text that is no identifier, hashed as given.
 */
export const subjectKeyer = (keys: KeysShape, normalise?: NormaliseOptions) => (tenant: string, text: string): string => {
  const ref = parseIdentifier(text, normalise)
  return ref._tag === "identifier" ? identifierKey(keys, tenant, ref.kind, ref.value)
    : ref._tag === "profile" ? keys.hash(`${tenant}\u0000profile:${ref.profileId}`)
    : keys.hash(`${tenant}\u0000${text}`)
}

/**
 * The access audit: records are kept in memory and appended to the hash-chained audit log (consent/audit.ts) as one
 * entry per tenant every ACCESS_FLUSH_MS, at ACCESS_BATCH records, and when the server stops. A read costs a push to
 * an array, not an object-store write, and its subject is hashed at the flush (parsing and HMAC cost ~20-80 µs under
 * load): the identifier stays in this process's memory for those seconds only. A crash loses the last seconds' records.
 */
export const makeAccessLog = (signer: AuditSigner, subjectKey: (tenant: string, text: string) => string) =>
  Effect.gen(function* () {
    let pending = new Map<string, Array<PendingRecord>>()
    let count = 0
    let omitted = 0
    const flush = Effect.suspend(() => {
      const batches = pending
      const dropped = omitted
      pending = new Map()
      count = 0
      omitted = 0
      return Effect.forEach([...batches], ([tenant, pendingRecords], i) => {
        const records = pendingRecords.map(({ atMs, subjectText, ...r }): AccessRecord => ({
          at: new Date(atMs).toISOString(), ...r, ...(subjectText === undefined ? {} : { subject: subjectKey(tenant, subjectText) }),
        }))
        return appendAudit(signer, {
          kind: "api.access", tenant, requestId: "",
          data: { records, ...(i === 0 && dropped > 0 ? { omitted: dropped } : {}) },
        })
      }, { discard: true })
    }).pipe(Effect.catch((e) => Effect.logWarning("access audit not written").pipe(Effect.annotateLogs({ error: String(e) }))))
    const flushing = yield* Semaphore.make(1)
    const flushOnce = flushing.withPermits(1)(flush)
    const context = yield* Effect.context<ObjectStore>()
    yield* Effect.forkScoped(flushOnce.pipe(Effect.repeat(Schedule.spaced(ACCESS_FLUSH_MS))))
    yield* Effect.addFinalizer(() => flushOnce)
    const runFork = Effect.runForkWith(context)
    return {
      record: (tenant: string, record: PendingRecord) => {
        // Past twice a batch unflushed (the object store is down or slow), records are counted, not kept.
        if (count >= ACCESS_BATCH * 2) {
          omitted++
          return
        }
        const list = pending.get(tenant)
        if (list === undefined) pending.set(tenant, [record])
        else list.push(record)
        if (++count === ACCESS_BATCH) runFork(flushOnce)
      },
      flush: flushOnce,
    }
  })

export type AccessLog = Effect.Success<ReturnType<typeof makeAccessLog>>

// Cursors of identifier pages, sealed (AES-256-GCM) for masked callers: a key of this process, so a sealed cursor
// lasts as long as the server runs (a client paging across a restart starts again).
const CURSOR_KEY = randomBytes(32)
const SEALED = "s."

export const sealCursor = (cursor: string): string => {
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", CURSOR_KEY, iv)
  const sealed = Buffer.concat([cipher.update(cursor, "utf8"), cipher.final()])
  return `${SEALED}${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString("base64url")}`
}

export const unsealCursor = (text: string): string | undefined => {
  if (!text.startsWith(SEALED)) return undefined
  try {
    const bytes = Buffer.from(text.slice(SEALED.length), "base64url")
    const decipher = createDecipheriv("aes-256-gcm", CURSOR_KEY, bytes.subarray(0, 12))
    decipher.setAuthTag(bytes.subarray(12, 28))
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8")
  } catch {
    return undefined
  }
}

const sealField = (body: Record<string, unknown>, field: string): Record<string, unknown> =>
  typeof body[field] === "string" ? { ...body, [field]: sealCursor(body[field] as string) } : body

/** A masked profile answer's cursors sealed: a page's nextCursor, a profile's identifiersNextCursor and its timeline's. */
const sealCursors = (body: Record<string, unknown>): Record<string, unknown> => {
  const sealed = sealField(sealField(body, "nextCursor"), "identifiersNextCursor")
  const timeline = sealed["timeline"] as Record<string, unknown> | undefined
  return timeline === undefined ? sealed : { ...sealed, timeline: sealField(timeline, "nextCursor") }
}

export type Handler = (req: IncomingMessage, principal: Principal) => Effect.Effect<QueryReply>

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"])
const DEFAULT_BODY_LIMIT = 1024 * 1024
const BEARER_CHALLENGE = { "www-authenticate": 'Bearer realm="cdp"' }

/** A body's tenant fields checked against the principal, and its text with the effective tenant filled in. */
const checkBody = (text: string, tenant: string | undefined, bound: boolean, known: ReadonlySet<string> | undefined): string | QueryReply => {
  if (text.trim() === "") return tenant === undefined ? text : JSON.stringify({ tenant })
  // Read as every outside JSON is: a body nested thousands deep would overflow the stack of what handles it next
  // (JSON.stringify below, a route's own recursion) and answer 500.
  const read = readJson(text)
  if (read._tag === "refused" && read.rejection.rule !== "not_json") {
    return refuse(400, read.rejection.rule, read.rejection.message, read.rejection.field)
  }
  if (read._tag === "refused") {
    // Unbound callers get the route's own answer to a broken body; a bound one's body must be checkable.
    return bound ? refuse(400, "bad_body", "the body must be a JSON object") : text
  }
  const body = read.value
  if (body === null || typeof body !== "object" || Array.isArray(body)) return bound ? refuse(400, "bad_body", "the body must be a JSON object") : text
  const b = body as Record<string, unknown>
  if (b.tenant !== undefined && b.tenant !== tenant) {
    const problem = typeof b.tenant === "string" ? tenantNameProblem(b.tenant, known) : `must be a tenant's name (${TENANT_CANONICAL_RULE})`
    if (problem !== undefined) return refuse(400, "bad_tenant", `the body's "tenant" ${problem}`, "/tenant")
  }
  if (b.allTenants !== undefined && b.allTenants !== false && bound) {
    return refuse(403, "tenant_forbidden", `this token is bound to tenant "${tenant}": "allTenants" is not allowed`, "/allTenants")
  }
  if (b.tenant !== undefined && tenant !== undefined && b.tenant !== tenant) {
    return bound
      ? refuse(403, "tenant_forbidden", `this token is bound to tenant "${tenant}": the body names another tenant`, "/tenant")
      : refuse(400, "conflicting_tenant", `the body names tenant "${b.tenant}" and the path or query string "${tenant}": name one`, "/tenant")
  }
  return b.tenant === undefined && tenant !== undefined && b.allTenants !== true ? JSON.stringify({ ...b, tenant }) : text
}

/**
 * The one guard of the API routes: the token (401), the route's scope (403), the tenant of the path, the query and
 * the body against the token's (403 naming where; a bound token's tenant is filled in where none is named), then the
 * handler; marketers' profile reads are masked by purpose, and routes with personal data are audited.
 */
export const makeGuard = (options: {
  readonly registry: Pick<TokenRegistry, "authenticate">
  readonly access?: AccessLog | undefined
  readonly bodyIdleMs?: number | undefined
  /** Called once the request presented a valid token (the connection is then trusted). */
  readonly authenticated?: ((req: IncomingMessage) => void) | undefined
  /** Tenant names with capitals this server takes as written (its write keys': knownSpellings). */
  readonly knownTenants?: ReadonlySet<string> | undefined
}) =>
  (req: IncomingMessage, match: RouteMatch, handler: Handler): Effect.Effect<QueryReply> =>
    Effect.gen(function* () {
      const { route } = match
      const method = req.method ?? "GET"
      const url = new URL(req.url ?? "/", "http://collector")
      const queryTenants = url.searchParams.getAll("tenant")
      // A refusal is filed under the tenant named, only if it is one a tenant could have.
      const known = options.knownTenants
      const usable = (t: string) => tenantNameProblem(t, known) === undefined
      const named = (match.pathTenant !== undefined && usable(match.pathTenant) ? match.pathTenant : undefined) ?? queryTenants.find(usable)
      const audit = (principal: Principal | undefined, tenant: string | undefined, reply: QueryReply, tokenId?: string, read?: Pick<AccessRecord, "purpose" | "identifiers">) => {
        const denied = reply.status === 401 || reply.status === 403
        if (options.access === undefined || route.audit === "none") return
        if ("ownTrail" in route && !READ_METHODS.has(method) && reply.status >= 200 && reply.status < 300) return
        const t = tenant ?? DEFAULT_TENANT
        const rawSubject = route.subject?.(match.path)
        let subjectText = rawSubject
        if (rawSubject !== undefined) {
          try {
            subjectText = decodeURIComponent(rawSubject)
          } catch { /* hashed as sent */ }
        }
        const rule = (reply.body as { rule?: string }).rule
        options.access.record(t, {
          atMs: Date.now(), tokenId: principal?.tokenId ?? tokenId ?? null, role: principal?.role ?? null,
          route: route.template, method, ...(subjectText === undefined ? {} : { subjectText }), outcome: denied ? "denied" : "granted", status: reply.status,
          ...(denied && rule !== undefined ? { rule } : {}), ...read,
        })
      }
      const auth = options.registry.authenticate(req)
      if (!("scopes" in auth)) {
        const reply = refuse(auth.status, auth.rule, auth.message, undefined, BEARER_CHALLENGE)
        audit(undefined, named, reply, auth.tokenId)
        return reply
      }
      const principal = auth
      const scope = READ_METHODS.has(method) ? route.read : route.write
      if (scope !== ANY_TOKEN && !principal.scopes.has(scope)) {
        const reply = refuse(403, "missing_scope",
          `${method} ${route.template} needs the scope ${scope}, which this token (${principal.tokenId}, role ${principal.role}) does not hold`)
        audit(principal, principal.tenant ?? named, reply)
        return reply
      }
      if (match.badPathTenant !== undefined) {
        const reply = refuse(400, "bad_tenant", match.badPathTenant, "tenant")
        audit(principal, principal.tenant, reply)
        return reply
      }
      // Checked here for every route, so no handler reads a tenant nobody can have (empty, a newline, 5,000 bytes),
      // nor makes one by a typo ("ACME" beside "acme"). A bound token's own tenant is taken as written; it is not told
      // the spellings with capitals of other tenants (another's is refused 403 below, or 400 as any capitals are).
      const pathProblem = match.pathTenant === undefined || match.pathTenant === principal.tenant
        ? undefined : tenantNameProblem(match.pathTenant, principal.tenant === undefined ? known : undefined)
      if (pathProblem !== undefined) {
        const reply = refuse(400, "bad_tenant", `the path's tenant ${pathProblem}`, "tenant")
        audit(principal, principal.tenant, reply)
        return reply
      }
      const queryProblem = queryTenantProblem(queryTenants, principal.tenant, known)
      if (queryProblem !== undefined) {
        audit(principal, principal.tenant, queryProblem)
        return queryProblem
      }
      const bound = principal.tenant !== undefined
      const forbidden = (own: string, where: string, field: string) => {
        const reply = otherTenant("token", own, where, field)
        audit(principal, own, reply)
        return reply
      }
      if (bound && match.pathTenant !== undefined && match.pathTenant !== principal.tenant) return forbidden(principal.tenant, "path", "path")
      if (bound && queryTenants.some((t) => t !== principal.tenant)) return forbidden(principal.tenant, "query string", "tenant")
      const tenantsNamed = new Set([...(match.pathTenant === undefined ? [] : [match.pathTenant]), ...queryTenants])
      if (!bound && tenantsNamed.size > 1) {
        const names = [...tenantsNamed].map((t) => `"${t}"`).join(" and ")
        return refuse(400, "conflicting_tenant", `the ${match.pathTenant === undefined ? "query string names" : "path and the query string name"} two tenants, ${names}: name one`, "tenant")
      }
      const tenant = principal.tenant ?? named
      options.authenticated?.(req)
      if (!READ_METHODS.has(method)) {
        const text = yield* receiveBody(req, route.bodyLimit ?? DEFAULT_BODY_LIMIT, options.bodyIdleMs)
        if (text instanceof BodyTooLarge) return refuse(413, "body_too_large", `a body may be at most ${(route.bodyLimit ?? DEFAULT_BODY_LIMIT) / 1024} KB`)
        if (text instanceof Error) {
          const r = bodyErrorReply(text)
          return refuse(r.status, r.rule, r.message)
        }
        const checked = checkBody(text, tenant, bound, bound ? undefined : known)
        if (typeof checked !== "string") {
          audit(principal, tenant, checked)
          return checked
        }
        preReadBodies.set(req, checked)
      }
      // The handler reads the tenant from the query string: the effective one is written there.
      url.searchParams.delete("tenant")
      if (tenant !== undefined) url.searchParams.set("tenant", tenant)
      const masking = route.name === "profiles" && !principal.scopes.has("profiles:identifiers")
      const page: ProfilePage = match.path.endsWith("/events") ? "events" : match.path.endsWith("/identifiers") ? "identifiers" : "profile"
      const cursor = url.searchParams.get("cursor")
      if (masking && page !== "profile" && cursor !== null) {
        // A cursor names the last row shown (an identifier, a message id): masked callers only get (and give back) sealed ones.
        const opened = unsealCursor(cursor)
        if (opened === undefined) {
          const reply = refuse(400, "bad_cursor", "?cursor= is not a cursor this API gave (pass nextCursor as it is)", "cursor")
          audit(principal, tenant, reply)
          return reply
        }
        url.searchParams.set("cursor", opened)
      }
      if (masking && page === "events" && url.searchParams.getAll("event").some(holdsAlwaysMasked)) {
        // The answer masks it, but which events match would tell whether the hidden address or number is there.
        const reply = refuse(400, "masked_filter", "?event= holds an e-mail address or a phone number, which this token sees [masked]: " +
          "filtering by it would reveal them (a token with profiles:identifiers may)", "event")
        audit(principal, tenant, reply)
        return reply
      }
      req.url = `${match.path}${url.search}`
      let reply = yield* handler(req, principal)
      if (masking && reply.status === 200) {
        const masked = yield* maskProfileAnswer(page, reply.body, url.searchParams.get("purpose") ?? DEFAULT_READ_PURPOSE)
        reply = { ...reply, body: sealCursors(masked) }
      }
      // A profile read is recorded with its purpose and whether contact details were shown (an admin's never masked).
      const purpose = url.searchParams.get("purpose") ?? DEFAULT_READ_PURPOSE
      const hidden = (reply.body as { masked?: { kinds?: ReadonlyArray<string> } }).masked?.kinds?.length ?? 0
      const identifiers = !masking ? "shown" : page !== "profile" || hidden > 0 ? "masked" : "shown"
      audit(principal, tenant, reply, undefined, route.name === "profiles" && reply.status === 200 ? { purpose, identifiers } : undefined)
      return reply
    })

/** What a collector request is sent with: an API token (with the ingest scope) or a write key. */
export type CredentialKind = "token" | "write key"

/**
 * The 400 for a ?tenant= that is not a tenant's name (empty, "..", 5,000 bytes, "ACME"), or undefined. A credential's
 * own tenant (`own`) is taken as written, and one bound to a tenant is not told other tenants' spellings (`known`).
 */
const queryTenantProblem = (named: ReadonlyArray<string>, own: string | undefined, known: ReadonlySet<string> | undefined): QueryReply | undefined => {
  for (const t of named) {
    const problem = t === own ? undefined : tenantNameProblem(t, own === undefined ? known : undefined)
    if (problem !== undefined) return refuse(400, "bad_tenant", `?tenant ${problem}`, "tenant")
  }
  return undefined
}

/** The 403 for a request naming a tenant other than its credential's, naming where (the path, the query string, ...). */
const otherTenant = (kind: CredentialKind, tenant: string, where: string, field: string) =>
  refuse(403, "tenant_forbidden", `this ${kind} is bound to tenant "${tenant}": the ${where} names another tenant`, field)

/**
 * The tenant a collector request sends for, from its credential's tenant (undefined: an API token bound to none) and
 * the ?tenant= values its query string names, or why it may not. Ignored, a bound token's or a write key's events
 * landed in its own tenant and an unbound token's in "default", whatever was named, answered 200. A credential bound
 * to a tenant sends only for it; one bound to none sends for the tenant named ("default" without one).
 */
export const tenantBesideCredential = (
  credential: { readonly kind: CredentialKind; readonly tenant: string | undefined },
  named: ReadonlyArray<string>,
  known?: ReadonlySet<string>,
): string | QueryReply => {
  const problem = queryTenantProblem(named, credential.tenant, known)
  if (problem !== undefined) return problem
  const { kind, tenant } = credential
  if (tenant !== undefined) return named.every((t) => t === tenant) ? tenant : otherTenant(kind, tenant, "query string", "tenant")
  const names = [...new Set(named)]
  if (names.length > 1) return refuse(400, "conflicting_tenant", `the query string names two tenants, ${names.map((t) => `"${t}"`).join(" and ")}: name one`, "tenant")
  return names[0] ?? DEFAULT_TENANT
}

/** The tenant a request with a Bearer token may send events for (its query's ?tenant= values given), or why it may not. */
export const ingestTenant = (
  registry: Pick<TokenRegistry, "authenticate">, req: IncomingMessage, query: URLSearchParams, known?: ReadonlySet<string>,
): string | QueryReply => {
  const auth = registry.authenticate(req)
  if (!("scopes" in auth)) return refuse(auth.status, auth.rule, auth.message, undefined, BEARER_CHALLENGE)
  if (!auth.scopes.has("ingest")) {
    return refuse(403, "missing_scope", `sending events needs the scope ingest, which this token (${auth.tokenId}, role ${auth.role}) does not hold`)
  }
  return tenantBesideCredential({ kind: "token", tenant: auth.tenant }, query.getAll("tenant"), known)
}

/** The path to log for a request: an API route's template where its path holds an identifier, else the path. */
export const loggedPath = (req: IncomingMessage): string | undefined => {
  const match = matchApiRoute(req)
  return match === undefined ? req.url?.split("?", 1)[0] : match.route.subject !== undefined ? match.route.template : match.path
}
