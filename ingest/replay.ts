// `cdp replay`: re-runs archived raw items (ingest/archive.ts) through their connectors and the pipeline, so a fixed
// bug or a new enrichment reaches history. Idempotent: the sink lands each (tenant, messageId) once, so replaying
// what already landed changes nothing; to rewrite history, replay into a fresh warehouse pointed at the same archive.
import { Data, Effect } from "effect"
import {
  ARCHIVE_PREFIX,
  archiveDate,
  BATCH_SUFFIX,
  keySegment,
  MANIFEST_FILE,
  type ManifestBatch,
  readBatch,
  readManifest,
} from "./archive.ts"
import { UnknownSource } from "./import.ts"
import { TENANT_TURN } from "./bus.ts"
import type { ArchiveRecord, CanonicalEvent, DeadLetter } from "./message.ts"
import { ObjectStore } from "./objectstore.ts"
import { Pipeline } from "./pipeline.ts"
import { shownText } from "./schemas.ts"
import { RAW_PARSERS } from "./sources/index.ts"
import { ConsentPacing } from "./sources/segment.ts"
import { dateOffTheCalendar } from "../warehouse/calendar.ts"

export interface ReplayOptions {
  /** First instant replayed (inclusive), compared with each item's receivedAt. */
  readonly from: Date
  /** End of the range (exclusive). `parseReplayRange` turns a date-only `--to` into the end of that day. */
  readonly to: Date
  readonly source?: string | undefined
  readonly tenant?: string | undefined
  readonly onProgress?: ((progress: ReplayProgress) => void) | undefined
}

export interface ReplayProgress {
  readonly batchesDone: number
  readonly batchesTotal: number
  readonly records: number
}

export interface CorruptBatch {
  readonly key: string
  readonly reason: string
}

export interface ReplaySummary {
  /** Batches read (listed in a manifest or not), corrupt ones included. */
  readonly batches: number
  /** Batches found beside a manifest that does not list them (written just before a crash); read without a checksum. */
  readonly unlistedBatches: number
  /** Archived items in the range. */
  readonly records: number
  /** Events their connectors accepted again, submitted to the pipeline. */
  readonly accepted: number
  /** Items their connectors now refuse (dead letters). */
  readonly rejected: number
  /**
   * Events the bus refused as too large even compressed (an events topic with a smaller max.message.bytes than when
   * they were archived): not replayed, and not kept as dead letters, since their raw text stays archived (a replay
   * after the topic's limit is raised takes them). Not counted in `accepted`.
   */
  readonly tooLarge: number
  readonly landed: number
  /** Accepted events already in the warehouse: a replay of landed history has only these. */
  readonly duplicates: number
  /** Events a pipeline stage dropped. */
  readonly dropped: number
  /** Records of a source with no raw parser (an archive from a newer version). */
  readonly skipped: number
  readonly corruptBatches: ReadonlyArray<CorruptBatch>
  readonly seconds: number
}

export class ReplayRangeInvalid extends Data.TaggedError("ReplayRangeInvalid")<{ readonly reason: string }> {
  override get message() {
    return `invalid replay range: ${this.reason}`
  }
}

/** A replay that left something out: the command exits non-zero, naming what and why, after replaying the rest. */
export class ReplayIncomplete extends Data.TaggedError("ReplayIncomplete")<{
  readonly corruptBatches: ReadonlyArray<CorruptBatch>
  readonly skipped: number
  readonly tooLarge: number
}> {
  override get message() {
    const parts: Array<string> = []
    if (this.corruptBatches.length > 0) {
      const first = this.corruptBatches[0]!
      parts.push(`${this.corruptBatches.length} corrupt archive batch${this.corruptBatches.length === 1 ? "" : "es"} skipped ` +
        `(${first.key}: ${first.reason}${this.corruptBatches.length > 1 ? "; all listed above" : ""})`)
    }
    if (this.skipped > 0) parts.push(`${this.skipped} archived messages skipped: their source has no parser in this version`)
    if (this.tooLarge > 0) {
      parts.push(`${this.tooLarge} archived message${this.tooLarge === 1 ? "" : "s"} too large for the bus's events topic, not replayed ` +
        `(${this.tooLarge === 1 ? "its" : "their"} raw text stays archived: raise the topic's max.message.bytes and replay again)`)
    }
    return `replay incomplete: ${parts.join("; ")}; the rest was replayed`
  }
}

