// Keeping membership current: a refresh runs each audience's query, compares it with the stored members, and records
// every entry and exit with its time and cause (the conditions that matched, the ones that stopped matching, a
// withdrawn consent, a profile gone by a merge or an erasure, a deleted audience) in the changes feed
// (audience_changes, numbered per audience), then hands `Audience Entered` / `Audience Exited` track events about the
// profile to the pipeline, so they land in events like any other message. `cdp serve` refreshes after batches land.
import { Data, Effect } from "effect"
import type { CanonicalEvent, IdentifierKind } from "../../ingest/message.ts"
import {
  type AudienceRow, type ChangeRow, changesAfter, lastChangeSeq, type MemberRow, storeChanges, storedMembers, storedMembersOf,
} from "../../warehouse/audiences.ts"
import { besideErasures } from "../../warehouse/erasure.ts"
import { anchorNodes } from "../../warehouse/identity.ts"
import { allAudiencesForRefresh, type Audience, audienceOfTenant, audienceProblem, getAudience, refuseUnusable } from "./audience.ts"
import { type ChannelCondition, ConditionInvalid, type EventCondition, type LeafNode, leavesOf, parseCondition } from "./condition.ts"
import { evaluate, explainRow, type LeafResult } from "./evaluate.ts"
import { eachStep, inSlices, mapSteps } from "../slices.ts"

export const AUDIENCE_ENTERED = "Audience Entered"
export const AUDIENCE_EXITED = "Audience Exited"
/** The `source` of the events a refresh emits. */
export const AUDIENCE_SOURCE = "audiences"

/** Hands events to the pipeline (Pipeline.submit in cdp serve); a refresh without it records changes only. */
export type Emit = (events: ReadonlyArray<CanonicalEvent>) => Effect.Effect<void, unknown>

/**
 * Most events handed to the pipeline at once, each hand-over waited for before the next. The in-process bus handles
 * what one publish brings as one batch: an audience's first fill of 11,000 members, handed over whole, held every other
 * tenant's messages for as long as all of it took to land (seen: 3.9 s). About two HTTP batches' worth.
 */
export const EMIT_AT_ONCE = 1_000

/**
 * Changes stored by one call of storeChanges (two inserts, whose rows it makes at once, holding the event loop): a
 * first fill of 300,000 members stored whole held it for about 300 ms of CPU.
 */
export const STORE_AT_ONCE = 20_000

export interface AudienceChange {
  /** The change's number in its audience's feed (increasing, never reused): also the cursor after it. */
  readonly seq: string
  readonly audienceId: string
  readonly profileId: string
  readonly change: "entered" | "exited"
  /** ISO-8601 UTC. */
  readonly at: string
  readonly cause: string
}

export interface RefreshSummary {
  readonly audiences: number
  readonly entered: number
  readonly exited: number
  readonly ms: number
  /** Audiences that cannot be used now (their purpose removed from the policy), with why: not refreshed, not counted. */
  readonly notRefreshed?: ReadonlyArray<{ readonly id: string; readonly tenant: string; readonly name: string; readonly reason: string }>
}

const isoOf = (ms: string) => new Date(Number(ms)).toISOString()

const toChange = (r: ChangeRow): AudienceChange => ({
  seq: r.seq, audienceId: r.audience_id, profileId: r.profile_id, change: r.change, at: isoOf(r.at), cause: r.cause,
})

export class BadCursor extends Data.TaggedError("BadCursor")<{ readonly cursor: string; readonly list?: "members" }> {
  override get message() {
    return this.list === "members"
      ? `"${this.cursor.slice(0, 40)}" is not a cursor of the audience's members (use the "next" of the previous page, or none to start)`
      : `"${this.cursor.slice(0, 40)}" is not a cursor of the changes feed (use the "cursor" of the previous answer, or none to start)`
  }
}

export const MAX_CHANGES_LIMIT = 10_000

/**
 * The changes feed of an audience, for exports (incremental sync of entries and exits):
 * `audienceChangesSince(tenant, audienceId, cursor, limit)` gives the changes after `cursor` (undefined or "" for the
 * first), oldest first, at most `limit` (1-10,000), and the cursor to pass next time (the last change's; the same
 * cursor when there is nothing new). A cursor is opaque text (today the change's number, which only grows); it stays
 * valid for ever, and a change once given is never given again after its cursor. An erasure removes the erased
 * person's changes (numbers are never reused). Fails with AudienceNotFound for an unknown id, BadCursor for text that is no cursor.
 */
