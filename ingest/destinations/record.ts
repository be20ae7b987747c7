// What a destination receives of a profile: the fields its configuration maps (or the whole profile), the
// fingerprint that says whether it changed since the last delivery, and the shared shapes of every destination.
import { createHash } from "node:crypto"
import { type IdentifierKind, IDENTIFIER_KINDS, normaliseIdentifier } from "../../identity/index.ts"
import type { CandidateRow } from "../../warehouse/exports.ts"
import type { DestinationConfig } from "./config.ts"

export type Operation = "upsert" | "remove" | "erase"

/** One record of a batch: `key` is the profile id (upsert, remove) or the destination's record id (erase). */
export interface OutRecord {
  readonly key: string
  readonly profileId: string
  readonly remoteId: string
  readonly fields: Readonly<Record<string, unknown>>
  readonly fingerprint: string
}

export type ItemResult =
  | { readonly key: string; readonly ok: true; readonly remoteId: string }
  | { readonly key: string; readonly ok: false; readonly retryable: boolean; readonly detail: string }

/**
 * A request's outcome: `done` with a result per record (some may have failed); `retry` when the whole request may
 * succeed later (429, 5xx, limits), after `retryAfterMs` when the destination said; `refused` when it never will.
 * `pauseMs`: the destination's budget is spent (X-HubSpot-RateLimit-Remaining: 0), wait before the next request.
 */
export type SendResult =
  | { readonly kind: "done"; readonly status: number; readonly items: ReadonlyArray<ItemResult>; readonly detail: string; readonly pauseMs?: number }
  | { readonly kind: "retry"; readonly status: number; readonly detail: string; readonly retryAfterMs?: number | undefined; readonly giveUp?: boolean }
  | { readonly kind: "refused"; readonly status: number; readonly detail: string }

/** A request as it would go out (dry runs print it). */
export interface PlannedRequest {
  readonly method: string
  readonly url: string
  readonly body: unknown
}

export interface DestinationClient {
  readonly config: DestinationConfig
  readonly supports: ReadonlySet<Operation>
  /** Records per request for the operation (HubSpot's GDPR delete takes one). */
  readonly maxBatch: (op: Operation) => number
  readonly plan: (op: Operation, records: ReadonlyArray<OutRecord>, batchId: string) => PlannedRequest
  readonly send: (op: Operation, records: ReadonlyArray<OutRecord>, batchId: string, signal: AbortSignal) => Promise<SendResult>
}

