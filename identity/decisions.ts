// Operators' decisions about identity, recorded and applied: take an identifier out of linking (split), keep two
// identifiers apart (separate), accept or dismiss a duplicate suggestion. The same programs serve `cdp identity ...`
// on the data dir and the admin routes of `cdp serve` (ingest/identity-route.ts), which reload the running graph.
import { Data, Effect } from "effect"
import { labelProblem } from "../warehouse/labels.ts"
import {
  dismissedSuggestionIds, type OperationRow, anchorNodes, profileContacts, profileMergesOf, separatedProfiles, suggestionDecision,
} from "../warehouse/identity.ts"
import { profileNames } from "../warehouse/profiles.ts"
import { extractConfigFor } from "./extract.ts"
import { DEFAULT_GRAPH_RULES } from "./graph.ts"
import { type Operation, recordOperation } from "./operations.ts"
import { BadIdentifier, type IdentifierRef, parseIdentifier, profileIdOf } from "./profile.ts"
import { rebuildIdentity, type RebuildSummary } from "./rebuild.ts"
import type { IdentityConfig } from "./stage.ts"
import { inSlices } from "./slices.ts"
import { findSuggestionsSteps, type ProfileSummary, suggestionId } from "./suggestions.ts"

/** A suggestion id as typed may be empty, kilobytes long or hold a newline: such is quoted and cut, so an error stays one line. */
const shownId = (id: string) =>
  /^[\w-]{1,80}$/.test(id) ? id : id.length <= 80 ? JSON.stringify(id) : `${JSON.stringify(id.slice(0, 80)).slice(0, -1)}…" (${id.length} characters)`

export class UnknownSuggestion extends Data.TaggedError("UnknownSuggestion")<{ readonly id: string; readonly tenant: string }> {
  override get message() {
    return `no open suggestion ${shownId(this.id)} in tenant "${this.tenant}" (list them with cdp identity suggestions)`
  }
}

/** A suggestion already accepted or dismissed: deciding it again would do nothing (or undo nothing), so it is refused. */
export class SuggestionDecided extends Data.TaggedError("SuggestionDecided")<{
  readonly id: string
  readonly tenant: string
  readonly accepted: boolean
  readonly opId: string
  readonly atMs: number
  /** Who decided it ("" when not recorded). */
  readonly actor: string
}> {
  override get message() {
    const at = new Date(this.atMs).toISOString()
    return `suggestion ${shownId(this.id)} of tenant "${this.tenant}" was already ${this.accepted ? "accepted" : "dismissed"} at ${at}` +
      `${this.actor === "" ? "" : ` by ${this.actor}`} ` +
      `(operation ${this.opId} in identity_operations): ${this.accepted ? "its two profiles were merged" : "it is not suggested again"}`
  }
}

/**
 * A suggestion of two profiles an operator separated: accepting it would record a link that merges nothing (the
 * separation wins), so it is refused; dismissing it is how it leaves the list.
 */
export class SuggestionKeptApart extends Data.TaggedError("SuggestionKeptApart")<{ readonly id: string; readonly tenant: string }> {
  override get message() {
    return `suggestion ${shownId(this.id)} of tenant "${this.tenant}" is of two profiles an operator separated ` +
      "(cdp identity separate): accepting it cannot merge them; dismiss it"
  }
}

/**
 * A suggestion whose two profiles are one now (a message linked them, or both went into a third) since it was listed:
 * there is nothing left to accept or dismiss. Told apart from an unknown id so a console's stale list can say why.
 */
export class SuggestionProfilesMerged extends Data.TaggedError("SuggestionProfilesMerged")<{
  readonly id: string
  readonly tenant: string
  readonly a: string
  readonly b: string
  /** The profile they went into (one of them, or a third) and when. */
  readonly into: string
  readonly atMs: number
}> {
  override get message() {
    const how = this.into === this.a || this.into === this.b
      ? `${this.into === this.a ? this.b : this.a} was merged into ${this.into}` : `both were merged into ${this.into}`
    return `suggestion ${shownId(this.id)} of tenant "${this.tenant}" is no longer open: its profiles ${this.a} and ${this.b} ` +
      `are now one profile (${how} at ${new Date(this.atMs).toISOString()}), so there is nothing to accept or dismiss`
  }
}

