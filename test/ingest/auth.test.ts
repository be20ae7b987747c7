// Scoped API tokens on a real collector (embedded engine): every role against every route, every cross-tenant attempt
// (path, query string, body), tokens shown once and stored hashed, revoked and expired ones refused, identifiers
// masked for marketers by purpose, and every access to personal data in the audit log.
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { auditSigner, readAudit, verifyAudit } from "../../consent/audit.ts"
import { identifierKey, loadSecret, makeKeys } from "../../consent/keys.ts"
import {
  ADMIN_TOKEN_ID, ALL_SCOPES, ANY_TOKEN, API_ROUTES, hashToken, parseExpiry, ROLE_NAMES, ROLES, type Role, type Scope as TokenScope, SCOPES, TokenInvalid, validateTokenInput,
} from "../../ingest/auth.ts"
import { parseComputedTraits, syncComputedTraits } from "../../identity/index.ts"
import { Collector } from "../../ingest/collector.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN, withApi as withCollector } from "../support/api.ts"
import { checkResponse, templateOf } from "../support/openapi.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, type PipelineServices, query, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ADMIN = TEST_ADMIN_TOKEN

const withApi = <A, E>(program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Scope.Scope>) => withCollector(dir, program)

type Body = ApiBody

const call = callApi

const makeToken = (url: string, request: Record<string, unknown>) =>
  Effect.gen(function* () {
    const res = yield* call(url, "POST", "/v1/tokens", ADMIN, request)
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    return { token: res.body.token as string, id: res.body.details.id as string }
  })

/** Polls until `check` passes (the pipeline lands messages asynchronously). */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 200; i++) {
      const a = yield* effect
      if (check(a)) return a
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.die(new Error("condition not reached in 10 s"))
  })

const seed = (url: string) =>
  Effect.gen(function* () {
    const send = (key: string, body: unknown) => Effect.promise(() =>
      fetch(`${url}/v1/identify`, { method: "POST", headers: { authorization: basicAuth(key), "content-type": "application/json" }, body: JSON.stringify(body) })
        .then((r) => r.status))
    expect(yield* send(WRITE_KEY, { userId: "ann", messageId: "a1", traits: { email: "ann@acme.example", plan: "pro" } })).toBe(200)
    expect(yield* send(OTHER_TENANT_KEY, { userId: "gus", messageId: "g1", traits: { email: "gus@globex.example" } })).toBe(200)
    yield* eventually(call(url, "GET", "/v1/profiles/user_id:ann?tenant=acme", ADMIN), (r) => r.status === 200)
    yield* eventually(call(url, "GET", "/v1/profiles/user_id:gus?tenant=globex", ADMIN), (r) => r.status === 200)
  })

/** One request per route and method, with the scope the table says it needs. */
const PROBES: ReadonlyArray<{ route: string; method: string; path: string; body?: unknown; scope: TokenScope | typeof ANY_TOKEN }> = [
  { route: "query", method: "POST", path: "/v1/query", body: { sql: "SELECT 1 AS x", tenant: "acme" }, scope: "query" },
  { route: "profiles", method: "GET", path: "/v1/profiles/user_id:ann?tenant=acme", scope: "profiles:read" },
  { route: "profiles", method: "GET", path: "/v1/profiles/user_id:ann/events?tenant=acme", scope: "profiles:read" },
  { route: "consent", method: "GET", path: "/v1/consent/user_id:ann?tenant=acme", scope: "consent:read" },
  { route: "identity", method: "GET", path: "/v1/identity/suggestions?tenant=acme", scope: "identity:read" },
  { route: "identity", method: "POST", path: "/v1/identity/split", body: { identifier: "user_id:nobody", reason: "probe", tenant: "acme" }, scope: "identity:write" },
  { route: "dsr", method: "GET", path: "/v1/dsr?tenant=acme", scope: "dsr:read" },
  { route: "dsr", method: "POST", path: "/v1/dsr", body: { type: "access", identifier: "user_id:nobody", tenant: "acme" }, scope: "dsr:write" },
  { route: "audiences", method: "GET", path: "/v1/audiences?tenant=acme", scope: "audiences:read" },
  { route: "audiences", method: "POST", path: "/v1/audiences", body: { tenant: "acme" }, scope: "audiences:write" },
  { route: "tokens", method: "GET", path: "/v1/tokens", scope: "tokens:manage" },
  { route: "tokens", method: "POST", path: "/v1/tokens", body: { role: "collector", tenant: "acme" }, scope: "tokens:manage" },
  { route: "exports", method: "GET", path: "/v1/exports?tenant=acme", scope: "exports:read" },
  { route: "exports", method: "GET", path: "/v1/exports/crm/history?tenant=acme", scope: "exports:read" },
  { route: "exports", method: "POST", path: "/v1/exports/run", body: { tenant: "acme" }, scope: "exports:write" },
  { route: "exports", method: "POST", path: "/v1/exports/crm/dry-run", body: { tenant: "acme" }, scope: "exports:write" },
  { route: "listening", method: "GET", path: "/v1/listening/report?tenant=acme", scope: "listening:read" },
  { route: "deadLetters", method: "GET", path: "/v1/dead-letters?tenant=acme", scope: "dead-letters:read" },
  { route: "deadLetters", method: "POST", path: "/v1/dead-letters/retry", body: { tenant: "acme", rule: "none_such" }, scope: "dead-letters:write" },
  { route: "relations", method: "GET", path: "/v1/relations/report?tenant=acme", scope: "relations:read" },
  { route: "relations", method: "GET", path: "/v1/relations/explain/user_id:ann?tenant=acme", scope: "relations:read" },
  { route: "relations", method: "POST", path: "/v1/relations/compute", body: { tenant: "acme", asOf: "2024-11-01" }, scope: "relations:write" },
  { route: "operations", method: "GET", path: "/v1/operations?tenant=acme", scope: "operations:read" },
  { route: "operations", method: "POST", path: "/v1/operations/rescore", body: { tenant: "acme", since: "2024-01-01" }, scope: "operations:write" },
  { route: "traits", method: "POST", path: "/v1/traits/preview", body: { definition: { name: "n", kind: "count" }, tenant: "acme" }, scope: "profiles:read" },
  { route: "audit", method: "GET", path: "/v1/audit?tenant=acme", scope: "audit:read" },
  { route: "audit", method: "GET", path: "/v1/audit/verify", scope: "audit:read" },
  // Every valid token reads what it is and may do.
  { route: "me", method: "GET", path: "/v1/me", scope: ANY_TOKEN },
]

