// What `cdp consent show` and GET /v1/consent/{identifier} print: a profile's state per purpose (with the signal in
// effect and its proof) and its whole ledger, merged profiles' rows included.
import { Effect } from "effect"
import { type IdentifierRef, profileIdOf } from "../identity/index.ts"
import { ledgerOfProfiles } from "../warehouse/consent.ts"
import { type ConsentState, stateFromRows } from "./ledger.ts"
import { ConsentPoliciesRef, policyOf } from "./purposes.ts"
import { restrictedProfiles } from "./restriction.ts"

export interface ConsentView {
  readonly tenant: string
  readonly profileId: string
  /** Processing restricted (GDPR Art. 18): every purpose says not allowed. */
  readonly restricted: boolean
  readonly purposes: ReadonlyArray<ConsentState>
  readonly history: ReadonlyArray<{
    readonly at: string
    readonly purpose: string
    readonly state: string
    readonly basis: string
    readonly source: string
    readonly messageId: string
    readonly proof: string
    readonly recordedAt: string
  }>
}

export const showConsent = Effect.fn("showConsent")(function* (tenant: string, ref: IdentifierRef) {
  const profileId = yield* profileIdOf(tenant, ref)
  const policy = policyOf(yield* ConsentPoliciesRef, tenant)
  const rows = yield* ledgerOfProfiles(tenant, [profileId])
  const restricted = (yield* restrictedProfiles(tenant, [profileId])).has(profileId)
  const purposes = Object.entries(policy.purposes).map(([purpose, p]) => {
    const state = stateFromRows(rows, purpose, p)
    return restricted ? { ...state, allowed: false, restricted: true as const } : state
  })
  return {
    tenant, profileId, restricted, purposes,
    history: rows.map((r) => ({
      at: new Date(r.atMs).toISOString(), purpose: r.purpose, state: r.state, basis: r.basis, source: r.source, messageId: r.messageId,
      proof: r.proof, recordedAt: new Date(r.recordedAtMs).toISOString(),
    })),
  } satisfies ConsentView
})