export const audienceChangesSince = Effect.fn("audienceChangesSince")(function* (
  tenant: string, audienceId: string, cursor: string | undefined, limit: number,
) {
  const c = cursor ?? ""
  if (c !== "" && !(/^\d{1,20}$/.test(c) && BigInt(c) < 2n ** 64n)) return yield* Effect.fail(new BadCursor({ cursor: c }))
  // A deleted audience keeps its feed (its members' exits are the last changes in it).
  yield* audienceOfTenant(tenant, audienceId)
  const rows = yield* changesAfter(tenant, audienceId, BigInt(c === "" ? "0" : c), Math.max(1, Math.min(Math.floor(limit), MAX_CHANGES_LIMIT)))
  const changes = rows.map(toChange)
  return { changes, cursor: changes.at(-1)?.seq ?? c }
})

const matchedWords = (conditions: ReadonlyArray<LeafResult>, matched: boolean) =>
  conditions.filter((c) => c.matched === matched).map((c) => `${c.condition}${c.value === "" ? "" : ` (${c.value})`}`).join("; ")

/** Leaves that matched at entry (stored `why`) and do not now: the conditions that changed. */
const stoppedMatching = (stored: string, now: ReadonlyArray<LeafResult>) => {
  let before: Array<{ pointer: string }> = []
  try {
    before = JSON.parse(stored) as Array<{ pointer: string }>
  } catch {
    // an unreadable why: every condition that does not match now is named
  }
  const was = new Set(before.map((b) => b.pointer))
  const changed = now.filter((c) => !c.matched && (was.size === 0 || was.has(c.pointer)))
  return changed.length > 0 ? changed : now.filter((c) => !c.matched)
}

// The identifier an audience event carries so identity resolves it to the member's profile: a user id first.
const ANCHOR_PRIORITY: ReadonlyArray<IdentifierKind> = ["user_id", "anonymous_id", "email", "phone", "twitter_id", "twitter_handle", "social_handle"]

interface Pending {
  readonly profileId: string
  readonly change: "entered" | "exited"
  readonly cause: string
  readonly why: string
}

const eventsOf = (audience: Audience, changes: ReadonlyArray<Pending & { seq: bigint }>, atMs: number) =>
  Effect.gen(function* () {
    const anchors = new Map((yield* anchorNodes(audience.tenant, changes.map((c) => c.profileId), ANCHOR_PRIORITY)).map((a) => [a.profile_id, a]))
    const at = new Date(atMs).toISOString()
    const events: Array<CanonicalEvent> = []
    yield* inSlices(eachStep(changes, (c) => {
      const a = anchors.get(c.profileId)
      // A profile without identifiers left (erased, merged away) has nobody to tell: its change is in the feed only.
      if (a === undefined) return
      events.push({
        tenant: audience.tenant, messageId: `audience-${audience.id}-${c.seq}`, type: "track",
        event: c.change === "entered" ? AUDIENCE_ENTERED : AUDIENCE_EXITED,
        anonymousId: a.kind === "anonymous_id" ? a.value : "", userId: a.kind === "user_id" ? a.value : "", groupId: "", previousId: "",
        channel: "web", source: AUDIENCE_SOURCE, timestamp: at, originalTimestamp: null, sentAt: null, receivedAt: at,
        properties: { audience_id: audience.id, audience_name: audience.name, purpose: audience.purpose, cause: c.cause, seq: c.seq.toString() },
        traits: {}, context: {}, extra: {},
        identifiers: a.kind === "anonymous_id" || a.kind === "user_id" ? [] : [{ kind: a.kind as IdentifierKind, value: a.value, trust: "verified" }],
        text: "", profileId: c.profileId,
      })
    }))
    return events
  })

const entryOf = (row: AudienceRow, leaves: ReadonlyArray<LeafNode>): Pending => {
  const why = explainRow(row, leaves).conditions
  return {
    profileId: row.profile_id, change: "entered", cause: `matched: ${matchedWords(why, true) || "every condition"}`,
    why: JSON.stringify(why.filter((c) => c.matched).map((c) => ({ pointer: c.pointer, condition: c.condition, value: c.value }))),
  }
}