/**
 * A suggestion whose two people are under other profile ids now (their messages moved to new profiles, as a split of
 * their identifiers does): the pair is suggested under another id, `by`, listed unless a profile cannot be linked.
 */
export class SuggestionReplaced extends Data.TaggedError("SuggestionReplaced")<{
  readonly id: string
  readonly tenant: string
  readonly was: readonly [string, string]
  readonly now: readonly [string, string]
  /** The suggestion of the pair now. */
  readonly by: string
  /** A profile of `now` that holds no identifier a link can name (`by` is then not listed). */
  readonly blocked?: string
}> {
  override get message() {
    const moved = [0, 1].filter((i) => this.was[i] !== this.now[i]).map((i) => `${this.was[i]} is ${this.now[i]}`).join(", ")
    return `suggestion ${shownId(this.id)} of tenant "${this.tenant}" is no longer open: its profiles' messages moved since (${moved}), ` +
      `so the pair is suggestion ${this.by} now` + (this.blocked === undefined ? ": decide that one"
        : `, which is not listed: profile ${this.blocked} holds no identifier a link can name (each was split from linking, or is shared ` +
          "with another profile); dismissing it keeps it hidden")
  }
}

/**
 * A suggestion found still, but one of whose profiles holds no identifier a link can name (each was split from
 * linking, or is shared): it is not listed, and accepting it cannot merge them. Dismissing it is still recorded.
 */
export class SuggestionNotLinkable extends Data.TaggedError("SuggestionNotLinkable")<{ readonly id: string; readonly tenant: string; readonly profile: string }> {
  override get message() {
    return `suggestion ${shownId(this.id)} of tenant "${this.tenant}" is no longer open: profile ${this.profile} holds no identifier ` +
      "a link can name (each was split from linking, or is shared with another profile), so accepting it cannot merge them; dismiss it"
  }
}

/**
 * A separation whose second identifier is the first (as typed, or as the tenant's rules read it): nothing to keep
 * apart. Not a BadIdentifier, whose words ("is not an identifier we can look up") would be wrong: b is one, a's.
 */
export class SameIdentifier extends Data.TaggedError("SameIdentifier")<{ readonly first: string; readonly second: string; readonly node: string }> {
  override get message() {
    // Not begun with "b": the CLI through cdp serve puts the field ("b: ") before the server's words.
    const typed = this.second === this.first ? "" : ` (as the tenant's rules read b, ${JSON.stringify(this.second.length <= 80 ? this.second : `${this.second.slice(0, 80)}…`)})`
    return `a and b name one identifier, ${this.node}${typed}: separating takes two different identifiers`
  }
}

/** Longest reason a decision keeps: it is shown with the decision in explanations and profiles. */
export const MAX_REASON = 1000

/**
 * A reason is text people read later (`cdp identity explain`, a profile's merges): no control or invisible character
 * (an escape sequence would act on a terminal, a bidi override reorder what is shown; line breaks and tabs are kept,
 * emoji joiners too: the rule of a token's name, warehouse/labels.ts), at most MAX_REASON characters. Every decision
 * checks it, so the routes of `cdp serve` and the commands on a data dir refuse alike.
 */
export class BadReason extends Data.TaggedError("BadReason")<{
  /** What is wrong, after the reason's name: "holds U+001B, ...". */
  readonly problem: string
  /** How the reason is named where it was given ("--reason" on the command line). */
  readonly named?: string
}> {
  override get message() {
    return `${this.named ?? "the reason"} ${this.problem}`
  }
}

