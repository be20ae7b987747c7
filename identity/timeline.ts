// A profile's cross-channel timeline, newest first, paged by keyset: a page ends at its last row's (timestamp,
// message_id) and the next page starts strictly below it, so rows landing meanwhile (older or newer) never shift a
// page boundary the way OFFSET would: no row is skipped or repeated. A cursor is the API's one format (ingest/pages.ts),
// bound to the profile's timeline and its tenant; the route refuses one bound elsewhere (ingest/profile-route.ts).
import { Data, Effect } from "effect"
import { notAChannel } from "../ingest/message.ts"
import { decodePageCursor, encodePageCursor, listOf, type PageList } from "../ingest/pages.ts"
import { dateOffTheCalendar, endNotAfterStart } from "../warehouse/calendar.ts"
import { profileHasMessages, profileTimelineRows } from "../warehouse/identity.ts"
import { type IdentifierRef, ProfileNotFound, profileIdOf } from "./profile.ts"

export const DEFAULT_TIMELINE_LIMIT = 50
export const MAX_TIMELINE_LIMIT = 1000
const MAX_FILTER_VALUES = 50

/** A timeline parameter that cannot be used; `field` is the query parameter's (and the CLI flag's) name. */
export class BadTimelineQuery extends Data.TaggedError("BadTimelineQuery")<{ readonly field: string; readonly reason: string }> {
  override get message() {
    return `${this.field}: ${this.reason}`
  }
}

export interface TimelineQuery {
  readonly limit: number
  /** Below this (timestamp in ms, message id), exclusive; none for the first page. */
  readonly after: { readonly ms: number; readonly messageId: string } | undefined
  /** The cursor `after` was read from, as given (the route checks what it is bound to). */
  readonly cursor: string | undefined
  readonly channels: ReadonlyArray<string>
  readonly events: ReadonlyArray<string>
  /** since <= timestamp < until, in ms. */
  readonly sinceMs: number | undefined
  readonly untilMs: number | undefined
}

export interface TimelineEvent {
  readonly messageId: string
  readonly timestamp: string
  readonly channel: string
  readonly source: string
  readonly type: string
  readonly event: string
}

export interface TimelinePage {
  readonly tenant: string
  readonly profileId: string
  readonly events: ReadonlyArray<TimelineEvent>
  /** Pass as ?cursor= for the next (older) page; null on the last page. */
  readonly nextCursor: string | null
}

/** What a timeline cursor holds: the last row's time (ms; one the warehouse cannot hold is no row's) and message id. */
export const TIMELINE_KEY_SHAPE = "ts"

/** The list a timeline cursor is bound to: the timeline of profile `profileId` of `tenant`. */
export const timelineList = (tenant: string, profileId: string): PageList => listOf("timeline", tenant, profileId)

/** A cursor after the row (ms, messageId): a bare key, bound to `list` when given. */
export const encodeCursor = (ms: number, messageId: string, list?: PageList): string => encodePageCursor([ms, messageId], list)

/**
 * The row a cursor continues after, bound to any list or to none: here only its form is checked (`cdp profile events`
 * on the data dir takes what a page printed, through the server or not); the route checks what it is bound to.
 */