/** Why a member is out, from its row of the explaining query (undefined: it has no events under its id any more). */
const exitCause = (audience: Audience, row: AudienceRow | undefined, stored: MemberRow, leaves: ReadonlyArray<LeafNode>) => {
  if (row === undefined) return "profile gone: merged into another profile, or erased"
  if (Number(row.consenting) !== 1) return `consent withdrawn (or processing restricted) for ${audience.purpose}`
  const words = matchedWords(stoppedMatching(stored.why, explainRow(row, leaves).conditions), false)
  return `no longer matched: ${words || "the condition as a whole"}`
}

/** Numbers, stores and emits an audience's changes; returns how many entered and exited. */
const record = (audience: Audience, pending: ReadonlyArray<Pending>, emit: Emit | undefined) =>
  Effect.gen(function* () {
    if (pending.length === 0) return { entered: 0, exited: 0 }
    const last = yield* lastChangeSeq(audience.tenant, audience.id)
    const atMs = Date.now()
    // Numbers only grow, even after an erasure removed the latest changes (a number given out once is never given
    // again): after the last one, and after the change time in microseconds.
    const start = last >= BigInt(atMs) * 1000n ? last : BigInt(atMs) * 1000n
    // In slices (identity/slices.ts), as every loop over an audience's members here: a first fill is the tenant's
    // every profile, which made at once held cdp serve's event loop (601 ms of CPU at 300,000 members).
    let n = 0n
    const numbered = yield* inSlices(mapSteps(pending, (p) => ({ ...p, seq: start + ++n })))
    const rows = yield* inSlices(mapSteps(numbered, (p) => ({
      tenant: audience.tenant, audience_id: audience.id, profile_id: p.profileId, change: p.change, cause: p.cause, seq: p.seq.toString(), why: p.why, atMs,
    })))
    // Stored STORE_AT_ONCE at a time: storeChanges makes each insert's rows in one go.
    for (let i = 0; i < rows.length; i += STORE_AT_ONCE) yield* storeChanges(rows.slice(i, i + STORE_AT_ONCE))
    if (emit !== undefined) {
      const events = yield* eventsOf(audience, numbered, atMs)
      // The changes are stored first: a failed hand-over loses events, never the feed; a retry reuses their message ids.
      for (let i = 0; i < events.length; i += EMIT_AT_ONCE) {
        const part = events.slice(i, i + EMIT_AT_ONCE)
        yield* emit(part).pipe(Effect.retry({ times: 2 }), Effect.catchCause((cause) => Effect.logWarning("audience events not emitted").pipe(Effect.annotateLogs({ audience: audience.id, events: part.length, cause: String(cause).slice(0, 200) }))))
      }
    }
    return { entered: numbered.filter((p) => p.change === "entered").length, exited: numbered.filter((p) => p.change === "exited").length }
  })

/**
 * Brings one audience's membership up to date: returns how many entered and exited. Never beside an erasure of its
 * tenant (besideErasures): members read before it and changes stored after would hold the erased person again.
 */
export const refreshAudience = (audience: Audience, emit?: Emit, asOfMs = Date.now()) =>
  besideErasures(audience.tenant)(refreshWhole(audience, emit, asOfMs))

const refreshWhole = Effect.fn("refreshAudience")(function* (audience: Audience, emit?: Emit, asOfMs = Date.now()) {
  const stored = new Map((yield* storedMembers(audience.tenant, audience.id)).map((m): [string, MemberRow] => [m.profile_id, m]))
  const pending: Array<Pending> = []
  if (audience.deleted) {
    for (const id of stored.keys()) pending.push({ profileId: id, change: "exited", cause: "audience deleted", why: "" })
  } else {
    const condition = parseCondition(audience.condition)
    // Stored conditions were checked when saved; one the language no longer reads keeps its members as they are.
    if (condition instanceof ConditionInvalid) return { entered: 0, exited: 0 }
    // So does one whose purpose the policy no longer has: it is not evaluated (refreshedAlone logs why).
    yield* refuseUnusable(audience)
    const { rows, leaves } = yield* evaluate(audience.tenant, audience.purpose, condition, { kind: "members" }, asOfMs)
    const now = new Set<string>()
    yield* inSlices(eachStep(rows, (r) => {
      now.add(r.profile_id)
      if (!stored.has(r.profile_id)) pending.push(entryOf(r, leaves))
    }))
    const gone = [...stored.keys()].filter((id) => !now.has(id))
    if (gone.length > 0) {
      // PROFILES_PER_QUERY a statement, as the refresh after a batch asks: all at once, more made one too long to write
      // in, bound, holding chDB's process-wide turn (every other bound statement waited for it).
      const byId = new Map<string, AudienceRow>()
      for (let i = 0; i < gone.length; i += PROFILES_PER_QUERY) {
        const explained = yield* evaluate(audience.tenant, audience.purpose, condition, { kind: "explain", profiles: gone.slice(i, i + PROFILES_PER_QUERY) }, asOfMs)
        for (const r of explained.rows) byId.set(r.profile_id, r)
      }
      yield* inSlices(eachStep(gone, (id) => {
        pending.push({ profileId: id, change: "exited", cause: exitCause(audience, byId.get(id), stored.get(id)!, leaves), why: "" })
      }))
    }
  }
  return yield* record(audience, pending, emit)
})