/** Refuses a reason no decision may keep (BadReason), before anything is read or recorded. */
export const checkReason = (reason: string): Effect.Effect<void, BadReason> => {
  if (reason.length > MAX_REASON) {
    return Effect.fail(new BadReason({ problem: `may be at most 1,000 characters (it has ${reason.length.toLocaleString("en")})` }))
  }
  const problem = labelProblem(reason.replace(/[\n\t]/g, " "), "reason")
  if (problem === undefined) return Effect.void
  const code = /holds (U\+[0-9A-F]+)/.exec(problem)?.[1] ?? "a character"
  return Effect.fail(new BadReason({
    problem: `holds ${code}, a control or invisible character: a reason is shown with the decision, so it may hold none (line breaks and tabs are kept)`,
  }))
}

/** The reason an accepted suggestion's link is recorded with: it names the suggestion, so a second decision can find it. */
const acceptedReason = (id: string, why: string) => `suggestion ${id} accepted: ${why}`

/** The identifier as the tenant's rules read it (its phone regions, its mailbox rules), or its BadIdentifier. */
export const readIdentifier = (input: string, tenant: string, config: IdentityConfig): Effect.Effect<IdentifierRef, BadIdentifier> => {
  const ref = parseIdentifier(input, extractConfigFor(config.extract, tenant).normalise)
  return ref instanceof BadIdentifier ? Effect.fail(ref) : Effect.succeed(ref)
}

/**
 * What duplicate suggestions compare, per profile of a tenant: the names its messages' traits state (name, or
 * first_name and last_name), and the e-mail addresses and phone numbers its messages were seen with.
 */
export const profileSummaries = (tenant: string) =>
  Effect.gen(function* () {
    const names = yield* profileNames(tenant)
    if (names.length === 0) return []
    const contacts = yield* profileContacts(tenant)
    const byProfile = new Map(contacts.map((c) => [c.profile_id, c]))
    return names.map((n): ProfileSummary => ({
      profileId: n.profile_id, names: n.names,
      emails: byProfile.get(n.profile_id)?.emails ?? [], phones: byProfile.get(n.profile_id)?.phones ?? [],
    }))
  })

/** Suggestions an operator dismissed (they are not shown again). */
const dismissed = (tenant: string) =>
  Effect.gen(function* () {
    const rows = yield* dismissedSuggestionIds(tenant)
    return new Set(rows)
  })

/**
 * Open suggestions of a tenant, each with the identifiers a link of its two profiles names: found now, not dismissed,
 * and of two profiles that each still hold an identifier no one shares (the one they are best known by, a user id
 * first). A profile whose identifiers were all split from linking (or are shared) cannot be linked: its suggestion
 * is not listed, rather than listed and answered 404 when accepted.
 */
const linkableSuggestions = (tenant: string) =>
  Effect.map(foundSuggestions(tenant), (found) => found.flatMap(({ suggestion, a, b }) => a === undefined || b === undefined ? [] : [{ suggestion, a, b }]))

/** Suggestions found now and not dismissed, each with the identifier a link names of each profile (if it holds one). */
const foundSuggestions = (tenant: string) =>
  Effect.gen(function* () {
    const gone = yield* dismissed(tenant)
    const found = (yield* inSlices(findSuggestionsSteps(yield* profileSummaries(tenant)))).filter((s) => !gone.has(s.id))
    if (found.length === 0) return []
    const profiles = [...new Set(found.flatMap((s) => [s.a, s.b]))]
    const anchors = new Map((yield* anchorNodes(tenant, profiles, DEFAULT_GRAPH_RULES.priority)).map((n) => [n.profile_id, `${n.kind}:${n.value}`]))
    return found.map((suggestion) => ({ suggestion, a: anchors.get(suggestion.a), b: anchors.get(suggestion.b) }))
  })

/** A profile's earlier ids followed back (and pairs of profiles merged into one) at most this many: past it, a stale id is 404. */
const MAX_EARLIER_IDS = 200

