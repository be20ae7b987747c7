// What GDPR Art. 15 asks beside the data itself: for which purposes it is processed (each purpose's lawful basis and
// the subject's consent state with its proof), where it came from (sources and channels), to whom it is disclosed
// (recipients), and how long it is kept.
import { Effect } from "effect"
import type { StoreRows } from "./bundle.ts"
import { consentState } from "./ledger.ts"
import { ConsentPoliciesRef, policyOf } from "./purposes.ts"
import { restrictedProfiles } from "./restriction.ts"
import type { Subject } from "./subject.ts"

/**
 * Who receives data used for each purpose (categories: cdp itself sends data to no third party; exports and
 * audiences for a purpose carry only profiles that purpose may use).
 */
export const PURPOSE_RECIPIENTS: Readonly<Record<string, string>> = {
  Analytics: "the tenant's analysts (read-only queries and reports)",
  Advertising: "advertising platforms the tenant exports audiences to",
  Personalization: "the tenant's own web site and apps",
  CrmSync: "the tenant's CRM, which reads profiles",
  SocialListening: "the tenant's social-listening reports (authors who object are not shown)",
  EmailMarketing: "the tenant's e-mail service provider",
}

const RETENTION = "kept until erased or until the retention period of each store ends (see the operator's retention settings)"

/** Sources and channels of the subject's messages, with counts, from any exported store whose rows name them. */
const sourcesOf = (stores: ReadonlyArray<StoreRows>) => {
  const counts = new Map<string, { source: string; channel: string; messages: number }>()
  for (const s of stores) {
    for (const row of s.rows) {
      if (typeof row["source"] !== "string" || typeof row["message_id"] !== "string") continue
      const channel = typeof row["channel"] === "string" ? row["channel"] : ""
      const k = `${row["source"]}\u0000${channel}`
      const c = counts.get(k) ?? { source: row["source"], channel, messages: 0 }
      if (s.store === "events" || s.store === "event_rows") c.messages++
      counts.set(k, c)
    }
  }
  return [...counts.values()].sort((a, b) => b.messages - a.messages || a.source.localeCompare(b.source))
}

/** Said of each identifier other profiles state too (Subject.statedElsewhere) in an access report. */
export const STATED_ELSEWHERE =
  "other profiles' messages state this identifier too; identity keeps it with this profile (a statement alone does not change " +
  "an identifier's owner), and their data is not part of this answer"

/**
 * The Art. 15 report: which profile the request's identifier resolved to, identifiers, profiles, purposes with basis
 * and state, sources, recipients, retention, and the identifiers other profiles state too (how many, never whose).
 */
export const accessReport = (subject: Subject, stores: ReadonlyArray<StoreRows>, requested: string) =>
  Effect.gen(function* () {
    const policy = policyOf(yield* ConsentPoliciesRef, subject.tenant)
    const restricted = yield* restrictedProfiles(subject.tenant, subject.profileIds)
    const purposes = []
    for (const profileId of subject.profileIds) {
      for (const purpose of Object.keys(policy.purposes)) {
        const s = yield* consentState(subject.tenant, profileId, purpose)
        purposes.push({
          profileId, purpose, basis: s.basis, state: s.state, used: s.allowed && !restricted.has(profileId),
          restricted: restricted.has(profileId), since: s.since, recipients: PURPOSE_RECIPIENTS[purpose] ?? "the tenant",
        })
      }
    }
    return {
      subject: {
        resolvedTo: { identifier: requested, profiles: subject.profileIds },
        profiles: subject.profileIds,
        identifiers: subject.identifiers.map((i) => ({ kind: i.kind, value: i.value, asSent: i.raws })),
        messages: subject.messageIds.length,
        statedElsewhere: subject.statedElsewhere.map((s) => ({ kind: s.kind, value: s.value, profiles: s.profileIds.length, note: STATED_ELSEWHERE })),
      },
      purposes,
      sources: sourcesOf(stores),
      recipients: [...new Set(purposes.filter((p) => p.used).map((p) => p.recipients))],
      retention: RETENTION,
      stores: stores.map((s) => ({ store: s.store, rows: s.rows.length })),
    }
  })