const decodeCursor = (cursor: string): TimelineQuery["after"] | undefined => {
  const key = decodePageCursor(cursor, TIMELINE_KEY_SHAPE)
  return key === undefined || key[1] === "" ? undefined : { ms: key[0] as number, messageId: key[1] as string }
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/** The raw parameters as a URL or the CLI gives them (undefined when absent); lists may repeat or be comma-separated. */
export interface TimelineParams {
  readonly limit?: string | undefined
  readonly cursor?: string | undefined
  readonly channel?: ReadonlyArray<string> | undefined
  readonly event?: ReadonlyArray<string> | undefined
  readonly since?: string | undefined
  readonly until?: string | undefined
}

const time = (field: string, text: string | undefined): Effect.Effect<number | undefined, BadTimelineQuery> => {
  if (text === undefined) return Effect.succeed(undefined)
  const off = dateOffTheCalendar(text)
  if (off !== undefined) return Effect.fail(new BadTimelineQuery({ field, reason: off.message }))
  const ms = ISO_TIME.test(text) ? Date.parse(/T/.test(text) && !/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? `${text}Z` : text) : Number.NaN
  return Number.isNaN(ms)
    ? Effect.fail(new BadTimelineQuery({ field, reason: `"${text}" is not an ISO 8601 time (e.g. 2024-10-01 or 2024-10-01T12:00:00Z)` }))
    : Effect.succeed(ms)
}

export const readTimelineQuery = (p: TimelineParams): Effect.Effect<TimelineQuery, BadTimelineQuery> =>
  Effect.gen(function* () {
    const limit = p.limit === undefined ? DEFAULT_TIMELINE_LIMIT : Number(p.limit)
    if (p.limit !== undefined && !(/^\d+$/.test(p.limit) && limit >= 1 && limit <= MAX_TIMELINE_LIMIT)) {
      return yield* Effect.fail(new BadTimelineQuery({ field: "limit", reason: `must be a whole number from 1 to ${MAX_TIMELINE_LIMIT}` }))
    }
    const after = p.cursor === undefined ? undefined : decodeCursor(p.cursor)
    if (p.cursor !== undefined && after === undefined) {
      return yield* Effect.fail(new BadTimelineQuery({ field: "cursor", reason: "is not a cursor this API gave (pass nextCursor of the previous page as it is)" }))
    }
    const channels = (p.channel ?? []).flatMap((c) => c.split(",")).map((c) => c.trim())
    // The channels are a fixed set: an unknown name (calls for call) would answer an empty page, as if the person had none.
    const badChannel = channels.map(notAChannel).find((reason) => reason !== undefined)
    if (badChannel !== undefined) {
      return yield* Effect.fail(new BadTimelineQuery({ field: "channel", reason: `${badChannel} (several separated by commas)` }))
    }
    const events = [...(p.event ?? [])]
    if (events.some((e) => e.trim() === "" || e.length > 200)) {
      return yield* Effect.fail(new BadTimelineQuery({ field: "event", reason: "each event name must be 1 to 200 characters" }))
    }
    if (channels.length > MAX_FILTER_VALUES || events.length > MAX_FILTER_VALUES) {
      return yield* Effect.fail(new BadTimelineQuery({ field: channels.length > MAX_FILTER_VALUES ? "channel" : "event", reason: `at most ${MAX_FILTER_VALUES} values` }))
    }
    const sinceMs = yield* time("since", p.since)
    const untilMs = yield* time("until", p.until)
    if (sinceMs !== undefined && untilMs !== undefined && untilMs <= sinceMs) {
      return yield* Effect.fail(new BadTimelineQuery({ field: "until", reason: endNotAfterStart(p.until!, { name: "since", text: p.since! }) }))
    }
    return { limit, after, cursor: p.cursor, channels, events, sinceMs, untilMs }
  })

/** One page of the timeline of a profile: its current messages (after merges and splits), newest first. */
export const profileTimeline = Effect.fn("profileTimeline")(function* (tenant: string, ref: IdentifierRef, q: TimelineQuery) {
  const profileId = yield* profileIdOf(tenant, ref)
  // One row more than the page tells whether another page follows.
  const rows = yield* profileTimelineRows(tenant, profileId, q)
  if (rows.length === 0 && ref._tag === "profile" && q.after === undefined) {
    // A made-up prof_ id is not found, rather than an empty timeline.
    if (!(yield* profileHasMessages(tenant, profileId))) return yield* Effect.fail(new ProfileNotFound({ tenant, identifier: profileId }))
  }
  const page = rows.slice(0, q.limit)
  const last = page[page.length - 1]
  return {
    tenant, profileId,
    events: page.map((r): TimelineEvent => ({
      messageId: r.message_id, timestamp: new Date(Number(r.ms)).toISOString(), channel: r.channel, source: r.source, type: r.type, event: r.event,
    })),
    nextCursor: rows.length > q.limit && last !== undefined ? encodeCursor(Number(last.ms), last.message_id, timelineList(tenant, profileId)) : null,
  } satisfies TimelinePage
})
