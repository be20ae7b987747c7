// Reading a unified profile: the profile of any identifier, its identifiers with provenance, traits merged by source
// precedence and event time, merges, channels and recent events.
import { Data, Effect } from "effect"
import { nodeOwner, type ProfileScope } from "../warehouse/identity.ts"
import type { ProfileConsentRows } from "../warehouse/consent.ts"
import { answerEnd, DOCUMENT_EVENTS, DOCUMENT_IDENTIFIERS, readDocumentParts, type StoredDocument } from "../warehouse/profile-documents.ts"
import { phoneRunsOf } from "../warehouse/profile-phones.ts"
import {
  identifierPageColumns, identifierPageOf, mergedParams, profileIdentifierPage, profileReadScopeOf, profileSummary, type ProfileSummary, type ReadColumns, type ReadScope,
} from "../warehouse/profiles.ts"
import { isProfileId, nodeKey } from "./graph.ts"
import { relationshipTraits, relationshipTraitsOf } from "./relations/compute.ts"
import { DEFAULT_NORMALISE_OPTIONS, type IdentifierKind, IDENTIFIER_KINDS, type NormaliseOptions, normaliseIdentifier } from "./normalise.ts"
import { type ComputedTrait, computedTraitsColumns, computedTraitsOfStates, profileComputedTraits } from "./computed-traits.ts"
import { encodeCursor, type TimelineEvent } from "./timeline.ts"
import { DEFAULT_TRAIT_PRECEDENCE, mergeTraits, type TraitPrecedence, type TraitStatement } from "./traits.ts"