/**
 * Brings one audience's membership up to date for some profiles only (those a write touched): one query explaining
 * just them (it reads their messages, not the tenant's) and their stored membership. What did not change for them
 * cannot have moved them in or out, except time leaving a window, which the periodic full refresh catches. Never
 * beside an erasure of its tenant, as refreshAudience.
 */
export const refreshAudienceProfiles = (audience: Audience, profiles: ReadonlyArray<string>, emit?: Emit, asOfMs = Date.now()) =>
  besideErasures(audience.tenant)(refreshSome(audience, profiles, emit, asOfMs))

const refreshSome = Effect.fn("refreshAudienceProfiles")(function* (
  audience: Audience, profiles: ReadonlyArray<string>, emit?: Emit, asOfMs = Date.now(),
) {
  if (audience.deleted || profiles.length === 0) return { entered: 0, exited: 0 }
  const condition = parseCondition(audience.condition)
  if (condition instanceof ConditionInvalid) return { entered: 0, exited: 0 }
  yield* refuseUnusable(audience)
  const stored = new Map((yield* storedMembersOf(audience.tenant, audience.id, profiles)).map((m): [string, MemberRow] => [m.profile_id, m]))
  const { rows, leaves } = yield* evaluate(audience.tenant, audience.purpose, condition, { kind: "explain", profiles }, asOfMs)
  const byId = new Map(rows.map((r) => [r.profile_id, r]))
  const pending: Array<Pending> = []
  for (const r of rows) {
    if (Number(r.consenting) === 1 && Number(r.matched) === 1 && !stored.has(r.profile_id)) pending.push(entryOf(r, leaves))
  }
  for (const [id, member] of stored) {
    const r = byId.get(id)
    if (r === undefined || Number(r.consenting) !== 1 || Number(r.matched) !== 1) {
      pending.push({ profileId: id, change: "exited", cause: exitCause(audience, r, member, leaves), why: "" })
    }
  }
  return yield* record(audience, pending, emit)
})

/**
 * Whether an audience's condition can count the refresh's own events (track, channel web, named Audience
 * Entered/Exited): an event leaf naming them, or a channel leaf on web.
 */
const seesAudienceEvents = (audience: Audience): boolean => {
  const condition = parseCondition(audience.condition)
  if (condition instanceof ConditionInvalid) return false
  return leavesOf(condition).some((l) => l.kind === "event"
    ? [AUDIENCE_ENTERED, AUDIENCE_EXITED].includes((l.leaf as EventCondition).event) && ((l.leaf as EventCondition).channel ?? "web") === "web"
    : l.kind === "channel" && (l.leaf as ChannelCondition).channel === "web")
}

/**
 * Profiles asked about in one query at most; more are asked in several. 800 profile ids (24 kB written in) leave a
 * statement explaining them, with a condition of every kind of leaf, under what the embedded engine takes written in
 * (warehouse/inline-params.ts MAX_INLINE_BYTES): a longer one is bound and takes chDB's process-wide turn.
 */
export const PROFILES_PER_QUERY = 800

/**
 * One audience's refresh, which cannot hold back the others, of its tenant or any other: a failure of its own (its
 * purpose removed from the policy, a query the engine refuses or runs out of memory on) is logged and the audience is
 * tried again by the next refresh. An interruption (shutdown) still ends the whole refresh.
 */
