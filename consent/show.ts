// What `cdp consent show` and GET /v1/consent/{identifier} print: a profile's state per purpose (with the signal in
// effect and its proof) and its whole ledger, merged profiles' rows included.
import { Effect } from "effect"
import { type IdentifierRef, profileIdOf, ProfileNotFound, profileScopeOf } from "../identity/index.ts"
import {
  consentOfMessagesColumns, ledgerOfMessages, type LedgerPageRequest, ledgerPageOfProfile, type LedgerRow, type ProfileConsentRows,
} from "../warehouse/consent.ts"
import { type ConsentState, stateFromRows } from "./ledger.ts"
import { ConsentPoliciesRef, type ConsentPolicy, policyOf } from "./purposes.ts"
import { profileRestricted } from "./restriction.ts"

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

const viewOf = (
  tenant: string, profileId: string, rows: ReadonlyArray<LedgerRow>, restricted: boolean, policy: ConsentPolicy,
  latest: ReadonlyArray<LedgerRow> = rows,
): ConsentView => ({
  tenant, profileId, restricted,
  purposes: Object.entries(policy.purposes).map(([purpose, p]) => {
    const state = stateFromRows(latest, purpose, p)
    return restricted ? { ...state, allowed: false, restricted: true as const } : state
  }),
  history: rows.map((r) => ({
    at: new Date(r.atMs).toISOString(), purpose: r.purpose, state: r.state, basis: r.basis, source: r.source, messageId: r.messageId,
    proof: r.proof, recordedAt: new Date(r.recordedAtMs).toISOString(),
  })),
})

/**
 * A person's consent by identifier or profile id. The profile is found as a profile read finds it (its messages in
 * this tenant now), so an unknown profile id, or one of another tenant, is ProfileNotFound here as there, instead of
 * answering every purpose's default for a profile that does not exist.
 */
export const showConsent = Effect.fn("showConsent")(function* (tenant: string, ref: IdentifierRef) {
  const scope = yield* profileScopeOf(tenant, ref)
  return yield* showConsentOfMessages(scope)
})

/**
 * showConsent with a page of the history only (newest first, at most page.limit + 1 entries: one more tells there is
 * a next page) and the history's whole length: the engine pages the ledger and finds the row in effect per purpose, so
 * a person with tens of thousands of ledger rows costs a page of them.
 */
export const showConsentPage = Effect.fn("showConsentPage")(function* (tenant: string, ref: IdentifierRef, page: LedgerPageRequest) {
  // The profile's messages are selected in the ledger's statement, not read here first (a profile can hold
  // hundreds of thousands); a profile holding none is not found, as profileScopeOf has it.
  const profileId = yield* profileIdOf(tenant, ref)
  const found = yield* ledgerPageOfProfile(tenant, profileId, Date.now(), page)
  if (found.messages === 0) return yield* Effect.fail(new ProfileNotFound({ tenant, identifier: profileId }))
  const policy = policyOf(yield* ConsentPoliciesRef, tenant)
  const restricted = yield* profileRestricted(tenant, profileId, found.restrictedById, found.subjectKeys)
  return { view: viewOf(tenant, profileId, found.rows, restricted, policy, found.latest), total: found.total }
})

/** The messages a profile holds now (`ids`) and, from a read scope, those it held and another profile holds now (`gone`). */
export interface ConsentScope {
  readonly tenant: string
  readonly profileId: string
  readonly ids: ReadonlyArray<string>
  readonly gone?: ReadonlyArray<string> | undefined
}

/** A profile's consent view from its ledger rows and restriction markers as read (also from a profile document). */
export const consentViewOfRows = (scope: ConsentScope, found: ProfileConsentRows) =>
  Effect.gen(function* () {
    const policy = policyOf(yield* ConsentPoliciesRef, scope.tenant)
    const restricted = yield* profileRestricted(scope.tenant, scope.profileId, found.restrictedById, found.subjectKeys)
    return viewOf(scope.tenant, scope.profileId, found.rows, restricted, policy)
  })

/**
 * showConsent of a profile whose messages are already known (a profile read's scope: the messages it holds now): the
 * ledger by its order key and the restriction markers in one statement, instead of finding the ledger's rows by
 * profile through every move (the ledger's order key does not cover a profile) and asking restrictions apart.
 */
export const showConsentOfMessages = Effect.fn("showConsentOfMessages")(function* (scope: ConsentScope) {
  return yield* consentViewOfRows(scope, yield* ledgerOfMessages(scope.tenant, scope.profileId, scope.ids, Date.now(), scope.gone))
})

/**
 * showConsentOfMessages as columns of another statement (a profile read's one statement, identity/profile.ts): the
 * SQL of each column, its parameters, and what makes the view of the values read.
 */
export const consentOfScopeColumns = (scope: ConsentScope) => {
  const { columns, params, decode } = consentOfMessagesColumns(scope.tenant, scope.profileId, scope.ids, Date.now(), scope.gone)
  return { columns, params, view: (values: Record<string, unknown>) => consentViewOfRows(scope, decode(values)) }
}
