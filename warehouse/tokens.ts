// The API token tables' one owner: api_tokens (migration 050, hashes only, never a token) and api_token_uses (051).
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import { runMutation } from "./erasure.ts"
import { Warehouse } from "./warehouse.ts"
import { nextVersion } from "./versions.ts"

export interface TokenRecord {
  readonly id: string
  /** SHA-256 (hex) of the token. */
  readonly hash: string
  readonly role: string
  /** Undefined: every tenant. */
  readonly tenant: string | undefined
  readonly scopes: ReadonlyArray<string>
  readonly name: string
  readonly createdAtMs: number
  readonly expiresAtMs: number | null
  readonly revokedAtMs: number | null
}

const chTime = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "")

/** Writes a token's state (created, or revoked: the latest version is what it is now). */
export const storeToken = Effect.fn("storeToken")(function* (t: TokenRecord) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("api_tokens", [{
    token_id: t.id, token_hash: t.hash, role: t.role, tenant: t.tenant ?? "", scopes: t.scopes, name: t.name,
    created_at: chTime(t.createdAtMs), expires_at: t.expiresAtMs === null ? null : chTime(t.expiresAtMs),
    revoked_at: t.revokedAtMs === null ? null : chTime(t.revokedAtMs), version: nextVersion(),
  }])
})

interface TokenRow {
  token_id: string
  token_hash: string
  role: string
  tenant: string
  scopes: Array<string>
  name: string
  created_ms: string
  expires_ms: string | null
  revoked_ms: string | null
}

const SELECT = `SELECT token_id, token_hash, role, tenant, scopes, name, toUnixTimestamp64Milli(created_at) AS created_ms,
  toUnixTimestamp64Milli(expires_at) AS expires_ms, toUnixTimestamp64Milli(revoked_at) AS revoked_ms FROM api_tokens FINAL`

const recordOf = (r: TokenRow): TokenRecord => ({
  id: r.token_id, hash: r.token_hash, role: r.role, tenant: r.tenant === "" ? undefined : r.tenant, scopes: r.scopes, name: r.name,
  createdAtMs: Number(r.created_ms), expiresAtMs: r.expires_ms === null ? null : Number(r.expires_ms),
  revokedAtMs: r.revoked_ms === null ? null : Number(r.revoked_ms),
})

/** Every token, oldest first (revoked and expired ones too: the server keeps them to say why one is refused). */
export const allTokens = Effect.fn("allTokens")(function* () {
  const warehouse = yield* Warehouse
  return (yield* warehouse.query<TokenRow>(`${SELECT} ORDER BY created_at, token_id`)).map(recordOf)
})

/** One token by id or by hash, if there is one. */
export const findToken = Effect.fn("findToken")(function* (by: { readonly id: string } | { readonly hash: string }) {
  const warehouse = yield* Warehouse
  const rows = "id" in by
    ? yield* warehouse.query<TokenRow>(`${SELECT} WHERE token_id = {id:String}`, { params: { id: by.id } })
    : yield* warehouse.query<TokenRow>(`${SELECT} WHERE token_hash = {hash:String}`, { params: { hash: by.hash } })
  return rows.length === 0 ? undefined : recordOf(rows[0]!)
})

/** Records when tokens were last used (one row per token; the server batches them). */
export const storeTokenUses = Effect.fn("storeTokenUses")(function* (uses: ReadonlyMap<string, number>) {
  if (uses.size === 0) return
  const warehouse = yield* Warehouse
  yield* warehouse.insert("api_token_uses", [...uses].map(([id, ms]) => ({ token_id: id, last_used_at: chTime(ms) })))
})

/** When each token was last used, by id (tokens never used are absent). */
export const tokenLastUses = Effect.fn("tokenLastUses")(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ token_id: string; ms: string }>(
    "SELECT token_id, toUnixTimestamp64Milli(max(last_used_at)) AS ms FROM api_token_uses GROUP BY token_id")
  return new Map(rows.map((r) => [r.token_id, Number(r.ms)]))
})

/** Drops these tokens, every version of each and its last use (servers forget them at their next reload of the table). */
export const dropTokens = Effect.fn("dropTokens")(function* (ids: ReadonlyArray<string>) {
  if (ids.length === 0) return
  for (const table of ["api_tokens", "api_token_uses"]) {
    const marker = `cdp_token_drop_${randomBytes(6).toString("hex")}`
    yield* runMutation(table, `ALTER TABLE ${table} DELETE WHERE token_id IN {ids:Array(String)} AND {marker:String} != ''`, marker,
      { params: { ids, marker }, mutation: "the token drop's mutation" })
  }
})

/**
 * Drops the tokens that stopped working (revoked, or expired, whichever came first) before `beforeMs` and returns how
 * many: a retention pass's (CDP_RETENTION tokens). A request with one is then answered as an unknown token.
 */
export const dropStoppedTokens = Effect.fn("dropStoppedTokens")(function* (beforeMs: number) {
  const warehouse = yield* Warehouse
  const before = chTime(beforeMs)
  const rows = yield* warehouse.query<{ token_id: string }>(
    "SELECT token_id FROM api_tokens FINAL WHERE (revoked_at IS NOT NULL AND revoked_at < {before:DateTime64(3, 'UTC')}) " +
      "OR (expires_at IS NOT NULL AND expires_at < {before:DateTime64(3, 'UTC')})", { params: { before } })
  yield* dropTokens(rows.map((r) => r.token_id))
  return rows.length
})

/**
 * Drops each tenant's stopped (revoked or expired by `nowMs`) tokens past the newest `keep`, by when they stopped
 * (revoked or expired, whichever came first), and returns their ids: CDP_MAX_TOKENS, kept when a tenant makes or
 * revokes a token (`only` that tenant; undefined names the unbound tokens, counted together) and by the retention pass
 * (every tenant). Kept only by time, a tenant making and revoking tokens in a loop grew this table, and every server's
 * copy of it, without end.
 */
export const dropStoppedBeyond = Effect.fn("dropStoppedBeyond")(function* (
  keep: number, nowMs: number, only?: { readonly tenant: string | undefined },
) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ token_id: string }>(
    "SELECT token_id FROM (SELECT token_id, row_number() OVER (PARTITION BY tenant ORDER BY " +
      "least(ifNull(revoked_at, expires_at), ifNull(expires_at, revoked_at)) DESC, token_id DESC) AS newest " +
      "FROM api_tokens FINAL WHERE (revoked_at IS NOT NULL OR expires_at <= {now:DateTime64(3, 'UTC')})" +
      `${only === undefined ? "" : " AND tenant = {tenant:String}"}) WHERE newest > {keep:UInt64}`,
    { params: { now: chTime(nowMs), keep, ...(only === undefined ? {} : { tenant: only.tenant ?? "" }) } })
  const ids = rows.map((r) => r.token_id)
  yield* dropTokens(ids)
  return ids
})