export const refreshedAlone = <E, R>(audience: Audience, refresh: Effect.Effect<{ readonly entered: number; readonly exited: number }, E, R>) =>
  refresh.pipe(Effect.catch((e: E) =>
    Effect.as(
      Effect.logWarning("audience not refreshed").pipe(
        Effect.annotateLogs({ audience: audience.id, tenant: audience.tenant, reason: String((e as { message?: unknown } | null)?.message ?? e).slice(0, 300) })),
      { entered: 0, exited: 0 },
    )))

/**
 * Refreshes every audience of the tenants given, for the profiles given only (per tenant: the profiles a write
 * touched), as `cdp serve` does after a batch lands.
 */
export const refreshAudiencesFor = Effect.fn("refreshAudiencesFor")(function* (
  changed: ReadonlyMap<string, ReadonlySet<string>>,
  options?: {
    readonly emit?: Emit
    readonly asOfMs?: number
    /** Profiles whose only news is the refresh's own Audience Entered/Exited events: asked about where those can count. */
    readonly own?: ReadonlyMap<string, ReadonlySet<string>>
  },
) {
  const started = performance.now()
  let audiences = 0
  let entered = 0
  let exited = 0
  for (const tenant of new Set([...changed.keys(), ...(options?.own?.keys() ?? [])])) {
    const others = [...(changed.get(tenant) ?? [])]
    const own = options?.own?.get(tenant)
    for (const a of yield* allAudiencesForRefresh(tenant)) {
      if (a.deleted) continue
      const profiles = [...new Set([...others, ...(own !== undefined && seesAudienceEvents(a) ? own : [])])].sort()
      if (profiles.length === 0) continue
      audiences++
      for (let i = 0; i < profiles.length; i += PROFILES_PER_QUERY) {
        const r = yield* refreshedAlone(a, refreshAudienceProfiles(a, profiles.slice(i, i + PROFILES_PER_QUERY), options?.emit, options?.asOfMs))
        entered += r.entered
        exited += r.exited
      }
    }
  }
  return { audiences, entered, exited, ms: Math.round(performance.now() - started) } satisfies RefreshSummary
})

/** Refreshes every audience (of one tenant, or of all). */
export const refreshAudiences = Effect.fn("refreshAudiences")(function* (options?: { readonly tenant?: string; readonly emit?: Emit; readonly asOfMs?: number }) {
  const started = performance.now()
  const audiences = yield* allAudiencesForRefresh(options?.tenant)
  let entered = 0
  let exited = 0
  const notRefreshed: Array<{ id: string; tenant: string; name: string; reason: string }> = []
  for (const a of audiences) {
    const problem = yield* audienceProblem(a)
    if (problem !== undefined) {
      notRefreshed.push({ id: a.id, tenant: a.tenant, name: a.name, reason: problem.reason })
      yield* Effect.logWarning("audience not refreshed").pipe(Effect.annotateLogs({ audience: a.id, tenant: a.tenant, reason: problem.reason.slice(0, 300) }))
      continue
    }
    const r = yield* refreshedAlone(a, refreshAudience(a, options?.emit, options?.asOfMs))
    entered += r.entered
    exited += r.exited
  }
  return {
    audiences: audiences.filter((a) => !a.deleted).length - notRefreshed.length, entered, exited, ms: Math.round(performance.now() - started),
    ...(notRefreshed.length === 0 ? {} : { notRefreshed }),
  } satisfies RefreshSummary
})

/** One page of an audience's members (by profile id), with when each entered and why. */
export const audienceMembers = Effect.fn("audienceMembers")(function* (tenant: string, id: string, after = "", limit = 100) {
  const audience = yield* getAudience(tenant, id)
  const rows = yield* storedMembers(tenant, audience.id, { after, limit: Math.max(1, Math.min(limit, MAX_CHANGES_LIMIT)) })
  const members = rows.map((m) => {
    let why: unknown = []
    try {
      why = JSON.parse(m.why)
    } catch {
      // kept as none
    }
    return { profileId: m.profile_id, since: isoOf(m.since), why: why as ReadonlyArray<{ pointer: string; condition: string; value: string }> }
  })
  return { members, next: rows.length === Math.max(1, Math.min(limit, MAX_CHANGES_LIMIT)) ? members.at(-1)!.profileId : null }
})