/** What a replay skipped, as an error, or undefined when it skipped nothing. */
export const replayIncomplete = (summary: ReplaySummary): ReplayIncomplete | undefined =>
  summary.corruptBatches.length > 0 || summary.skipped > 0 || summary.tooLarge > 0
    ? new ReplayIncomplete({ corruptBatches: summary.corruptBatches, skipped: summary.skipped, tooLarge: summary.tooLarge })
    : undefined

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/
const DAY_MS = 86_400_000

const parseInstant = (text: string, name: string, endOfDay: boolean): Date | ReplayRangeInvalid => {
  const trimmed = text.trim()
  const off = dateOffTheCalendar(trimmed)
  if (off !== undefined) return new ReplayRangeInvalid({ reason: `${name}: ${off.message}` })
  const ms = Date.parse(DATE_ONLY.test(trimmed) ? `${trimmed}T00:00:00Z` : trimmed)
  if (Number.isNaN(ms)) {
    return new ReplayRangeInvalid({ reason: `${name} must be a date (2024-10-01) or an ISO-8601 date-time (got ${JSON.stringify(shownText(text, 40))})` })
  }
  return new Date(DATE_ONLY.test(trimmed) && endOfDay ? ms + DAY_MS : ms)
}

/**
 * `--from` and `--to` as the CLI takes them (and "from" and "to" of POST /v1/operations/replay, `names` saying which): a date (UTC day) or an ISO-8601 date-time. A date-only `--to` includes
 * that whole day; a date-time `--to` is exclusive.
 */
export const parseReplayRange = (
  from: string, to: string, names: { readonly from: string; readonly to: string } = { from: "--from", to: "--to" },
): Effect.Effect<{ readonly from: Date; readonly to: Date }, ReplayRangeInvalid> => {
  const start = parseInstant(from, names.from, false)
  if (start instanceof ReplayRangeInvalid) return Effect.fail(start)
  const end = parseInstant(to, names.to, true)
  if (end instanceof ReplayRangeInvalid) return Effect.fail(end)
  if (end.getTime() <= start.getTime()) return Effect.fail(new ReplayRangeInvalid({ reason: `${names.to} (${to}) must be after ${names.from} (${from})` }))
  return Effect.succeed({ from: start, to: end })
}

interface BatchToRead {
  readonly key: string
  /** The manifest's entry; absent for an unlisted batch. */
  readonly expected?: ManifestBatch
}

// A tenant's turn at a time (ingest/bus.ts): another tenant's message, handled beside the replay's call, waits for that
// turn's identity step (one batch at a time for every tenant), not for a call of 5,000 (up to 2.1 s at load 10, seen
// probing cdp serve).
const SUBMIT_EVERY = TENANT_TURN