/**
 * Pairs hashed at most to say why a suggestion is not open (200,000 SHA-256 took 0.14 s on the dev machine, at load
 * 7, on the server's event loop): past it, a stale id of a tenant with that many merges is answered 404.
 */
const MAX_PAIRS_HASHED = 200_000

type Found = Effect.Success<ReturnType<typeof foundSuggestions>>[number]

/**
 * Why a suggestion not found open cannot be decided: decided before; its two profiles one now (merged into one
 * another, or both into a third); the same two people under other profile ids now (their messages moved, e.g. after a
 * split), whose suggestion has another id; else an id no suggestion of the tenant has (mistyped, or its profiles no
 * longer look alike). A suggestion id is a hash of its pair, so the pairs the merges made are hashed and compared.
 */
const whyNotOpen = (tenant: string, id: string, found: ReadonlyArray<Found>) =>
  Effect.gen(function* () {
    const earlier = yield* suggestionDecision(tenant, id, acceptedReason(id, ""))
    if (earlier !== undefined) return new SuggestionDecided({ id, tenant, ...earlier })
    let budget = MAX_PAIRS_HASHED
    const into = new Map<string, Array<{ readonly from: string; readonly atMs: number }>>()
    for (const m of yield* profileMergesOf(tenant)) {
      if (budget-- > 0 && suggestionId(m.from, m.to) === id) return merged(id, tenant, m.from, m.to, m.to, m.atMs)
      const froms = into.get(m.to)
      if (froms === undefined) into.set(m.to, [m])
      else froms.push(m)
    }
    for (const [to, froms] of into) {
      const n = Math.min(froms.length, MAX_EARLIER_IDS)
      if ((budget -= (n * (n - 1)) / 2) < 0) break
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          const [x, y] = [froms[i]!, froms[j]!]
          if (suggestionId(x.from, y.from) === id) return merged(id, tenant, x.from, y.from, to, Math.max(x.atMs, y.atMs))
        }
      }
    }
    /** The profile and the ids whose messages went into it, followed back. */
    const idsOf = (profile: string) => {
      const ids = [profile]
      for (let k = 0; k < ids.length && ids.length < MAX_EARLIER_IDS; k++) ids.push(...(into.get(ids[k]!) ?? []).map((m) => m.from).filter((f) => !ids.includes(f)))
      return ids
    }
    for (const f of found) {
      const [as, bs] = [idsOf(f.suggestion.a), idsOf(f.suggestion.b)]
      if (as.length * bs.length === 1) continue
      if ((budget -= as.length * bs.length) < 0) break
      for (const x of as) {
        for (const y of bs) {
          if (suggestionId(x, y) !== id) continue
          const blocked = f.a === undefined ? f.suggestion.a : f.b === undefined ? f.suggestion.b : undefined
          return new SuggestionReplaced({ id, tenant, was: [x, y], now: [f.suggestion.a, f.suggestion.b], by: f.suggestion.id, ...(blocked === undefined ? {} : { blocked }) })
        }
      }
    }
    return new UnknownSuggestion({ id, tenant })
  })

const merged = (id: string, tenant: string, x: string, y: string, into: string, atMs: number) =>
  new SuggestionProfilesMerged({ id, tenant, a: x < y ? x : y, b: x < y ? y : x, into, atMs })

/** Open suggestions of a tenant: found now, not dismissed, of two profiles a link can still name. */
export const openSuggestions = (tenant: string) => Effect.map(linkableSuggestions(tenant), (ls) => ls.map((l) => l.suggestion))

/** How a decision reaches the running graph: `cdp serve` reloads its pipeline's; on the data dir there is none. */
export type Reload<E> = Effect.Effect<void, E>

/**
 * Records an operator's decision and applies it: the running graph (if any) is reloaded first, so messages resolved
 * from then on follow it, then a rebuild of the tenant moves what was stored before.
 */