const parseValue = (raw: string): unknown => {
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

/** The relationship traits of the latest relations run (undefined when it has not scored the profile). */
const relationshipOf = (row: CandidateRow) =>
  row.relationship_type === null || row.relationship_type === undefined ? undefined : {
    type: row.relationship_type, healthScore: row.health_score ?? null, churnRisk: row.churn_risk ?? null,
    sentimentTrend: row.sentiment_trend ?? null, asOf: row.relationship_as_of ?? null,
  }

/**
 * Whether a trait's value is one of the identifiers identity refused to the profile as claims (CandidateRow.claimed):
 * a string that reads as that identifier (normalised as identity does), e.g. traits.email stating the holder's address.
 */
const claimedValue = (claimed: ReadonlyArray<{ readonly kind: IdentifierKind; readonly value: string }>, v: unknown) =>
  typeof v === "string" && claimed.some((c) => {
    const n = normaliseIdentifier(c.kind, v)
    return n.ok && n.value === c.value
  })

/**
 * Identifier kind to its values, traits with their JSON values, the relationship when scored: the profile as a whole.
 * A value identity refused to the profile as a claim (another user id holds it) is left out, as an identifier and as
 * a trait: a CRM keyed by e-mail would otherwise upsert the claimant onto the holder's record.
 */
export const profileOf = (row: CandidateRow) => {
  const claimed = (row.claimed ?? []).flatMap((key) => {
    const cut = key.indexOf(":")
    const kind = key.slice(0, cut) as IdentifierKind
    return cut > 0 && IDENTIFIER_KINDS.has(kind) ? [{ kind, value: key.slice(cut + 1) }] : []
  })
  const claimedKeys = new Set(row.claimed ?? [])
  const byKind = new Map<string, Array<string>>()
  for (const [kind, value] of row.identifiers) {
    if (claimedKeys.has(`${kind}:${value}`)) continue
    const values = byKind.get(kind)
    if (values === undefined) byKind.set(kind, [value])
    else values.push(value)
  }
  // fromEntries keeps a name "__proto__" as a key (assigning it would set the object's prototype).
  const identifiers: Record<string, Array<string>> = Object.fromEntries(byKind)
  const traits: Record<string, unknown> = Object.fromEntries(Object.entries(row.traits ?? {}).map(([name, raw]) => [name, parseValue(raw)])
    .filter(([, v]) => claimed.length === 0 || !claimedValue(claimed, v)))
  return { profileId: row.profile_id, identifiers, traits, firstSeen: row.first_seen, lastSeen: row.last_seen, relationship: relationshipOf(row) }
}

type Profile = ReturnType<typeof profileOf>

const scalar = (v: unknown): unknown => (v === null || typeof v !== "object" ? v : JSON.stringify(v))

/** Field sources of the relationship traits (as the profiles view names them), to the record's keys. */
const RELATIONSHIP_SOURCES = {
  relationship_type: "type", health_score: "healthScore", churn_risk: "churnRisk", sentiment_trend: "sentimentTrend", relationship_as_of: "asOf",
} as const

const sourceValue = (p: Profile, source: string): unknown => {
  if (source.startsWith("=")) return source.slice(1)
  if (source === "profile_id") return p.profileId
  if (source === "first_seen") return p.firstSeen
  if (source === "last_seen") return p.lastSeen
  if (source in RELATIONSHIP_SOURCES) return p.relationship?.[RELATIONSHIP_SOURCES[source as keyof typeof RELATIONSHIP_SOURCES]] ?? undefined
  // Own entries only: "trait:constructor" names a trait, never what every object inherits.
  if (source.startsWith("identifier:")) return Object.hasOwn(p.identifiers, source.slice(11)) ? p.identifiers[source.slice(11)]![0] : undefined
  if (source.startsWith("trait:")) {
    const v = Object.hasOwn(p.traits, source.slice(6)) ? p.traits[source.slice(6)] : undefined
    return v === undefined || v === null || v === "" ? undefined : scalar(v)
  }
  return undefined
}

/** A field's value: the first of its "|" fallbacks that the profile has. */
export const mapField = (p: Profile, spec: string): unknown => {
  for (const source of spec.split("|")) {
    const v = sourceValue(p, source)
    if (v !== undefined) return v
  }
  return undefined
}

export const mapFields = (p: Profile, fields: Readonly<Record<string, string>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [name, spec] of Object.entries(fields)) {
    const v = mapField(p, spec)
    if (v !== undefined) out[name] = v
  }
  return out
}

/** Keys in a fixed order, so equal content always hashes the same. */
const canonical = (v: unknown): string => {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null"
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`
}

export const fingerprintOf = (fields: unknown): string => createHash("sha256").update(canonical(fields)).digest("hex").slice(0, 32)

/**
 * A batch's id from what it carries: a retried or re-run batch of the same records has the same id (the webhook's
 * Idempotency-Key, the file's name), so the receiving side can tell it already has it.
 */
export const batchIdOf = (destination: string, op: Operation, records: ReadonlyArray<OutRecord>): string => {
  const h = createHash("sha256").update(`${destination}\n${op}\n`)
  for (const r of records) h.update(`${r.key}\t${r.fingerprint}\n`)
  return `b_${h.digest("hex").slice(0, 24)}`
}

/** The record id a webhook or file consumer keys a profile by: stable per destination, not the identifiers. */
export const recordIdOf = (tenant: string, destination: string, profileId: string): string =>
  `r_${createHash("sha256").update(`${tenant}\0${destination}\0${profileId}`).digest("hex").slice(0, 32)}`

/** The profile as the destination's fields (its configured mapping, else the whole profile). */
export const buildRecord = (config: DestinationConfig, defaults: Readonly<Record<string, string>> | undefined, row: CandidateRow): OutRecord => {
  const p = profileOf(row)
  const mapping = config.fields ?? defaults
  const fields = mapping === undefined
    ? {
      profileId: p.profileId, identifiers: p.identifiers, traits: p.traits, firstSeen: p.firstSeen, lastSeen: p.lastSeen,
      // Only once scored: a profile relations never scored keeps the content (and fingerprint) it had.
      ...(p.relationship === undefined ? {} : { relationship: p.relationship }),
    }
    : mapFields(p, mapping)
  return { key: p.profileId, profileId: p.profileId, remoteId: row.remote_id ?? "", fields, fingerprint: fingerprintOf(fields) }
}