export class BadIdentifier extends Data.TaggedError("BadIdentifier")<{ readonly input: string; readonly reason: string }> {
  override get message() {
    // At most 80 characters of what was typed: a request or a --flag may carry kilobytes, the error is one line.
    const shown = this.input.length <= 80 ? `"${this.input}"` : `"${this.input.slice(0, 80)}…" (${this.input.length} characters)`
    return `${shown} is not an identifier we can look up: ${this.reason}`
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
  if (isProfileId(text)) return { _tag: "profile", profileId: text }
  const colon = text.indexOf(":")
  // Kinds are read whatever their case (EMAIL:, User_Id:); a word before a colon ahead of any @ is a kind, never part
  // of a bare address (no address holds a colon before its @): "mail:ann@x.example" is an unknown kind.
  const prefix = colon > 0 ? text.slice(0, colon).toLowerCase() : ""
  const at = text.indexOf("@")
  let kind: IdentifierKind
  let raw: string
  if (IDENTIFIER_KINDS.has(prefix as IdentifierKind)) {
    kind = prefix as IdentifierKind
    raw = text.slice(colon + 1)
  } else if (colon > 0 && /^[a-z_]+$/.test(prefix) && (at < 0 || at > colon)) {
    return new BadIdentifier({ input, reason: `unknown kind "${text.slice(0, colon)}" (kinds: ${[...IDENTIFIER_KINDS].join(", ")})` })
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
  /**
   * Present when the value is not the profile's own: its messages only stated it while another user id holds it, and
   * identity refused the link (the reason, as `cdp identity explain` shows it). Exports never send it as the profile's.
   */
  readonly claimed?: string
}

/** Identifiers a profile read shows unless asked otherwise, and the most one page holds. */
export const DEFAULT_IDENTIFIER_PAGE = 100
export const MAX_IDENTIFIER_PAGE = 1000

export interface ProfileView {
  readonly tenant: string
  readonly profileId: string
  readonly firstSeen: string | null
  readonly lastSeen: string | null
  readonly channels: Readonly<Record<string, number>>
  /** The first page of identifiers by (kind, value); `identifierCount` says how many there are in all. */
  readonly identifiers: ReadonlyArray<ProfileIdentifier>
  readonly identifierCount: number
  /** Pass as ?cursor= to GET /v1/profiles/{identifier}/identifiers for the next page; null when all are shown. */
  readonly identifiersNextCursor: string | null
  /** Each trait's value from its highest-ranked source, latest by event time among equals, with where and when it was stated. */
  readonly traits: Readonly<Record<string, { readonly value: unknown; readonly source: string; readonly at: string }>>
  /** The tenant's computed traits (CDP_COMPUTED_TRAITS), each with its value now. */
  readonly computedTraits: Readonly<Record<string, ComputedTrait>>
  readonly merges: ReadonlyArray<{ readonly kind: string; readonly from: string; readonly to: string; readonly messages: number; readonly reason: string; readonly at: string }>
  readonly latestSentiment: { readonly label: string; readonly score: number; readonly at: string } | null
  readonly recentEvents: ReadonlyArray<{ readonly messageId: string; readonly timestamp: string; readonly channel: string; readonly type: string; readonly event: string }>
}

/** A page of identifiers (GET /v1/profiles/{identifier}/identifiers). */
export interface IdentifierPage {
  readonly tenant: string
  readonly profileId: string
  readonly identifiers: ReadonlyArray<ProfileIdentifier>
  readonly identifierCount: number
  readonly nextCursor: string | null
}

export class BadIdentifierCursor extends Data.TaggedError("BadIdentifierCursor")<{ readonly field: string; readonly reason: string }> {
  override get message() {
    return `${this.field}: ${this.reason}`
  }
}

const encodeIdentifierCursor = (kind: string, value: string) => Buffer.from(JSON.stringify(["i", kind, value])).toString("base64url")

/** The (kind, value) an identifiers cursor continues after; a BadIdentifierCursor for anything this API did not give. */
export const decodeIdentifierCursor = (cursor: string): { readonly kind: string; readonly value: string } | BadIdentifierCursor => {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    if (Array.isArray(v) && v.length === 3 && v[0] === "i" && typeof v[1] === "string" && typeof v[2] === "string") return { kind: v[1], value: v[2] }
  } catch { /* not one of ours */ }
  return new BadIdentifierCursor({ field: "cursor", reason: "is not a cursor this API gave (pass identifiersNextCursor or nextCursor as it is)" })
}

/** Reads ?limit= of an identifiers page. */
export const identifierLimit = (text: string | undefined): number | BadIdentifierCursor => {
  if (text === undefined) return DEFAULT_IDENTIFIER_PAGE
  const n = Number(text)
  return /^\d+$/.test(text) && n >= 1 && n <= MAX_IDENTIFIER_PAGE ? n
    : new BadIdentifierCursor({ field: "limit", reason: `must be a whole number from 1 to ${MAX_IDENTIFIER_PAGE}` })
}

/**
 * A profile and its messages now; ProfileNotFound when it has none. By identifier, the owner and the messages come
 * back from one statement; only when nothing is found is the owner looked up apart, to say which was missing.
 */
export const profileScopeOf = Effect.fn("profileScopeOf")(function* (tenant: string, ref: IdentifierRef) {
  const scope = yield* profileReadScopeOf(tenant, ref._tag === "profile" ? { profileId: ref.profileId } : { kind: ref.kind, value: ref.value })
  if (scope === undefined || scope.ids.length === 0) {
    const profileId = scope?.profileId ?? (yield* profileIdOf(tenant, ref))
    return yield* Effect.fail(new ProfileNotFound({ tenant, identifier: profileId }))
  }
  return scope
})

/**
 * For masking an answer about a profile (ingest/mask.ts): which of `runs` (digits of phone-like text in the answer)
 * are the profile's phone numbers, matched in the engine against all its phone identifiers, not only a page of them.
 */
export const profilePhoneRuns = Effect.fn("profilePhoneRuns")(function* (tenant: string, profileId: string, runs: ReadonlyArray<string>) {
  if (runs.length === 0) return new Set<string>()
  return yield* phoneRunsOf(yield* profileScopeOf(tenant, { _tag: "profile", profileId }), runs)
})

const identifierPage = (scope: ProfileScope, limit: number, after: { readonly kind: string; readonly value: string } | undefined) =>
  Effect.map(profileIdentifierPage(scope, limit, after), (found) => pageOf(found, limit))

const pageOf = ({ rows, total }: {
  readonly rows: ReadonlyArray<{ kind: string; value: string; raw: string; trust: string; first: string; last: string; n: string; claimed: string }>
  readonly total: number
}, limit: number) => {
  const page = rows.slice(0, limit)
  const last = page[page.length - 1]
  return {
    identifiers: page.map((i): ProfileIdentifier => ({
      kind: i.kind, value: i.value, raw: i.raw, trust: i.trust, firstSeen: i.first, lastSeen: i.last, messages: Number(i.n),
      ...(i.claimed === "" ? {} : { claimed: i.claimed }),
    })),
    identifierCount: total,
    nextCursor: rows.length > limit && last !== undefined ? encodeIdentifierCursor(last.kind, last.value) : null,
  }
}

/** One page of a profile's identifiers, by (kind, value), after `cursor`. */
export const profileIdentifiers = Effect.fn("profileIdentifiers")(function* (tenant: string, ref: IdentifierRef, limit: number, cursor?: string) {
  const after = cursor === undefined ? undefined : decodeIdentifierCursor(cursor)
  if (after instanceof BadIdentifierCursor) return yield* Effect.fail(after)
  const scope = yield* profileScopeOf(tenant, ref)
  const page = yield* identifierPage(scope, limit, after)
  return { tenant, profileId: scope.profileId, ...page } satisfies IdentifierPage
})

export interface ProfileReadOptions {
  /** Rows of recentEvents (0-1000); the timeline's first page holds at least one. */
  readonly recent?: number
  readonly identifiers?: number
  readonly precedence?: TraitPrecedence
  /** Columns the caller adds to the read's one statement (consent's, ingest/profile-read.ts); their values come back in `also`. */
  readonly also?: ReadColumns
}

/**
 * The profile and the first page of its timeline, from one scope: the profile is resolved once, and everything but
 * the identifiers comes back from one statement.
 */
export const readProfileView = Effect.fn("readProfileView")(function* (tenant: string, ref: IdentifierRef, options: ProfileReadOptions = {}) {
  return yield* readProfileViewOf(yield* profileScopeOf(tenant, ref), options)
})

/** readProfileView of a scope already read (profileScopeOf), so a caller can run other reads of it alongside. */
export const readProfileViewOf = Effect.fn("readProfileViewOf")(function* (scope: ReadScope, options: ProfileReadOptions = {}) {
  const tenant = scope.tenant
  const recent = options.recent ?? 20
  const pageSize = Math.max(1, recent)
  const identifierLimit = options.identifiers ?? DEFAULT_IDENTIFIER_PAGE
  // The identifiers' first page, the computed traits (when the scope says their states are whole) and the caller's
  // columns are read in the summary's statement: the engine runs statements one at a time, each with its own cost.
  const computed = yield* computedTraitsColumns(scope)
  const parts = [identifierPageColumns(scope, identifierLimit), ...(computed === undefined ? [] : [computed]), ...(options.also === undefined ? [] : [options.also])]
  const also: ReadColumns = {
    columns: Object.assign({}, ...parts.map((p) => p.columns)) as Record<string, string>,
    params: mergedParams(...parts.map((p) => p.params)),
  }
  const [summary, computedApart, relationship] = yield* Effect.all([
    profileSummary(scope, pageSize, undefined, also),
    computed === undefined ? profileComputedTraits(scope) : Effect.succeed(undefined),
    // The relationship of the latest `cdp relations compute` (relationship_type, health_score, churn_risk...), as traits.
    relationshipTraits(tenant, scope.profileId),
  ], { concurrency: "unbounded" })
  const computedTraits = computedApart ?? computed?.traits(summary.also) ?? {}
  const { view, timeline } = yield* viewOfParts({
    tenant, profileId: scope.profileId, summary, identifiers: summary.also["identifiers"], computedTraits, relationship,
  }, { ...options, recent, identifiers: identifierLimit })
  // The scope goes back too: a cache of this answer depends on exactly these messages and landing profiles.
  return { view, timeline, scope, also: summary.also }
})

/** What a profile view is made of: read now (readProfileViewOf) or stored (a profile document, ingest/profile-documents.ts). */
export interface ProfileViewParts {
  readonly tenant: string
  readonly profileId: string
  readonly summary: Omit<ProfileSummary, "also">
  /** The value of identifierPageColumns' column. */
  readonly identifiers: unknown
  readonly computedTraits: Readonly<Record<string, ComputedTrait>>
  readonly relationship: Readonly<Record<string, { readonly value: unknown; readonly source: string; readonly at: string }>>
}

/**
 * Whether a trait statement's value (JSON text) reads as one of the identifiers shown `claimed` (normalised as identity
 * does): e.g. traits.email naming the address another user id holds. Such a statement is not the profile's trait:
 * the trait falls back to its next statement, or is absent (the identifier stays listed, flagged).
 */
const statesClaimed = (claimed: ReadonlyArray<{ readonly kind: string; readonly value: string }>, raw: string) => {
  let v: unknown
  try {
    v = JSON.parse(raw)
  } catch {
    return false
  }
  return typeof v === "string" && claimed.some((c) => {
    const n = IDENTIFIER_KINDS.has(c.kind as IdentifierKind) ? normaliseIdentifier(c.kind as IdentifierKind, v) : undefined
    return n?.ok === true && n.value === c.value
  })
}

/** The view and the timeline's first page of a profile's parts, with the asker's options (trait precedence, page sizes). */
export const viewOfParts = (parts: ProfileViewParts, options: ProfileReadOptions & { readonly recent: number; readonly identifiers: number }) =>
  Effect.gen(function* () {
    const tenant = parts.tenant
    const recent = options.recent
    const pageSize = Math.max(1, recent)
    const identifierLimit = options.identifiers
    const read = identifierPageOf(parts.identifiers)
    const identifiers = pageOf(read, identifierLimit)
    const { channels, statements, merges, sentiment, events } = parts.summary
    if (channels.length === 0) return yield* Effect.fail(new ProfileNotFound({ tenant, identifier: parts.profileId }))
    // Every claimed identifier read, the page's and those past it (firstPageRows).
    const claimed = read.rows.filter((i) => i.claimed !== "")
    const traits = mergeTraits(statements.filter(([, , , latest]) => claimed.length === 0 || !statesClaimed(claimed, latest[0])).map(([name, source, identified, latest, first]): TraitStatement => ({
      name, value: latest[0], source, identified: Number(identified) === 1, at: latest[1], messageId: latest[2], firstAt: first,
    })), options.precedence ?? DEFAULT_TRAIT_PRECEDENCE, tenant)
    const view: ProfileView = {
      tenant, profileId: parts.profileId,
      firstSeen: channels.reduce((m, c) => (c[2] < m ? c[2] : m), channels[0]![2]),
      lastSeen: channels.reduce((m, c) => (c[3] > m ? c[3] : m), channels[0]![3]),
      channels: Object.fromEntries(channels.map((c) => [c[0], Number(c[1])])),
      identifiers: identifiers.identifiers,
      identifierCount: identifiers.identifierCount,
      identifiersNextCursor: identifiers.nextCursor,
      traits: { ...traits, ...parts.relationship },
      computedTraits: parts.computedTraits,
      merges: merges.map(([kind, from, to, messages, reason, at]) => ({ kind, from, to, messages: Number(messages), reason, at })),
      latestSentiment: sentiment[0] === undefined ? null : { label: sentiment[0][0], score: Number(sentiment[0][1]), at: sentiment[0][2] },
      recentEvents: events.slice(0, recent).map(([messageId, , timestamp, channel, , type, event]) => ({ messageId, timestamp, channel, type, event })),
    }
    const page = events.slice(0, pageSize)
    const last = page[page.length - 1]
    const timeline = {
      events: page.map(([messageId, ms, , channel, source, type, event]): TimelineEvent => ({
        messageId, timestamp: new Date(Number(ms)).toISOString(), channel, source, type, event,
      })),
      nextCursor: events.length > pageSize && last !== undefined ? encodeCursor(Number(last[1]), last[0]) : null,
    }
    return { view, timeline }
  })

export const showProfile = (tenant: string, ref: IdentifierRef, recent = 20, precedence: TraitPrecedence = DEFAULT_TRAIT_PRECEDENCE) =>
  Effect.map(readProfileView(tenant, ref, { recent, precedence }), (r) => r.view)

/**
 * A profile document (profile_documents, migration 083): the parts of a profile read's answer that do not depend on
 * who asks, as of `built`. The asker's trait precedence, consent policies and page sizes are applied when it is
 * read, as to a read made now.
 */
export interface ProfileDocument {
  readonly v: 1
  /** Used until this time (ms), null for no end: when it changes by itself (warehouse/profile-documents.ts answerEnd). */
  readonly until: number | null
  readonly scope: { readonly ids: ReadonlyArray<string>; readonly landed: Readonly<Record<string, number>> | undefined; readonly whole: boolean | undefined }
  readonly summary: Omit<ProfileSummary, "also">
  readonly identifiers: unknown
  readonly computedTraits: Readonly<Record<string, ComputedTrait>>
  readonly relationship: ProfileViewParts["relationship"]
  readonly consent: ProfileConsentRows
}

/**
 * Documents of many profiles of a tenant, in three statements for all of them (warehouse/profile-documents.ts
 * readDocumentParts, and their relationships), stamped `built`; a profile it cannot hold (no messages, more than
 * 2,000) gets none. Computed traits whose landing profiles are not whole in the profile (a split took some of their
 * messages elsewhere) are read apart, per profile, as the read does.
 */
export const buildProfileDocuments = Effect.fn("buildProfileDocuments")(function* (tenant: string, profiles: ReadonlyArray<string>, built: number) {
  const found = yield* readDocumentParts(tenant, profiles, built)
  const relationships = yield* relationshipTraitsOf(tenant, [...found.keys()])
  const documents: Array<StoredDocument & { readonly until: number | null }> = []
  const scopes = new Map<string, ReadScope>()
  /** The identifiers (kind, value) each document shows on its first page. */
  const identifiers = new Map<string, ReadonlyArray<readonly [string, string]>>()
  for (const [profileId, parts] of found) {
    const until = yield* answerEnd(tenant, built, parts)
    const computedTraits = parts.computedStates === undefined ? yield* profileComputedTraits(parts.scope) : yield* computedTraitsOfStates(tenant, parts.computedStates)
    const document: ProfileDocument = {
      v: 1, until, scope: { ids: parts.scope.ids, landed: parts.scope.landed, whole: parts.scope.whole },
      summary: parts.summary, identifiers: parts.identifiers, computedTraits, relationship: relationships.get(profileId) ?? {}, consent: parts.consent,
    }
    documents.push({ profileId, built, document: JSON.stringify(document), until })
    scopes.set(profileId, parts.scope)
    identifiers.set(profileId, (parts.identifiers as ReadonlyArray<readonly [string, string]>).map(([kind, value]) => [kind, value] as const))
  }
  return { documents, scopes, identifiers }
})

/**
 * The view and timeline of a stored document, or undefined when the document
 * cannot answer this read: past its `until`, or more events or identifiers asked than it holds.
 */
export const viewOfDocument = Effect.fn("viewOfDocument")(function* (
  tenant: string, stored: StoredDocument, options: ProfileReadOptions & { readonly recent: number },
) {
  const document = JSON.parse(stored.document) as ProfileDocument
  const identifiers = options.identifiers ?? DEFAULT_IDENTIFIER_PAGE
  if (document.v !== 1 || (document.until !== null && !(Date.now() < document.until)) || options.recent > DOCUMENT_EVENTS || identifiers > DOCUMENT_IDENTIFIERS) return undefined
  const { view, timeline } = yield* viewOfParts({
    tenant, profileId: stored.profileId, summary: document.summary, identifiers: document.identifiers, computedTraits: document.computedTraits,
    relationship: document.relationship,
  }, { ...options, identifiers })
  const scope: ReadScope = { tenant, profileId: stored.profileId, ids: document.scope.ids, landed: document.scope.landed, whole: document.scope.whole }
  return { view, timeline, scope, consent: document.consent, until: document.until }
})