const decide = <E>(tenant: string, operation: Omit<Operation, "tenant">, config: IdentityConfig, reload: Reload<E>) =>
  Effect.gen(function* () {
    const recorded = yield* recordOperation({ tenant, ...operation })
    yield* reload
    const rebuild = yield* rebuildIdentity(config, tenant)
    return { operation: recorded, rebuild }
  })

/** The node of an identifier some profile of the tenant holds: a decision about an unknown value is a typo. */
const nodeOf = (tenant: string, input: string, config: IdentityConfig) =>
  Effect.gen(function* () {
    const ref = yield* readIdentifier(input, tenant, config)
    if (ref._tag !== "identifier") return yield* Effect.fail(new BadIdentifier({ input, reason: "name an identifier (KIND:VALUE), not a profile id" }))
    yield* profileIdOf(tenant, ref)
    return `${ref.kind}:${ref.value}`
  })

/** Split: the identifier stops linking; what only it joined splits off. */
export const splitIdentifier = <E>(tenant: string, identifier: string, reason: string, config: IdentityConfig, reload: Reload<E>, actor = "") =>
  Effect.gen(function* () {
    yield* checkReason(reason)
    const node = yield* nodeOf(tenant, identifier, config)
    return yield* decide(tenant, { kind: "remove", a: node, b: "", reason, actor }, config, reload)
  })

/** Separate: two identifiers are different people; the merge that joined them is reverted. */
export const separateIdentifiers = <E>(
  tenant: string, first: string, second: string, reason: string, config: IdentityConfig, reload: Reload<E>, actor = "",
) =>
  Effect.gen(function* () {
    yield* checkReason(reason)
    const a = yield* nodeOf(tenant, first, config)
    const b = yield* nodeOf(tenant, second, config)
    if (a === b) return yield* Effect.fail(new SameIdentifier({ first, second, node: a }))
    return yield* decide(tenant, { kind: "separate", a, b, reason, actor }, config, reload)
  })

/** Accept (merge the pair, recorded with the reason or the evidence) or dismiss (never suggested again) a suggestion. */
export const decideSuggestion = <E>(tenant: string, id: string, accept: boolean, reason: string, config: IdentityConfig, reload: Reload<E>, actor = "") =>
  Effect.gen(function* () {
    yield* checkReason(reason)
    const all = yield* foundSuggestions(tenant)
    const found = all.find((l) => l.suggestion.id === id)
    if (found === undefined) return yield* Effect.fail(yield* whyNotOpen(tenant, id, all))
    const { suggestion, a, b } = found
    // A pair not listed because a profile cannot be linked is still the operator's to dismiss: it stays hidden after.
    if (!accept) return { operation: yield* recordOperation({ tenant, kind: "dismiss", a: suggestion.id, b: "", reason, actor }) }
    if (a === undefined || b === undefined) {
      return yield* Effect.fail(new SuggestionNotLinkable({ id, tenant, profile: a === undefined ? suggestion.a : suggestion.b }))
    }
    const apart = (yield* separatedProfiles(tenant)).some(([x, y]) => x === suggestion.a && y === suggestion.b || x === suggestion.b && y === suggestion.a)
    if (apart) return yield* Effect.fail(new SuggestionKeptApart({ id, tenant }))
    const evidence = suggestion.evidence.map((e) => `${e.field} ${e.a} ~ ${e.b} (${e.similarity.toFixed(2)})`).join("; ")
    return yield* decide(tenant, { kind: "link", a, b, reason: acceptedReason(suggestion.id, reason || evidence), actor }, config, reload)
  })

/** What a decision did: the recorded operation and, unless it was a dismissal, the rebuild that applied it. */
export interface DecisionResult {
  readonly operation: OperationRow
  readonly rebuild?: { readonly tenants: ReadonlyArray<RebuildSummary>; readonly seconds: number }
}