describe("the route table", () => {
  it("gives every route a known scope for reads and writes, and every role only known scopes", () => {
    expect(API_ROUTES.length).toBeGreaterThan(0)
    for (const route of API_ROUTES) {
      expect([...Object.keys(SCOPES), ANY_TOKEN], route.name).toContain(route.read)
      expect([...Object.keys(SCOPES), ANY_TOKEN], route.name).toContain(route.write)
      expect(route.template.startsWith("/v1/"), route.name).toBe(true)
    }
    for (const role of ROLE_NAMES) for (const s of ROLES[role]) expect(Object.keys(SCOPES), role).toContain(s)
    expect(new Set(ROLES.admin)).toEqual(new Set(ALL_SCOPES))
    // Every route in the table is probed below with each of its scopes.
    for (const route of API_ROUTES) {
      expect(PROBES.some((p) => p.route === route.name && p.scope === route.read), `${route.name} read`).toBe(true)
      expect(PROBES.some((p) => p.route === route.name && p.scope === route.write), `${route.name} write`).toBe(true)
    }
  })
})

describe("a token request", () => {
  const now = Date.parse("2026-06-01T12:00:00Z")
  it("names what is wrong: role, scopes outside the role or unknown, tenant, expiry", () => {
    const field = (input: Parameters<typeof validateTokenInput>[0]) => {
      const r = validateTokenInput(input, now)
      return r instanceof TokenInvalid ? `${r.field}: ${r.message}` : "ok"
    }
    expect(field({ role: "root" })).toMatch(/^role: role must be one of collector, marketer, compliance, admin/)
    expect(field({ role: "marketer", scopes: ["profiles:raed"] })).toMatch(/^scopes: unknown scope "profiles:raed"/)
    expect(field({ role: "marketer", scopes: ["dsr:write"] })).toMatch(/^scopes: scope "dsr:write" is not the marketer role's/)
    expect(field({ role: "marketer", scopes: [" "] })).toMatch(/^scopes: name at least one scope/)
    expect(field({ role: "marketer", tenant: "" })).toMatch(/^tenant:/)
    expect(field({ role: "marketer", tenant: "a b" })).toMatch(/^tenant:/)
    // A label people read in lists: control characters (an escape sequence, a bidi override) are no part of one.
    for (const name of ["ci\u001b[2J", "a\u0000b", "x\u202egnp.exe", "tab\there", "line\nbreak"]) {
      expect(field({ role: "marketer", name }), JSON.stringify(name)).toMatch(/^name: name must be a label .* without control characters/)
    }
    expect(field({ role: "marketer", name: "CI deploy — café 😀" })).toBe("ok")
    // An invisible character makes a name that looks like another: refused, naming its code point.
    for (const [name, point] of [["ci\u200bdeploy", "U+200B"], ["\ufeffci", "U+FEFF"], ["c\u00adi", "U+00AD"], ["ci\u2028", "U+2028"]]) {
      expect(field({ role: "marketer", name: name! }), JSON.stringify(name)).toMatch(new RegExp(`^name: name must be a label .*holds ${point!.replace("+", "\\+")}`))
    }
    expect((validateTokenInput({ role: "marketer", name: "Cafe\u0301" }, now) as { name: string }).name).toBe("Caf\u00e9")
    expect(field({ role: "admin", expires: "yesterday" })).toMatch(/^expires: expiry "yesterday" is not a date/)
    expect(field({ role: "admin", expires: "2026-06-01" })).toMatch(/is not in the future/)
    expect(field({ role: "admin", name: "x".repeat(201) })).toMatch(/^name:/)
    expect(validateTokenInput({ role: "compliance", scopes: ["dsr:read", "dsr:read"], expires: "30d" }, now))
      .toEqual({ role: "compliance", tenant: undefined, scopes: ["dsr:read"], name: "", expiresAtMs: now + 30 * 86_400_000 })
    expect(parseExpiry("2027-01-31", now)).toBe(Date.parse("2027-01-31T00:00:00Z"))
    expect(parseExpiry("2027-01-31T12:00:00+02:00", now)).toBe(Date.parse("2027-01-31T10:00:00Z"))
    expect(parseExpiry("12h", now)).toBe(now + 12 * 3_600_000)
  })
})

describe("scoped API tokens", () => {
  it("every role on every route: 2xx/4xx where its scopes allow, 403 missing_scope where not, 401 without a token", () =>
    withApi((url) => Effect.gen(function* () {
      yield* seed(url)
      const tokens = new Map<Role, string>()
      for (const role of ROLE_NAMES) tokens.set(role, (yield* makeToken(url, { role, name: `${role} probe` })).token)
      for (const probe of PROBES) {
        const anonymous = yield* call(url, probe.method, probe.path, null, probe.body)
        expect(anonymous.status, `${probe.method} ${probe.path} without a token`).toBe(401)
        expect(anonymous.body.rule).toBe("missing_token")
        for (const role of ROLE_NAMES) {
          const res = yield* call(url, probe.method, probe.path, tokens.get(role)!, probe.body)
          const what = `${role}: ${probe.method} ${probe.path} -> ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`
          if (probe.scope === ANY_TOKEN || (ROLES[role] as ReadonlyArray<string>).includes(probe.scope)) {
            expect([401, 403], what).not.toContain(res.status)
            expect(res.status, what).toBeLessThan(500)
          } else {
            expect(res.status, what).toBe(403)
            expect(res.body, what).toMatchObject({ success: false, rule: "missing_scope" })
            expect(res.body.error, what).toContain(probe.scope)
          }
          checkResponse(templateOf(probe.path), probe.method, res.status, res.body)
        }
      }
      // Ingest: a collector token sends like a write key; a marketer's may not.
      const track = (token: string) => call(url, "POST", "/v1/track", token, { userId: "ann", event: "Probe", messageId: `m-${token.slice(-6)}` })
      expect((yield* track(tokens.get("collector")!)).status).toBe(200)
      expect((yield* track(tokens.get("marketer")!))).toMatchObject({ status: 403, body: { rule: "missing_scope" } })
      expect((yield* track("cdp_not_a_real_token_at_all_000000000000000")).status).toBe(401)
      // And on the webhooks, as a write key does.
      const hook = (token: string) => call(url, "POST", "/v1/webhooks/social", token,
        { id: `p-${token.slice(-6)}`, network: "forum", author_handle: "h", text: "a post", created_at: "2024-09-02T11:39:49Z" })
      expect(yield* hook(tokens.get("collector")!)).toMatchObject({ status: 200, body: { accepted: 1 } })
      expect(yield* hook(tokens.get("compliance")!)).toMatchObject({ status: 403, body: { rule: "missing_scope" } })
    })), 120_000)

  it("a token bound to a tenant is refused 403 for another tenant named in the path, the query string or the body; another tenant's request or token by id is 404 as an unknown id; naming none is its own tenant", () =>
    withApi((url) => Effect.gen(function* () {
      yield* seed(url)
      const marketer = (yield* makeToken(url, { role: "marketer", tenant: "acme" })).token
      const compliance = (yield* makeToken(url, { role: "compliance", tenant: "acme" })).token
      const admin = (yield* makeToken(url, { role: "admin", tenant: "acme" })).token
      const collector = (yield* makeToken(url, { role: "collector", tenant: "acme" })).token
      const refused = (res: { status: number; body: Body }, field: string, what: string) => {
        expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(403)
        expect(res.body, what).toMatchObject({ success: false, rule: "tenant_forbidden", field })
        expect(res.body.error, what).toContain('bound to tenant "acme"')
      }
      // Path.
      refused(yield* call(url, "GET", "/v1/tenants/globex/profiles/user_id:gus", marketer), "path", "marketer, path")
      refused(yield* call(url, "GET", "/v1/tenants/globex/profiles/user_id:gus/events", marketer), "path", "marketer, timeline path")
      refused(yield* call(url, "GET", "/v1/tenants/globex/consent/user_id:gus", compliance), "path", "compliance, path")
      refused(yield* call(url, "POST", "/v1/tenants/globex/dsr", compliance, { type: "access", identifier: "user_id:gus" }), "path", "compliance, dsr path")
      refused(yield* call(url, "POST", "/v1/tenants/globex/query", admin, { sql: "SELECT 1" }), "path", "admin, query path")
      refused(yield* call(url, "GET", "/v1/tenants/globex/audiences", marketer), "path", "marketer, audiences path")
      refused(yield* call(url, "GET", "/v1/tenants/globex/exports", marketer), "path", "marketer, exports path")
      refused(yield* call(url, "POST", "/v1/tenants/globex/exports/run", admin, {}), "path", "admin, export run path")
      refused(yield* call(url, "GET", "/v1/tenants/globex/listening/report", marketer), "path", "marketer, listening path")
      refused(yield* call(url, "GET", "/v1/tenants/globex/audit", compliance), "path", "compliance, audit path")
      // Query string, also hidden behind a first tenant= that is the token's.
      refused(yield* call(url, "GET", "/v1/profiles/user_id:gus?tenant=globex", marketer), "tenant", "marketer, query")
      refused(yield* call(url, "GET", "/v1/profiles/user_id:gus?tenant=acme&tenant=globex", marketer), "tenant", "marketer, second tenant=")
      refused(yield* call(url, "GET", "/v1/profiles/user_id:gus/events?tenant=globex", marketer), "tenant", "marketer, timeline query")
      refused(yield* call(url, "GET", "/v1/consent/user_id:gus?tenant=globex", compliance), "tenant", "compliance, query")
      refused(yield* call(url, "GET", "/v1/audiences?tenant=globex", marketer), "tenant", "marketer, audiences query")
      refused(yield* call(url, "GET", "/v1/dsr?tenant=globex", compliance), "tenant", "compliance, dsr list")
      refused(yield* call(url, "GET", "/v1/exports/crm/history?tenant=globex", marketer), "tenant", "marketer, export history query")
      refused(yield* call(url, "GET", "/v1/listening/report?tenant=globex", marketer), "tenant", "marketer, listening query")
      refused(yield* call(url, "GET", "/v1/audit?tenant=globex", compliance), "tenant", "compliance, audit query")
      refused(yield* call(url, "GET", "/v1/audit/verify?tenant=globex", compliance), "tenant", "compliance, audit verify query")
      refused(yield* call(url, "GET", "/v1/identity/suggestions?tenant=globex", admin), "tenant", "admin, suggestions")
      refused(yield* call(url, "GET", "/v1/tokens?tenant=globex", admin), "tenant", "admin, tokens")
      // Body.
      refused(yield* call(url, "POST", "/v1/dsr", compliance, { type: "erasure", identifier: "user_id:gus", tenant: "globex" }), "/tenant", "compliance, dsr body")
      refused(yield* call(url, "POST", "/v1/audiences", marketer, { tenant: "globex", name: "x", purpose: "Personalization", condition: {} }), "/tenant", "marketer, audience body")
      refused(yield* call(url, "POST", "/v1/query", admin, { sql: "SELECT count() AS n FROM events", tenant: "globex" }), "/tenant", "admin, query body")
      refused(yield* call(url, "POST", "/v1/query", admin, { sql: "SELECT count() AS n FROM events", allTenants: true }), "/allTenants", "admin, allTenants")
      refused(yield* call(url, "POST", "/v1/identity/split", admin, { identifier: "user_id:gus", reason: "x", tenant: "globex" }), "/tenant", "admin, split body")
      refused(yield* call(url, "POST", "/v1/exports/run", admin, { tenant: "globex" }), "/tenant", "admin, export run body")
      refused(yield* call(url, "POST", "/v1/exports/crm/dry-run", admin, { tenant: "globex", full: true }), "/tenant", "admin, export dry-run body")
      refused(yield* call(url, "POST", "/v1/tokens", admin, { role: "admin", tenant: "globex" }), "/tenant", "admin, token for another tenant")
      // A tenant named twice is refused before the tenant is even looked at: no reader gets to choose one of them.
      const twice = yield* call(url, "POST", "/v1/query", admin, `{"sql": "SELECT 1", "tenant": "acme", "tenant": "globex"}`)
      expect(twice.status, "admin, duplicate key").toBe(400)
      expect(twice.body, "admin, duplicate key").toMatchObject({ success: false, rule: "duplicate_key", field: "/tenant" })
      // Naming no tenant reads the token's own, never the default tenant or every tenant.
      const own = yield* call(url, "GET", "/v1/profiles/user_id:ann", marketer)
      expect(own.status, JSON.stringify(own.body)).toBe(200)
      expect(own.body.tenant).toBe("acme")
      expect((yield* call(url, "GET", "/v1/profiles/user_id:gus", marketer)).status).toBe(404)
      const rows = yield* call(url, "POST", "/v1/query", admin, { sql: "SELECT DISTINCT tenant FROM events" })
      expect(rows).toMatchObject({ status: 200, body: { rows: [{ tenant: "acme" }] } })
      const globexDsr = yield* call(url, "POST", "/v1/dsr", ADMIN, { type: "access", identifier: "user_id:gus", tenant: "globex" })
      expect(globexDsr.status).toBe(201)
      // Another tenant's request or token by id is answered as an unknown id (test/ingest/foreign-ids): a 403 would say it exists.
      expect(yield* call(url, "GET", `/v1/dsr/${globexDsr.body.request.id}`, compliance)).toMatchObject({ status: 404, body: { rule: "dsr_not_found" } })
      const listed = yield* call(url, "GET", "/v1/dsr", compliance)
      expect(listed.status).toBe(200)
      expect(listed.body.requests.every((r: Body) => r.tenant === "acme")).toBe(true)
      const tokens = yield* call(url, "GET", "/v1/tokens", admin)
      expect(tokens.body.tokens.length).toBeGreaterThan(0)
      expect(tokens.body.tokens.every((t: Body) => t.tenant === "acme")).toBe(true)
      // Another tenant's token cannot be revoked by a bound admin: its id is answered as an unknown one.
      const globexToken = yield* makeToken(url, { role: "marketer", tenant: "globex" })
      expect(yield* call(url, "POST", `/v1/tokens/${globexToken.id}/revoke`, admin)).toMatchObject({ status: 404, body: { rule: "token_not_found", field: "/id" } })
      // A bound collector token sends into its own tenant only.
      expect((yield* call(url, "POST", "/v1/track", collector, { userId: "zed", event: "Bound", messageId: "bound-1" })).status).toBe(200)
      const landed = yield* eventually(query<{ tenant: string }>("SELECT tenant FROM events WHERE message_id = 'bound-1'"), (r) => r.length === 1)
      expect(landed[0]!.tenant).toBe("acme")
    })), 120_000)

  it("a token is shown once and stored only as its hash; revoked and expired tokens are refused", () =>
    withApi((url) => Effect.gen(function* () {
      /** The answer must be what openapi.json says the token route answers. */
      const checked = <T extends { status: number; body: Body }>(template: string, method: string, res: T) => {
        checkResponse(template, method, res.status, res.body)
        return res
      }
      const made = checked("/v1/tokens", "POST", yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme", name: "crm", scopes: ["profiles:read"] }))
      expect(made.status).toBe(201)
      const token = made.body.token as string
      expect(token).toMatch(/^cdp_[A-Za-z0-9_-]{43}$/)
      expect(made.body.details).toMatchObject({ role: "marketer", tenant: "acme", scopes: ["profiles:read"], status: "active", lastUsedAt: null })
      const stored = yield* query("SELECT * FROM api_tokens")
      expect(JSON.stringify(stored)).not.toContain(token)
      expect(JSON.stringify(stored)).not.toContain(token.slice(4))
      expect(stored.map((r) => r.token_hash)).toContain(hashToken(token))
      // Never shown again: not by list, not by inspect.
      const listed = checked("/v1/tokens", "GET", yield* call(url, "GET", "/v1/tokens", ADMIN))
      expect(JSON.stringify(listed.body)).not.toContain(token.slice(4))
      expect(JSON.stringify(listed.body)).not.toContain(hashToken(token))
      expect((yield* call(url, "GET", "/v1/profiles/user_id:nobody?tenant=acme", token)).status).toBe(404)
      const inspected = checked("/v1/tokens/inspect", "POST", yield* call(url, "POST", "/v1/tokens/inspect", ADMIN, { token }))
      checked("/v1/tokens/{id}", "GET", yield* call(url, "GET", `/v1/tokens/${made.body.details.id}`, ADMIN))
      expect(checked("/v1/tokens/{id}", "GET", yield* call(url, "GET", "/v1/tokens/tok_nosuchtoken", ADMIN)).status).toBe(404)
      // A GET of what is no token id is 404 naming it, not 405 'use GET or POST'; a GET of a POST route is 405 naming it.
      expect(yield* call(url, "GET", "/v1/tokens/nonsense", ADMIN)).toMatchObject({ status: 404, body: { rule: "token_not_found", field: "/id" } })
      expect((yield* call(url, "GET", "/v1/tokens/tok_abc", ADMIN)).body.error).toBe('no token "tok_abc": a token id is tok_ and 6-40 letters, digits, _ or - (GET /v1/tokens lists them)')
      expect(yield* call(url, "GET", "/v1/tokens/inspect", ADMIN)).toMatchObject({ status: 405, body: { error: "use POST /v1/tokens/inspect" } })
      expect(yield* call(url, "GET", `/v1/tokens/${made.body.details.id}/revoke`, ADMIN)).toMatchObject({ status: 405, body: { error: `use POST /v1/tokens/${made.body.details.id}/revoke` } })
      expect(inspected.body.details).toMatchObject({ id: made.body.details.id, role: "marketer", status: "active" })
      expect(inspected.body.details.lastUsedAt).not.toBeNull()
      expect(JSON.stringify(inspected.body)).not.toContain(token.slice(4))
      // A scope narrower than the role's holds.
      expect(checked("/v1/tokens", "GET", yield* call(url, "GET", "/v1/tokens", token)).status).toBe(403)
      expect(checked("/v1/tokens", "GET", yield* call(url, "GET", "/v1/tokens", null)).status).toBe(401)
      // A token that manages tokens cannot mint one that can do more than itself.
      const manager = (yield* makeToken(url, { role: "admin", scopes: ["tokens:manage", "profiles:read"] })).token
      expect(checked("/v1/tokens", "POST", yield* call(url, "POST", "/v1/tokens", manager, { role: "admin" }))).toMatchObject({ status: 403, body: { rule: "missing_scope", field: "/scopes" } })
      expect((yield* call(url, "POST", "/v1/tokens", manager, { role: "marketer", scopes: ["profiles:read"] })).status).toBe(201)
      // Bad requests name the field.
      expect(checked("/v1/tokens", "POST", yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", scopes: ["dsr:write"] }))).toMatchObject({ status: 400, body: { field: "/scopes" } })
      expect(yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "root" })).toMatchObject({ status: 400, body: { field: "/role" } })
      // A misspelt field is refused, not ignored: "scope" would have made a token with all of the role's scopes, "expire" one that never expires.
      expect(checked("/v1/tokens", "POST", yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", scope: ["profiles:read"] })))
        .toMatchObject({ status: 400, body: { rule: "bad_body", field: "/scope", error: 'unknown field "scope" (a token request takes role, tenant, scopes, name, expires)' } })
      expect(yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "admin", expire: "1d" })).toMatchObject({ status: 400, body: { rule: "bad_body", field: "/expire" } })
      expect(yield* call(url, "POST", "/v1/tokens/inspect", ADMIN, { token, id: "x" })).toMatchObject({ status: 400, body: { rule: "bad_body", field: "/id" } })
      expect(yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "admin", expires: "2001-01-01" })).toMatchObject({ status: 400, body: { field: "/expires" } })
      // Revoked: refused from the next request on.
      expect(checked("/v1/tokens/{id}/revoke", "POST", yield* call(url, "POST", `/v1/tokens/${made.body.details.id}/revoke`, ADMIN)).body)
        .toMatchObject({ details: { status: "revoked" }, wasActive: true })
      const revoked = yield* call(url, "GET", "/v1/profiles/user_id:nobody?tenant=acme", token)
      expect(revoked).toMatchObject({ status: 401, body: { rule: "token_revoked" } })
      checkResponse("/v1/profiles/{identifier}", "GET", revoked.status, revoked.body)
      // Expired.
      const soon = yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "compliance", expires: new Date(Date.now() + 1500).toISOString() })
      expect(soon.status).toBe(201)
      expect((yield* call(url, "GET", "/v1/consent/user_id:nobody?tenant=acme", soon.body.token)).status).toBe(404)
      yield* Effect.sleep("1600 millis")
      const expired = yield* call(url, "GET", "/v1/consent/user_id:nobody?tenant=acme", soon.body.token)
      expect(expired).toMatchObject({ status: 401, body: { rule: "token_expired" } })
      checkResponse("/v1/consent/{identifier}", "GET", expired.status, expired.body)
      // The data directory's admin token is still an admin token.
      expect((yield* call(url, "POST", "/v1/query", ADMIN, { sql: "SELECT 1 AS x", tenant: "acme" })).status).toBe(200)
    })), 60_000)

  it("a marketer sees e-mail addresses only when the read's purpose is consented; admins always", () =>
    withApi((url) => Effect.gen(function* () {
      yield* seed(url)
      const marketer = (yield* makeToken(url, { role: "marketer", tenant: "acme" })).token
      const masked = yield* call(url, "GET", "/v1/profiles/user_id:ann", marketer)
      expect(masked.status).toBe(200)
      checkResponse("/v1/profiles/{identifier}", "GET", masked.status, masked.body)
      expect(JSON.stringify(masked.body)).not.toContain("ann@acme.example")
      expect(masked.body.masked).toEqual({ purpose: "Personalization", kinds: ["email", "phone"] })
      expect(masked.body.identifiers.find((i: Body) => i.kind === "email")).toMatchObject({ value: "[masked]", raw: "[masked]" })
      expect(masked.body.traits.email.value).toBe("[masked]")
      expect(masked.body.traits.plan.value).toBe("pro")
      // SocialListening is a legitimate interest, allowed until the person objects: identifiers show.
      const listening = yield* call(url, "GET", "/v1/profiles/user_id:ann?purpose=SocialListening", marketer)
      expect(JSON.stringify(listening.body)).toContain("ann@acme.example")
      expect(listening.body.masked).toEqual({ purpose: "SocialListening", kinds: [] })
      expect(yield* call(url, "GET", "/v1/profiles/user_id:ann?purpose=Gossip", marketer)).toMatchObject({ status: 400, body: { rule: "bad_purpose", field: "purpose" } })
      // Identifier pages carry no consent: masked for a marketer, and their cursors sealed (a cursor names an identifier).
      const page = yield* call(url, "GET", "/v1/profiles/user_id:ann/identifiers?limit=1", marketer)
      expect(page.status, JSON.stringify(page.body)).toBe(200)
      expect(JSON.stringify(page.body)).not.toContain("ann@acme.example")
      expect(page.body.nextCursor).toMatch(/^s\./)
      const next = yield* call(url, "GET", `/v1/profiles/user_id:ann/identifiers?limit=1&cursor=${page.body.nextCursor}`, marketer)
      expect(next.status, JSON.stringify(next.body)).toBe(200)
      expect(JSON.stringify(next.body)).not.toContain("ann@acme.example")
      const forged = Buffer.from(JSON.stringify({ kind: "email", value: "a" })).toString("base64url")
      expect(yield* call(url, "GET", `/v1/profiles/user_id:ann/identifiers?cursor=${forged}`, marketer)).toMatchObject({ status: 400, body: { rule: "bad_cursor" } })
      expect(JSON.stringify((yield* call(url, "GET", "/v1/profiles/user_id:ann/identifiers?tenant=acme", ADMIN)).body)).toContain("ann@acme.example")
      // Once the person grants Personalization, the marketer sees the address.
      const granted = yield* Effect.promise(() => fetch(`${url}/v1/track`, {
        method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" },
        body: JSON.stringify({ userId: "ann", event: "Consent Given", messageId: "c1", context: { consent: { categoryPreferences: { Personalization: true } } } }),
      }).then((r) => r.status))
      expect(granted).toBe(200)
      const clear = yield* eventually(call(url, "GET", "/v1/profiles/user_id:ann", marketer), (r) => JSON.stringify(r.body).includes("ann@acme.example"))
      expect(clear.body.masked).toEqual({ purpose: "Personalization", kinds: [] })
      const admin = yield* call(url, "GET", "/v1/profiles/user_id:gus?tenant=globex", ADMIN)
      expect(JSON.stringify(admin.body)).toContain("gus@globex.example")
      expect(admin.body.masked).toBeUndefined()
    })), 60_000)

  it("a marketer's masked profile shows no e-mail address or phone number of the person inside other traits: nested, in lists, in text", () =>
    withApi((url) => Effect.gen(function* () {
      yield* syncComputedTraits(parseComputedTraits(JSON.stringify({ acme: [{ name: "last_reply_to", kind: "last", events: ["Replied"], of: "properties.replyTo" }] })))
      const traits = {
        email: "ann@acme.example", phone: "+44 20 7946 0958", plan: "pro", signedUp: "2024-10-01", order: "order 12345678",
        contact: { primary: "Ann@Acme.example", tel: "020 7946 0958", work: { mobile: "anything" } },
        aliases: ["ann@acme.example"], note: "reach me at ann@acme.example or +44 20 7946 0958", manager: "bob@acme.example",
        "ann@acme.example": true,
      }
      const sent = yield* Effect.promise(() => fetch(`${url}/v1/batch`, {
        method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" },
        body: JSON.stringify({ batch: [
          { type: "identify", userId: "ann", messageId: "m1", traits },
          { type: "track", userId: "ann", messageId: "m2", event: "Replied", properties: { replyTo: "Ann <ann@acme.example>" } },
        ] }),
      }).then((r) => r.status))
      expect(sent).toBe(200)
      const marketer = (yield* makeToken(url, { role: "marketer", tenant: "acme" })).token
      const masked = yield* eventually(call(url, "GET", "/v1/profiles/user_id:ann", marketer), (r) => r.status === 200 && r.body.traits.note !== undefined && r.body.computedTraits.last_reply_to?.value !== null)
      checkResponse("/v1/profiles/{identifier}", "GET", masked.status, masked.body)
      const values = Object.fromEntries(Object.entries(masked.body.traits as Record<string, Body>).map(([k, t]) => [k, t.value]))
      expect(values).toEqual({
        email: "[masked]", phone: "[masked]", plan: "pro", signedUp: "2024-10-01", order: "order 12345678",
        contact: { primary: "[masked]", tel: "[masked]", work: { mobile: "[masked]" } },
        aliases: ["[masked]"], note: "reach me at [masked] or [masked]", manager: "[masked]",
        "[masked]": true,
      })
      // A computed trait holding the address is masked as a trait is.
      expect(masked.body.computedTraits.last_reply_to.value).toBe("Ann <[masked]>")
      expect(JSON.stringify(masked.body)).not.toMatch(/acme\.example|7946/i)
      // Unmasked for an admin, as stated.
      const admin = yield* call(url, "GET", "/v1/profiles/user_id:ann?tenant=acme", ADMIN)
      expect(Object.fromEntries(Object.entries(admin.body.traits as Record<string, Body>).map(([k, t]) => [k, t.value]))).toEqual(traits)
    })), 60_000)

  it("granted and denied accesses to personal data go to the audit log with token id, role, route and subject hash, never the token or identifier", () =>
    Effect.runPromise(Effect.gen(function* () {
      let token = ""
      let id = ""
      let shownByDefault = ""
      yield* Effect.promise(() => withApi((url) => Effect.gen(function* () {
        yield* seed(url)
        const made = yield* makeToken(url, { role: "marketer", tenant: "acme" })
        token = made.token
        id = made.id
        const read = yield* call(url, "GET", "/v1/profiles/email:ann@acme.example", token)
        expect(read.status).toBe(200)
        shownByDefault = (read.body.masked.kinds as Array<string>).length === 0 ? "shown" : "masked"
        expect((yield* call(url, "GET", "/v1/profiles/email:ann@acme.example/events?purpose=Analytics", token)).status).toBe(200)
        expect((yield* call(url, "GET", "/v1/profiles/email:gus@globex.example?tenant=globex", token)).status).toBe(403)
        expect((yield* call(url, "GET", "/v1/consent/user_id:ann", token)).status).toBe(403)
        expect((yield* call(url, "GET", "/v1/profiles/user_id:ann?tenant=acme", "cdp_wrong_wrong_wrong_wrong_wrong_wrong_wrong")).status).toBe(401)
      })))
      // The server flushed its access records as it stopped.
      const store = ObjectStore.local(join(dir, "objects"))
      const entries = yield* readAudit.pipe(Effect.provide(store))
      // Appended to the one hash chain: it still verifies end to end.
      expect((yield* verifyAudit(yield* auditSigner(dir)).pipe(Effect.provide(store))).ok).toBe(true)
      const access = entries.filter((e) => e.kind === "api.access")
      expect(access.length).toBeGreaterThan(0)
      const records: Array<Body> = access.flatMap((e) => (e.data.records as Array<Body>).map((r): Body => ({ ...r, tenant: e.tenant })))
      const keys = makeKeys(yield* loadSecret(dir))
      expect(records).toContainEqual(expect.objectContaining({
        tenant: "acme", tokenId: id, role: "marketer", route: "/v1/profiles/{identifier}", outcome: "granted", status: 200,
        subject: identifierKey(keys, "acme", "email", "ann@acme.example"),
      }))
      // Each profile read says for which purpose it was made and whether contact details were shown for it.
      const reads = records.filter((r) => r.tokenId === id && r.outcome === "granted" && r.route === "/v1/profiles/{identifier}")
      expect(reads.map((r) => [r.purpose, r.identifiers])).toEqual([["Personalization", shownByDefault], ["Analytics", "masked"]])
      expect(records.filter((r) => r.outcome === "denied").every((r) => r.purpose === undefined)).toBe(true)
      expect(records).toContainEqual(expect.objectContaining({ tenant: "acme", tokenId: id, outcome: "denied", status: 403, rule: "tenant_forbidden" }))
      expect(records).toContainEqual(expect.objectContaining({ tokenId: id, route: "/v1/consent/{identifier}", outcome: "denied", rule: "missing_scope" }))
      expect(records).toContainEqual(expect.objectContaining({ tokenId: null, outcome: "denied", status: 401, rule: "unknown_token" }))
      expect(records.some((r) => r.tokenId === ADMIN_TOKEN_ID && r.outcome === "granted")).toBe(true)
      const text = JSON.stringify(entries)
      expect(text).not.toContain(token.slice(4))
      expect(text).not.toContain(ADMIN)
      expect(text).not.toContain("ann@acme.example")
      expect(text).not.toContain("gus@globex.example")
    })), 60_000)

  it("a DSR submitted through the API has one trail, its own entries, which name who submitted it; reads of it and refused submissions are accesses", () =>
    Effect.runPromise(Effect.gen(function* () {
      let id = ""
      let requestId = ""
      yield* Effect.promise(() => withApi((url) => Effect.gen(function* () {
        const made = yield* makeToken(url, { role: "compliance", tenant: "acme" })
        id = made.id
        const submitted = yield* call(url, "POST", "/v1/dsr", made.token, { type: "access", identifier: "user_id:nobody" })
        expect(submitted.status, JSON.stringify(submitted.body)).toBe(201)
        requestId = submitted.body.request.id
        expect((yield* call(url, "GET", `/v1/dsr/${requestId}`, made.token)).status).toBe(200)
        expect((yield* call(url, "POST", "/v1/dsr", made.token, { type: "access", identifier: "user_id:x", tenant: "globex" })).status).toBe(403)
        expect((yield* call(url, "POST", "/v1/dsr", made.token, { type: "nonsense", identifier: "user_id:x" })).status).toBe(400)
      })))
      const entries = yield* readAudit.pipe(Effect.provide(ObjectStore.local(join(dir, "objects"))))
      const records: Array<Body> = entries.filter((e) => e.kind === "api.access").flatMap((e) => e.data.records as Array<Body>)
      const dsrRecords = records.filter((r) => r.route === "/v1/dsr")
      expect(dsrRecords.map((r) => [r.method, r.status]).sort()).toEqual([["GET", 200], ["POST", 400], ["POST", 403]])
      const received = entries.find((e) => e.kind === "dsr.received" && e.requestId === requestId)
      expect(received?.data).toMatchObject({ submittedBy: { tokenId: id, role: "compliance" } })
    })), 60_000)
})
