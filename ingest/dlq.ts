// `cdp dlq list|retry`: dead letters, and re-driving them after a fix. A retry parses each payload again with its
// source's raw parser (RAW_PARSERS) as of the time it was received; what passes goes through the pipeline and lands,
// what still fails stays open. Each attempt is recorded in dead_letter_outcomes; a dead letter that landed is closed.
import { Data, Effect } from "effect"
import {
  type DeadLetterRow, landedMessageIds, selectDeadLetters as selectDeadLetterRows, storeOutcomes,
} from "../warehouse/dead-letters.ts"
import { dateOffTheCalendar, DateNotOnCalendar } from "../warehouse/calendar.ts"
import type { CanonicalEvent, JsonObject, KeptEncoding, Rejection } from "./message.ts"
import { Pipeline } from "./pipeline.ts"
import { RAW_PARSERS, WEBHOOK_SOURCES } from "./sources/index.ts"
import { decodeUtf8, keptBytes } from "./utf8.ts"
import { sourceTimeZone } from "./sources/items.ts"
import { ConsentPacing } from "./sources/segment.ts"

/**
 * The sources a dead letter can come from: each source's name (files, webhooks and the Segment API alike; a message
 * from Kafka keeps the name of the source it came from) and "dsr", the statements a data subject request lands.
 */
export const DEAD_LETTER_SOURCES: ReadonlyArray<string> = [...RAW_PARSERS.keys(), "dsr"]

/** A filter naming a source no dead letter comes from (a typo would list nothing, and a retry re-drive nothing). */
export class UnknownDeadLetterSource extends Data.TaggedError("UnknownDeadLetterSource")<{ readonly source: string }> {
  override get message() {
    return `--source ${unknownSourceWords(this.source)}`
  }
}

/** After the filter's name: why the source is none (the known ones named). */
export const unknownSourceWords = (source: string): string =>
  `${JSON.stringify(source.length > 60 ? `${source.slice(0, 60)}…` : source)} is no source of dead letters; the sources are ${DEAD_LETTER_SOURCES.join(", ")}`

const checkSource = (filter: DeadLetterFilter): Effect.Effect<void, UnknownDeadLetterSource> =>
  filter.source === undefined || DEAD_LETTER_SOURCES.includes(filter.source) ? Effect.void : Effect.fail(new UnknownDeadLetterSource({ source: filter.source }))

export interface DeadLetterFilter {
  readonly tenant?: string | undefined
  readonly source?: string | undefined
  readonly rule?: string | undefined
  /** Only dead letters received at or after this instant. */
  readonly since?: Date | undefined
  /** Most dead letters listed (default 100) or retried (default 10,000), oldest first. */
  readonly limit?: number | undefined
  /** List only: include dead letters already re-driven into the warehouse (default: open ones only). */
  readonly all?: boolean | undefined
  /** List only: those after this key, [received at (ms), tenant, dead-letter id]: the last of the page before. */
  readonly after?: readonly [number, string, string] | undefined
}

/** A listed dead letter's key in the list's order (received, tenant, id): what a page cursor holds. */
export const deadLetterKey = (entry: DeadLetterEntry): readonly [number, string, string] =>
  [Date.parse(entry.receivedAt), entry.tenant, entry.deadLetterId]

export type RetryOutcome = "landed" | "still_rejected"

export interface DeadLetterEntry {
  readonly tenant: string
  readonly source: string
  readonly deadLetterId: string
  readonly receivedAt: string
  readonly messageId: string
  readonly rule: string
  readonly field: string
  readonly reason: string
  /**
   * How its payload is kept: "utf8", the text as received, or "base64", base64 of bytes that are not UTF-8 (a mail in
   * another charset, say), which a retry decodes back to those bytes.
   */
  readonly payloadEncoding: KeptEncoding
  /** "landed" once a retry landed it; "open" otherwise. */
  readonly status: "open" | "landed"
  /** The latest retry, when there was one. */
  readonly lastRetry?: { readonly at: string; readonly outcome: RetryOutcome; readonly rule: string; readonly reason: string }
}

export interface RetryResult {
  readonly tenant: string
  readonly source: string
  readonly deadLetterId: string
  readonly outcome: RetryOutcome
  /** Why it still fails ("" when it landed): the rule and message its connector or the pipeline gives now. */
  readonly rule: string
  readonly reason: string
  /** The messages its payload became (several for a refused batch). */
  readonly messageIds: ReadonlyArray<string>
}

export interface RetrySummary {
  readonly retried: number
  readonly landed: number
  readonly stillRejected: number
  readonly results: ReadonlyArray<RetryResult>
}