export const replayArchive = Effect.fn("replayArchive")(function* (options: ReplayOptions) {
  const started = performance.now()
  if (options.source !== undefined && !RAW_PARSERS.has(options.source)) {
    return yield* Effect.fail(new UnknownSource({ source: options.source }))
  }
  const fromMs = options.from.getTime()
  const toMs = options.to.getTime()
  if (Number.isNaN(fromMs) || Number.isNaN(toMs) || toMs <= fromMs) {
    return yield* Effect.fail(new ReplayRangeInvalid({ reason: "the end must be after the start" }))
  }
  const fromIso = options.from.toISOString()
  const toIso = options.to.toISOString()
  const firstDay = archiveDate(fromIso)
  const lastDay = archiveDate(new Date(toMs - 1).toISOString())
  const store = yield* ObjectStore
  const pipeline = yield* Pipeline

  // archive/<tenant>/<source>/<date>/<file>: list once, keep the days in range, group their files.
  const tenantSegment = options.tenant === undefined ? undefined : keySegment(options.tenant)
  const sourceSegment = options.source === undefined ? undefined : keySegment(options.source)
  const prefix = tenantSegment === undefined ? ARCHIVE_PREFIX : `${ARCHIVE_PREFIX}${tenantSegment}/${sourceSegment === undefined ? "" : `${sourceSegment}/`}`
  const days = new Map<string, { manifest: boolean; batches: Array<string> }>()
  for (const key of yield* store.list(prefix)) {
    const parts = key.split("/")
    if (parts.length !== 5) continue
    const [, tenant, source, date, file] = parts as [string, string, string, string, string]
    if ((tenantSegment !== undefined && tenant !== tenantSegment) || (sourceSegment !== undefined && source !== sourceSegment)) continue
    if (date < firstDay || date > lastDay) continue
    const dayPrefix = key.slice(0, key.length - file.length)
    let day = days.get(dayPrefix)
    if (day === undefined) {
      day = { manifest: false, batches: [] }
      days.set(dayPrefix, day)
    }
    if (file === MANIFEST_FILE) day.manifest = true
    else if (file.endsWith(BATCH_SUFFIX)) day.batches.push(key)
  }

  const corruptBatches: Array<CorruptBatch> = []
  const toRead: Array<BatchToRead> = []
  let unlistedBatches = 0
  for (const [dayPrefix, day] of [...days].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const listed = new Set<string>()
    if (day.manifest) {
      const key = `${dayPrefix}${MANIFEST_FILE}`
      const read = yield* readManifest(store, key)
      if (read.unreadable !== undefined) corruptBatches.push({ key, reason: `manifest ${read.unreadable}; its batches are read unverified` })
      for (const entry of read.manifest?.batches ?? []) {
        listed.add(entry.key)
        // A batch wholly outside the range need not be read.
        if (entry.lastReceivedAt < fromIso || entry.firstReceivedAt >= toIso) continue
        toRead.push({ key: entry.key, expected: entry })
      }
    }
    for (const key of day.batches) {
      if (listed.has(key)) continue
      unlistedBatches++
      toRead.push({ key })
    }
  }

  const before = { ...pipeline.counters }
  let records = 0
  let accepted = 0
  let rejected = 0
  let tooLarge = 0
  let skipped = 0
  let events: Array<CanonicalEvent> = []
  let deadLetters: Array<DeadLetter> = []
  const flush = Effect.gen(function* () {
    if (events.length === 0 && deadLetters.length === 0) return
    // Its items come from the archive: archiving them again would double it, and so would keeping one the bus refuses
    // as too large as a dead letter (its raw text: each replay kept one more copy), so such events are only counted.
    const { keptTooLarge } = yield* pipeline.submit(events, deadLetters, { archive: false, keepTooLarge: false })
    tooLarge += keptTooLarge.length
    accepted += events.length - keptTooLarge.length
    rejected += deadLetters.length
    events = []
    deadLetters = []
  })
  const inScope = (r: ArchiveRecord) =>
    r.receivedAt >= fromIso && r.receivedAt < toIso &&
    (options.tenant === undefined || r.tenant === options.tenant) && (options.source === undefined || r.source === options.source)

  // One consent decoding budget after another for the whole run, with a turn of the event loop between (ConsentPacing).
  const pacing = new ConsentPacing()
  let turns = 0
  let batchesDone = 0
  for (const batch of toRead) {
    const read = yield* readBatch(store, batch.key, batch.expected)
    batchesDone++
    if (read._tag === "corrupt") {
      corruptBatches.push({ key: batch.key, reason: read.reason })
      yield* Effect.logWarning("archive batch is corrupt; skipped").pipe(Effect.annotateLogs({ key: batch.key, reason: read.reason }))
      continue
    }
    for (const record of read.records) {
      if (!inScope(record)) continue
      records++
      const parse = RAW_PARSERS.get(record.source)
      if (parse === undefined) {
        skipped++
        continue
      }
      const receivedAtMs = Date.parse(record.receivedAt)
      const items = yield* Effect.promise(async () => parse(record.body, record.meta, { tenant: record.tenant, receivedAtMs, consentPacing: pacing }))
      // At each turn what was read goes on to the pipeline, whose consent stage reads the same strings again: handed on
      // later, thousands of others read meanwhile would have pushed them out of those kept decoded.
      if (pacing.turns !== turns) {
        turns = pacing.turns
        yield* flush
      }
      for (const item of items) {
        if (item._tag === "event") events.push(item.event)
        else deadLetters.push(item.deadLetter)
      }
      if (events.length + deadLetters.length >= SUBMIT_EVERY) yield* flush
    }
    options.onProgress?.({ batchesDone, batchesTotal: toRead.length, records })
  }
  yield* flush
  const after = pipeline.counters
  return {
    batches: toRead.length,
    unlistedBatches,
    records,
    accepted,
    rejected,
    tooLarge,
    landed: after.landed - before.landed,
    duplicates: after.duplicates - before.duplicates,
    dropped: after.dropped - before.dropped,
    skipped,
    corruptBatches,
    seconds: (performance.now() - started) / 1000,
  } satisfies ReplaySummary
})
