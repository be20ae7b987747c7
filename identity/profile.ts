// Reading a unified profile: the profile of any identifier, its identifiers with provenance, traits merged by source
// precedence and event time, merges, channels and recent events.
import { Data, Effect } from "effect"
import {
  nodeOwner, profileChannels, profileMergeHistory, profileMessageIds, profileObservedIdentifiers, profileRecentEvents, profileTraitStatements,
} from "../warehouse/identity.ts"
import { latestProfileSentiment } from "../warehouse/sentiment.ts"
import { nodeKey } from "./graph.ts"
import { relationshipTraits } from "./relations/compute.ts"
import { DEFAULT_NORMALISE_OPTIONS, type IdentifierKind, IDENTIFIER_KINDS, type NormaliseOptions, normaliseIdentifier } from "./normalise.ts"
import { DEFAULT_TRAIT_PRECEDENCE, mergeTraits, type TraitPrecedence, type TraitStatement } from "./traits.ts"

export class BadIdentifier extends Data.TaggedError("BadIdentifier")<{ readonly input: string; readonly reason: string }> {
  override get message() {
    return `"${this.input}" is not an identifier we can look up: ${this.reason}`
  }
}

export class ProfileNotFound extends Data.TaggedError("ProfileNotFound")<{ readonly tenant: string; readonly identifier: string }> {
  override get message() {
    return `no profile of tenant "${this.tenant}" holds ${this.identifier}`
  }
}

export type IdentifierRef =
  | { readonly _tag: "profile"; readonly profileId: string }
  | { readonly _tag: "identifier"; readonly kind: IdentifierKind; readonly value: string }

/**
 * Reads "KIND:VALUE" (email:ann@x.example, phone:+447700900123, user_id:u1), a profile id (prof_...), or a bare
 * value whose kind is plain to see (an e-mail address, a +phone number, an @handle).
 */
export const parseIdentifier = (input: string, options: NormaliseOptions = DEFAULT_NORMALISE_OPTIONS): IdentifierRef | BadIdentifier => {
  const text = input.trim()
  if (/^prof_[A-Za-z0-9_-]{10,40}$/.test(text)) return { _tag: "profile", profileId: text }
  const colon = text.indexOf(":")
  const prefix = colon > 0 ? text.slice(0, colon) : ""
  let kind: IdentifierKind
  let raw: string
  if (IDENTIFIER_KINDS.has(prefix as IdentifierKind)) {
    kind = prefix as IdentifierKind
    raw = text.slice(colon + 1)
  } else if (colon > 0 && /^[a-z_]+$/.test(prefix) && !text.includes("@")) {
    return new BadIdentifier({ input, reason: `unknown kind "${prefix}" (kinds: ${[...IDENTIFIER_KINDS].join(", ")})` })
  } else if (text.includes("@") && !text.startsWith("@")) {
    kind = "email"
    raw = text
  } else if (/^\+[\d\s().-]{6,}$/.test(text)) {
    kind = "phone"
    raw = text
  } else if (/^@\w{1,15}$/.test(text)) {
    kind = "twitter_handle"
    raw = text
  } else {
    return new BadIdentifier({ input, reason: "say which kind it is, e.g. user_id:VALUE or anonymous_id:VALUE" })
  }
  const n = normaliseIdentifier(kind, raw, options)
  return n.ok ? { _tag: "identifier", kind, value: n.value } : new BadIdentifier({ input, reason: n.reason })
}

/** The profile an identifier belongs to now (the latest owner of a value that changed owner). */
export const profileIdOf = Effect.fn("profileIdOf")(function* (tenant: string, ref: IdentifierRef) {
  if (ref._tag === "profile") return ref.profileId
  const found = yield* nodeOwner(tenant, ref.kind, ref.value)
  if (found === undefined) return yield* Effect.fail(new ProfileNotFound({ tenant, identifier: nodeKey(ref.kind, ref.value) }))
  return found
})

export interface ProfileIdentifier {
  readonly kind: string
  readonly value: string
  readonly raw: string
  readonly trust: string
  readonly firstSeen: string
  readonly lastSeen: string
  readonly messages: number
}

export interface ProfileView {
  readonly tenant: string
  readonly profileId: string
  readonly firstSeen: string | null
  readonly lastSeen: string | null
  readonly channels: Readonly<Record<string, number>>
  readonly identifiers: ReadonlyArray<ProfileIdentifier>
  /** Each trait's value from its highest-ranked source, latest by event time among equals, with where and when it was stated. */
  readonly traits: Readonly<Record<string, { readonly value: unknown; readonly source: string; readonly at: string }>>
  readonly merges: ReadonlyArray<{ readonly kind: string; readonly from: string; readonly to: string; readonly messages: number; readonly reason: string; readonly at: string }>
  readonly latestSentiment: { readonly label: string; readonly score: number; readonly at: string } | null
  readonly recentEvents: ReadonlyArray<{ readonly messageId: string; readonly timestamp: string; readonly channel: string; readonly type: string; readonly event: string }>
}

export const showProfile = Effect.fn("showProfile")(function* (
  tenant: string,
  ref: IdentifierRef,
  recent = 20,
  precedence: TraitPrecedence = DEFAULT_TRAIT_PRECEDENCE,
) {
  const profileId = yield* profileIdOf(tenant, ref)
  // Every read below is by message id, on each table's own key, and skips the events view's join (all these
  // messages are the profile's).
  const ids = yield* profileMessageIds(tenant, profileId)
  if (ids.length === 0) return yield* Effect.fail(new ProfileNotFound({ tenant, identifier: profileId }))
  const scope = { tenant, profileId, ids }
  // Independent reads, asked at once (an engine that can runs them side by side).
  const [channels, identifiers, statements, merges, sentiment, events] = yield* Effect.all([
    profileChannels(scope),
    profileObservedIdentifiers(scope),
    profileTraitStatements(scope),
    profileMergeHistory(scope),
    latestProfileSentiment(scope),
    profileRecentEvents(scope, recent),
  ], { concurrency: "unbounded" })
  if (channels.length === 0) return yield* Effect.fail(new ProfileNotFound({ tenant, identifier: profileId }))
  const traits = mergeTraits(statements.map((s): TraitStatement => ({
    name: s.name, value: s.latest[0], source: s.source, identified: Number(s.identified) === 1, at: s.latest[1], messageId: s.latest[2], firstAt: s.first,
  })), precedence, tenant)
  return {
    tenant, profileId,
    firstSeen: channels.reduce((m, c) => (c.first < m ? c.first : m), channels[0]!.first),
    lastSeen: channels.reduce((m, c) => (c.last > m ? c.last : m), channels[0]!.last),
    channels: Object.fromEntries(channels.map((c) => [c.channel, Number(c.n)])),
    identifiers: identifiers.map((i) => ({ kind: i.kind, value: i.value, raw: i.raw, trust: i.trust, firstSeen: i.first, lastSeen: i.last, messages: Number(i.n) })),
    // The relationship of the latest `cdp relations compute` (relationship_type, health_score, churn_risk...), as traits.
    traits: { ...traits, ...(yield* relationshipTraits(tenant, profileId)) },
    merges: merges.map((m) => ({ kind: m.kind, from: m.from_profile, to: m.to_profile, messages: Number(m.messages), reason: m.reason, at: m.at })),
    latestSentiment: sentiment[0] === undefined ? null : { label: sentiment[0].label, score: Number(sentiment[0].score), at: sentiment[0].timestamp },
    recentEvents: events.map((e) => ({ messageId: e.message_id, timestamp: e.timestamp, channel: e.channel, type: e.type, event: e.event })),
  } satisfies ProfileView
})