/** A `since` bound as given (a date or a date-time): the instant, or why it is none (a date off the calendar, or no time). */
export const parseSinceDate = (text: string): Date | DateNotOnCalendar | Error => {
  const off = dateOffTheCalendar(text)
  if (off !== undefined) return off
  const d = new Date(text)
  return Number.isNaN(d.getTime()) ? new Error(`"${text.slice(0, 40)}" is not a time`) : d
}

/** ClickHouse's DateTime64 text ("2024-10-01 12:00:00.000", UTC) as ISO-8601. */
const isoOf = (chTime: string): string => `${chTime.replace(" ", "T")}Z`

const selectDeadLetters = (filter: DeadLetterFilter, options: {
  readonly open: boolean; readonly payload: boolean; readonly limit: number; readonly after?: readonly [number, string, string] | undefined
}) =>
  selectDeadLetterRows({ tenant: filter.tenant, source: filter.source, rule: filter.rule, since: filter.since, ...options })

const entryOf = (row: DeadLetterRow): DeadLetterEntry => {
  const entry: DeadLetterEntry = {
    tenant: row.tenant,
    source: row.source,
    deadLetterId: row.dead_letter_id,
    receivedAt: isoOf(row.received_at),
    messageId: row.message_id,
    rule: row.rule,
    field: row.field,
    reason: row.reason,
    payloadEncoding: row.payload_encoding === "base64" ? "base64" : "utf8",
    status: Number(row.landed) === 1 ? "landed" : "open",
  }
  return row.last_outcome === ""
    ? entry
    : { ...entry, lastRetry: { at: isoOf(row.last_at), outcome: row.last_outcome as RetryOutcome, rule: row.last_rule, reason: row.last_reason } }
}

/** Dead letters, oldest first: open ones (never landed by a retry), or all with `filter.all`. */
export const listDeadLetters = Effect.fn("listDeadLetters")(function* (filter: DeadLetterFilter = {}) {
  yield* checkSource(filter)
  const rows = yield* selectDeadLetters(filter, { open: filter.all !== true, payload: false, limit: filter.limit ?? 100, after: filter.after })
  return rows.map(entryOf)
})

const CHUNK = 1_000

interface Attempt {
  readonly row: DeadLetterRow
  readonly events: ReadonlyArray<CanonicalEvent>
  /** The first reason it still fails at its connector, if it does. */
  readonly refusal?: { readonly rule: string; readonly reason: string }
}

/** Each source's settings as the deployment has them (CDP_SOURCE_OPTIONS), by source name. */
export type SourceOptions = Readonly<Record<string, Readonly<Record<string, unknown>>>>

/**
 * What a raw parser is handed of a payload kept as base64 (bytes that are not UTF-8): a source that reads bytes (mail,
 * whose raw parser takes `encoding: "base64"` in the meta, as an archived item's) the base64 text; any other reads
 * UTF-8 text only, so such a payload is refused again as its bytes are, never read with U+FFFD in place of them.
 */
const payloadToParse = (row: DeadLetterRow): { readonly body: string; readonly meta?: JsonObject } | { readonly refusal: Rejection } => {
  const payload = row.payload ?? ""
  if (row.payload_encoding !== "base64") return { body: payload }
  if (BYTE_SOURCES.has(row.source)) return { body: payload, meta: { encoding: "base64" } }
  const text = decodeUtf8(keptBytes(payload, "base64"))
  return typeof text === "string" ? { body: text } : { refusal: text }
}

/** Sources whose items are bytes in a charset of their own (their webhook takes the bytes as received: mail). */
const BYTE_SOURCES: ReadonlySet<string> = new Set([...WEBHOOK_SOURCES.values()].filter((s) => s.parseBytes !== undefined).map((s) => s.name))

/**
 * A dead letter keeps no meta (an archived item keeps there the zone its times were read in, see rawTimeContext), so
 * it is read as it was when it arrived with its source's settings as configured now: its columns (calls), and its
 * "timeZone" handed to the raw parser as an archived item's meta hands it. Without one, zone-less times are UTC. A
 * payload kept as base64 is handed over as payloadToParse says.
 */
