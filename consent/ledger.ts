// The one place to ask "may this profile be used for purpose P?": a purpose's state for a profile at a time, every
// profile a purpose may use (as a filter for exports and audiences to embed, or as a list), and recording a change.
// A withdrawal takes effect from its event time: a question about any time at or after it says not allowed, and
// "now" (no time given) reads every row, so a withdrawal counts at once even when its clock ran ahead.
import { Data, Effect } from "effect"
import { insertLedgerRows, ledgerOfProfiles, type LedgerRow, profileIdsOf, refusingProfilesQuery } from "../warehouse/consent.ts"
import { allowedProfilesQuery, consentFilterQuery } from "../warehouse/consent-filter.ts"
import { ConsentPoliciesRef, type ConsentPolicy, policyOf, type PurposePolicy } from "./purposes.ts"
import { identifierRestrictedProfiles, restrictedProfiles } from "./restriction.ts"

export type { LedgerRow }

export class UnknownPurpose extends Data.TaggedError("UnknownPurpose")<{
  readonly tenant: string
  readonly purpose: string
  readonly known: ReadonlyArray<string>
}> {
  override get message() {
    return `"${this.purpose}" is not a purpose of tenant "${this.tenant}" (purposes: ${this.known.join(", ")})`
  }
}

const unknownPurpose = (tenant: string, purpose: string, policy: ConsentPolicy) =>
  Effect.fail(new UnknownPurpose({ tenant, purpose, known: Object.keys(policy.purposes) }))

export interface ConsentState {
  readonly purpose: string
  readonly basis: string
  /** The latest signal in effect: "unknown" when there is none. */
  readonly state: "granted" | "denied" | "unknown"
  /** May the purpose use the profile: a grant, or no signal where the purpose's default is granted. */
  readonly allowed: boolean
  /** The signal in effect, with its proof; null when none. */
  readonly since: { readonly at: string; readonly source: string; readonly messageId: string; readonly proof: string } | null
  /** Set while a restriction request (GDPR Art. 18) holds: then nothing is allowed. */
  readonly restricted?: true
}

/** Which of two rows in effect wins: the later event time; at the same time a refusal; then the later recording. */
export const laterThan = (a: LedgerRow, b: LedgerRow): boolean =>
  a.atMs !== b.atMs ? a.atMs > b.atMs
    : a.state !== b.state ? a.state === "denied"
    : a.recordedAtMs > b.recordedAtMs

/** The state a purpose is in given a profile's rows (any order), as of `atMs` (undefined: every row). */
export const stateFromRows = (
  rows: ReadonlyArray<LedgerRow>, purpose: string, policy: PurposePolicy, atMs?: number,
): ConsentState => {
  let latest: LedgerRow | undefined
  for (const r of rows) {
    if (r.purpose !== purpose || (atMs !== undefined && r.atMs > atMs)) continue
    if (latest === undefined || laterThan(r, latest)) latest = r
  }
  const state = latest?.state ?? "unknown"
  return {
    purpose, basis: policy.basis, state,
    allowed: state === "granted" || (state === "unknown" && policy.whenUnknown === "granted"),
    since: latest === undefined ? null
      : { at: new Date(latest.atMs).toISOString(), source: latest.source, messageId: latest.messageId, proof: latest.proof },
  }
}

const policyFor = (tenant: string): Effect.Effect<ConsentPolicy> =>
  Effect.gen(function* () {
    return policyOf(yield* ConsentPoliciesRef, tenant)
  })

/** A purpose's state for a profile (its current id), now or as of `atMs`. Fails with UnknownPurpose for a name the tenant does not have. */
export const consentState = Effect.fn("consentState")(function* (tenant: string, profileId: string, purpose: string, atMs?: number) {
  const policy = yield* policyFor(tenant)
  const p = policy.purposes[purpose]
  if (p === undefined) return yield* unknownPurpose(tenant, purpose, policy)
  const state = stateFromRows(yield* ledgerOfProfiles(tenant, [profileId]), purpose, p, atMs)
  // GDPR Art. 18 (a restriction request, consent/dsr.ts): the data is kept but used for no purpose while restricted.
  return (yield* restrictedProfiles(tenant, [profileId], atMs)).size > 0 ? { ...state, allowed: false, restricted: true } : state
})

/**
 * Which profiles the purpose may use now or as of `atMs`, as a filter to embed in an export or audience query over
 * profiles with events (`allowedSql(column, filter)`): a purpose granted unless refused names the profiles it may not
 * use (refused or restricted), an opt-in purpose the ones it may (granted, not restricted).
 */
export const consentingProfilesSql = Effect.fn("consentingProfilesSql")(function* (tenant: string, purpose: string, atMs?: number) {
  const policy = yield* policyFor(tenant)
  const p = policy.purposes[purpose]
  if (p === undefined) return yield* unknownPurpose(tenant, purpose, policy)
  // Restricted profiles (GDPR Art. 18, consent/restriction.ts) are used for no purpose: those holding a restricted
  // identifier now (resolved here, passed as ids), and those restricted by profile id before identifiers were used.
  const byIdentifier = yield* identifierRestrictedProfiles(tenant, atMs)
  return consentFilterQuery(tenant, purpose, p.whenUnknown === "granted", byIdentifier === "all" ? "all" : [...byIdentifier], atMs)
})

/** Every profile (current ids, sorted) the purpose may use now or as of `atMs` (for "allBut": those with events by then). */
export const consentingProfiles = (tenant: string, purpose: string, atMs?: number) =>
  Effect.flatMap(consentingProfilesSql(tenant, purpose, atMs), (filter) => profileIdsOf(allowedProfilesQuery(tenant, filter, atMs)))

/** Every profile whose latest signal for the purpose is a refusal, withdrawal or objection. */
export const refusingProfiles = (tenant: string, purpose: string, atMs?: number) =>
  profileIdsOf(refusingProfilesQuery(tenant, purpose, atMs))

/** A profile's whole ledger (current id, merged profiles' rows included), oldest first. */
export const consentHistory = (tenant: string, profileId: string) => ledgerOfProfiles(tenant, [profileId])

export interface ConsentChange {
  readonly tenant: string
  readonly profileId: string
  /** The message (or request) that carried the change: its proof. */
  readonly messageId: string
  readonly purpose: string
  readonly state: "granted" | "denied"
  readonly source: string
  readonly proof: string
  readonly atMs: number
}

/** Records changes (an operator's, a data-subject request's objection); the purpose's basis comes from the policy. */
export const recordConsent = Effect.fn("recordConsent")(function* (changes: ReadonlyArray<ConsentChange>) {
  const now = Date.now()
  const rows: Array<LedgerRow> = []
  for (const c of changes) {
    const policy = yield* policyFor(c.tenant)
    const p = policy.purposes[c.purpose]
    if (p === undefined) return yield* unknownPurpose(c.tenant, c.purpose, policy)
    rows.push({ ...c, basis: p.basis, device: "", recordedAtMs: now })
  }
  yield* insertLedgerRows(rows)
})

/**
 * Profiles whose latest signal refuses the purpose that governs a channel's messages (social: SocialListening by
 * default): reports of that channel show none of them.
 */
export const refusingProfilesOfChannel = Effect.fn("refusingProfilesOfChannel")(function* (tenant: string, channel: string) {
  const purpose = (yield* policyFor(tenant)).channels[channel]
  return purpose === undefined ? [] : yield* refusingProfiles(tenant, purpose)
})
