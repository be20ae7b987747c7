// Reading a unified profile: the profile of any identifier, its identifiers with provenance, traits merged by source
// precedence and event time, merges, channels and recent events.
import { Data, Effect } from "effect"
import { Warehouse } from "../warehouse/warehouse.ts"
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
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ profile_id: string }>(
    "SELECT argMax(profile_id, version) AS profile_id FROM identity_nodes WHERE tenant = {tenant:String} " +
      "AND kind = {kind:String} AND value = {value:String} GROUP BY slice ORDER BY slice DESC LIMIT 1",
    { params: { tenant, kind: ref.kind, value: ref.value } })
  const found = rows[0]?.profile_id
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

// A profile's messages: those that landed with it (event_rows' order key) or were moved to it (event_profiles),
// kept when no later move took them elsewhere. Parameters {tenant:String} and {profile:String}.
const candidates = "SELECT message_id FROM event_rows WHERE tenant = {tenant:String} AND profile_id = {profile:String} " +
  "UNION ALL SELECT message_id FROM event_profiles WHERE tenant = {tenant:String} AND profile_id = {profile:String}"
export const PROFILE_MESSAGES_SQL = `SELECT message_id FROM (SELECT DISTINCT message_id FROM (${candidates})) AS c LEFT JOIN ` +
  `(SELECT message_id, argMax(profile_id, version) AS now FROM event_profiles WHERE tenant = {tenant:String} AND message_id IN (${candidates}) ` +
  "GROUP BY message_id) AS m USING message_id WHERE m.now = '' OR m.now = {profile:String}"

/** Most message ids a profile read sends as one query parameter; a bigger profile is read by subquery. */
const MAX_ID_PARAMETER = 5000

export const showProfile = Effect.fn("showProfile")(function* (
  tenant: string,
  ref: IdentifierRef,
  recent = 20,
  precedence: TraitPrecedence = DEFAULT_TRAIT_PRECEDENCE,
) {
  const warehouse = yield* Warehouse
  const profileId = yield* profileIdOf(tenant, ref)
  const params0 = { tenant, profile: profileId }
  // Every read below is by message id, on each table's own key, and skips the events view's join (all these
  // messages are the profile's).
  const ofProfile = PROFILE_MESSAGES_SQL
  const ids = (yield* warehouse.query<{ message_id: string }>(ofProfile, { params: params0 })).map((r) => r.message_id)
  if (ids.length === 0) return yield* Effect.fail(new ProfileNotFound({ tenant, identifier: profileId }))
  // A huge profile's ids are not sent as a parameter (a ClickHouse server takes parameters in the URL).
  const inline = ids.length <= MAX_ID_PARAMETER
  const mine = `tenant = {tenant:String} AND message_id IN ${inline ? "{ids:Array(String)}" : `(${ofProfile})`}`
  const params = inline ? { ...params0, ids } : params0
  // Independent reads, asked at once (an engine that can runs them side by side).
  const [channels, identifiers, statements, merges, sentiment, events] = yield* Effect.all([
    warehouse.query<{ channel: string; n: string; first: string; last: string }>(
      `SELECT channel, count() AS n, min(timestamp) AS first, max(timestamp) AS last FROM event_rows WHERE ${mine} GROUP BY channel ORDER BY channel`,
      { params }),
    warehouse.query<{ kind: string; value: string; raw: string; trust: string; first: string; last: string; n: string }>(
      "SELECT s.kind AS kind, s.value AS value, any(s.raw) AS raw, " +
        "arrayElement(arraySort(x -> indexOf(['verified', 'stated', 'unverified'], x), groupUniqArray(s.trust)), 1) AS trust, " +
        "min(timestamp) AS first, max(timestamp) AS last, count() AS n FROM identity_observations ARRAY JOIN sightings AS s " +
        `WHERE ${mine} GROUP BY kind, value ORDER BY kind, first`, { params }),
    // Per trait and source, only the latest statement and when the trait was first stated: precedence picks among them.
    warehouse.query<{ name: string; source: string; identified: number; latest: [string, string, string]; first: string }>(
      "SELECT kv.1 AS name, toString(source) AS source, user_id != '' AS identified, " +
        "argMax((kv.2, timestamp, message_id), (timestamp, message_id)) AS latest, min(timestamp) AS first " +
        `FROM event_rows ARRAY JOIN JSONExtractKeysAndValuesRaw(traits) AS kv WHERE ${mine} AND traits != '{}' ` +
        "AND kv.2 NOT IN ('null', '\"\"') GROUP BY name, source, identified", { params }),
    warehouse.query<{ kind: string; from_profile: string; to_profile: string; messages: string; reason: string; at: string }>(
      "SELECT kind, from_profile, to_profile, messages, reason, at FROM profile_merges WHERE tenant = {tenant:String} " +
        "AND (from_profile = {profile:String} OR to_profile = {profile:String}) ORDER BY at", { params }),
    warehouse.query<{ label: string; score: number; timestamp: string }>(
      `SELECT label, score, timestamp FROM sentiment WHERE ${mine} AND status = 'scored' ` +
        "ORDER BY timestamp DESC LIMIT 1", { params }),
    warehouse.query<{ message_id: string; timestamp: string; channel: string; type: string; event: string }>(
      `SELECT message_id, timestamp, channel, type, event FROM event_rows WHERE ${mine} ` +
        `ORDER BY timestamp DESC, message_id LIMIT ${Math.max(0, Math.min(1000, Math.trunc(recent)))}`, { params }),
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