const parseAgain = (row: DeadLetterRow, consentPacing: ConsentPacing, options: Readonly<Record<string, unknown>> | undefined) =>
  Effect.promise(async (): Promise<Attempt> => {
    const parse = RAW_PARSERS.get(row.source)
    if (parse === undefined) {
      return { row, events: [], refusal: { rule: "no_raw_parser", reason: `source "${row.source}" has no raw parser` } }
    }
    const payload = payloadToParse(row)
    if ("refusal" in payload) return { row, events: [], refusal: { rule: payload.refusal.rule, reason: payload.refusal.message } }
    const zone = sourceTimeZone(options)
    const meta = zone === undefined ? payload.meta : { ...payload.meta, timeZone: zone }
    const items = await parse(payload.body, meta, {
      tenant: row.tenant, receivedAtMs: Date.parse(isoOf(row.received_at)), consentPacing, ...(options === undefined ? {} : { options: { ...options } }),
    })
    const events: Array<CanonicalEvent> = []
    let refusal: Attempt["refusal"]
    for (const item of items) {
      if (item._tag === "event") events.push(item.event)
      else refusal ??= { rule: item.deadLetter.rejection.rule, reason: item.deadLetter.rejection.message }
    }
    if (events.length === 0 && refusal === undefined) refusal = { rule: "empty_payload", reason: "the payload holds nothing to parse" }
    return refusal === undefined ? { row, events } : { row, events, refusal }
  })

/** Which of the events the warehouse holds now (the truth about what landed). */
const storedIds = (events: ReadonlyArray<CanonicalEvent>) =>
  Effect.gen(function* () {
    const byTenant = new Map<string, Array<string>>()
    for (const e of events) {
      const ids = byTenant.get(e.tenant)
      if (ids === undefined) byTenant.set(e.tenant, [e.messageId])
      else ids.push(e.messageId)
    }
    const stored = new Set<string>()
    for (const [tenant, ids] of byTenant) for (const id of yield* landedMessageIds(tenant, ids)) stored.add(`${tenant}\u0000${id}`)
    return stored
  })

/**
 * Re-drives open dead letters matching the filter. Items their connector accepts now go through the pipeline (and
 * the archive, as accepted items); a dead letter is `landed` once all its messages are in the warehouse. One that
 * still fails stays open, with the new reason in the result and in dead_letter_outcomes; it is not dead-lettered
 * again. A payload without meta is read as a historical import would read it (Segment: no clock-skew correction), with
 * its source's `sourceOptions` (see parseAgain).
 */
export const retryDeadLetters = Effect.fn("retryDeadLetters")(function* (filter: DeadLetterFilter = {}, sourceOptions: SourceOptions = {}) {
  yield* checkSource(filter)
  const pipeline = yield* Pipeline
  const open = yield* selectDeadLetters(filter, { open: true, payload: true, limit: filter.limit ?? 10_000 })
  const results: Array<RetryResult> = []
  for (let start = 0; start < open.length; start += CHUNK) {
    // Segment's consent strings are read one decoding budget after another, with a turn of the event loop between.
    const consentPacing = new ConsentPacing()
    const attempts = yield* Effect.forEach(open.slice(start, start + CHUNK), (row) => parseAgain(row, consentPacing, sourceOptions[row.source]))
    const events = attempts.flatMap((a) => a.events)
    // One the bus refuses again as too large is this dead letter already: told, not kept a second time.
    const submitted = events.length > 0 ? yield* pipeline.submit(events, [], { keepTooLarge: false }) : undefined
    const tooLarge = new Map(submitted?.keptTooLarge.map((k) => [k.event, k.deadLetter.rejection]))
    const stored = events.length === 0 ? new Set<string>() : yield* storedIds(events)
    const retriedAt = new Date().toISOString()
    const outcomes = attempts.map((a): RetryResult => {
      const messageIds = a.events.map((e) => e.messageId)
      const base = { tenant: a.row.tenant, source: a.row.source, deadLetterId: a.row.dead_letter_id, messageIds }
      if (a.refusal !== undefined) return { ...base, outcome: "still_rejected", ...a.refusal }
      const refusedByBus = a.events.map((e) => tooLarge.get(e)).find((r) => r !== undefined)
      if (refusedByBus !== undefined) return { ...base, outcome: "still_rejected", rule: refusedByBus.rule, reason: refusedByBus.message }
      const missing = a.events.filter((e) => !stored.has(`${e.tenant}\u0000${e.messageId}`))
      return missing.length === 0
        ? { ...base, outcome: "landed", rule: "", reason: "" }
        : {
          ...base, outcome: "still_rejected", rule: "not_landed",
          reason: `${missing.length} of ${a.events.length} message(s) passed the ${a.row.source} checks but a pipeline stage did not land them (see dead_letters)`,
        }
    })
    yield* storeOutcomes(outcomes.map((r, i) => ({
      tenant: r.tenant, deadLetterId: r.deadLetterId, retriedAt, outcome: r.outcome, rule: r.rule, reason: r.reason,
      messageId: r.messageIds[0] ?? attempts[i]!.row.message_id,
    })))
    results.push(...outcomes)
  }
  const landed = results.filter((r) => r.outcome === "landed").length
  return { retried: results.length, landed, stillRejected: results.length - landed, results } satisfies RetrySummary
})
