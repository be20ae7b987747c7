// Suppression: after an erasure, the person's identifiers (as keyed hashes, consent/keys.ts) block re-ingestion: the
// consent stage drops their messages with reason "suppressed" (the collector still answers 2xx; the drop is counted),
// until they come back with fresh consent (a consent grant carried by a message of theirs: `liftSuppression` with
// reason "consent") or an operator lifts it (reason "operator").
import { Effect } from "effect"
import { type IdentifierKind, IDENTIFIER_KINDS, normaliseIdentifier } from "../identity/index.ts"
import type { NormaliseOptions } from "../identity/normalise.ts"
import { storeSuppressions, suppressedKeys } from "../warehouse/suppressions.ts"
import { identifierKey, Keys, type KeysShape } from "./keys.ts"
import type { Subject } from "./subject.ts"

export interface IdentifierLike {
  readonly kind: string
  readonly value: string
}

/** How long a process trusts its copy of a tenant's suppression list (another process may have erased someone). */
const CACHE_MS = 5_000

// Bumped by every change made in this process, so its own erasures take effect at once.
let generation = 0

/** The keys an identifier is suppressed under: its normalised form (and the value as given, when it does not normalise). */
const keysOf = (keys: KeysShape, tenant: string, id: IdentifierLike, options?: NormaliseOptions): ReadonlyArray<string> => {
  if (IDENTIFIER_KINDS.has(id.kind as IdentifierKind)) {
    const n = normaliseIdentifier(id.kind as IdentifierKind, id.value, options)
    if (n.ok) return [identifierKey(keys, tenant, id.kind, n.value)]
  }
  return [identifierKey(keys, tenant, id.kind, id.value)]
}

/** The subject's own identifiers (not the shared ones: a family device must not block the rest of the family). */
export const suppressionKeys = (keys: KeysShape, subject: Subject): ReadonlyArray<string> =>
  [...new Set(subject.identifiers.filter((i) => !i.shared).map((i) => identifierKey(keys, subject.tenant, i.kind, i.value)))].sort()

/** Records the subject's identifiers as suppressed (done before their data is erased, so nothing lands meanwhile). */
export const suppressSubject = Effect.fn("suppressSubject")(function* (subject: Subject, requestId = "") {
  const keys = yield* Keys
  const atMs = Date.now()
  const rows = suppressionKeys(keys, subject).map((key) => ({ tenant: subject.tenant, key, suppressed: true, reason: "erasure", requestId, atMs }))
  yield* storeSuppressions(rows)
  generation++
  return rows.length
})

/** Lifts the suppression of these identifiers: the person came back with fresh consent, or an operator decided. */
export const liftSuppression = Effect.fn("liftSuppression")(function* (
  tenant: string, identifiers: ReadonlyArray<IdentifierLike>, reason: "consent" | "operator", proof: string, options?: NormaliseOptions,
) {
  const keys = yield* Keys
  const atMs = Date.now()
  const all = [...new Set(identifiers.flatMap((i) => keysOf(keys, tenant, i, options)))]
  yield* storeSuppressions(all.map((key) => ({ tenant, key, suppressed: false, reason, requestId: proof, atMs })))
  generation++
  return all.length
})

/**
 * The check the consent stage runs per message (`isSuppressed(tenant, identifiers)`): whether any identifier belongs
 * to an erased person. Each tenant's list is read once into memory and re-read after CACHE_MS or a change here.
 */
export const makeSuppressionCheck = (options?: NormaliseOptions) =>
  Effect.gen(function* () {
    const keys = yield* Keys
    const cache = new Map<string, { readonly keys: ReadonlySet<string>; readonly at: number; readonly generation: number }>()
    return (tenant: string, identifiers: ReadonlyArray<IdentifierLike>) =>
      Effect.gen(function* () {
        if (identifiers.length === 0) return false
        let entry = cache.get(tenant)
        if (entry === undefined || entry.generation !== generation || Date.now() - entry.at > CACHE_MS) {
          entry = { keys: yield* suppressedKeys(tenant), at: Date.now(), generation }
          cache.set(tenant, entry)
        }
        if (entry.keys.size === 0) return false
        const held = entry.keys
        return identifiers.some((id) => keysOf(keys, tenant, id, options).some((k) => held.has(k)))
      })
  })

/** The same check as one call (tests, tools): reads the list each time. */
export const isSuppressed = (tenant: string, identifiers: ReadonlyArray<IdentifierLike>, options?: NormaliseOptions) =>
  Effect.flatMap(makeSuppressionCheck(options), (check) => check(tenant, identifiers))
