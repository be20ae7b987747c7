// `cdp ingest`: pushes a file through the same pipeline the collector feeds, in batches.
import { open } from "node:fs/promises"
import { Data, Effect } from "effect"
import { foreignEncoding } from "./json-file.ts"
import type { CanonicalEvent, DeadLetter } from "./message.ts"
import { Pipeline } from "./pipeline.ts"
import { FILE_SOURCES } from "./sources/index.ts"
import { countZonelessTimes } from "./sources/items.ts"
import { ConsentPacing } from "./sources/segment.ts"

export interface ImportSummary {
  /** Messages that passed the source's checks and were not refused later: landed, duplicates, or dropped by a stage. */
  readonly accepted: number
  /** Refused messages, all kept in dead letters: by the source's checks, or after them by a stage or the warehouse. */
  readonly rejected: number
  readonly duplicates: number
  readonly landed: number
  readonly seconds: number
  /** Per time zone, the messages read whose time was written without a zone and read in it ("UTC": no zone set). */
  readonly zonelessTimes: Readonly<Record<string, number>>
}

export class UnknownSource extends Data.TaggedError("UnknownSource")<{ readonly source: string }> {
  override get message() {
    return `unknown source "${this.source}"; known sources: ${[...FILE_SOURCES.keys()].join(", ")}`
  }
}

const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EISDIR: "it is a directory, not a file",
  EACCES: "permission denied",
}

export class FileUnreadable extends Data.TaggedError("FileUnreadable")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `cannot read ${this.path}: ${this.reason}`
  }

  /** The error for a failed read of `path`, in words ("no such file") rather than errno codes where we can. */
  static of(path: string, cause: unknown): FileUnreadable {
    const code = (cause as { code?: string } | null)?.code
    const words = code === undefined ? undefined : ERRNO_WORDS[code]
    return new FileUnreadable({ path, reason: words ?? (cause instanceof Error ? cause.message : String(cause)) })
  }
}

/** A file (or directory) the source found nothing in: ingesting it is almost always a mistake worth saying. */
export class EmptyInput extends Data.TaggedError("EmptyInput")<{ readonly path: string }> {
  override get message() {
    return `${this.path} holds nothing to ingest (it is empty or only blank lines); check the file name and --source`
  }
}

/**
 * A file whose every item was refused: it is reported as a failure (exit 1) so a script does not go on as if it had
 * landed. `dryRun`: nothing was landed on purpose, and nothing would have.
 */
export class NothingLanded extends Data.TaggedError("NothingLanded")<{
  readonly path: string
  readonly rejected: number
  readonly dryRun: boolean
  /** Where the refused items are kept and how to see why (the data dir's dead letters); unset in a dry run. */
  readonly kept?: string
}> {
  override get message() {
    const one = this.rejected === 1
    return this.dryRun
      ? `${this.path}: nothing would land: ${one ? "its one item would" : `all ${this.rejected} items would`} be rejected ` +
        `(the ${one ? "line above says" : "lines above say"} why)`
      : `${this.path}: nothing landed: ${one ? "its one item was" : `all ${this.rejected} items were`} rejected` +
        (this.kept === undefined ? "" : ` ${this.kept}`)
  }
}

const BATCH = 5_000

/** Files up to this size are looked at whole for being blank (a larger one holds something). */
const BLANK_CHECK_BYTES = 64 * 1024

/**
 * Refuses, before any source reads it, a file that cannot hold messages: one saved as UTF-16 or UTF-32 (PowerShell
 * 5's `>`, Excel's "Unicode text"), which read as UTF-8 would be cut at the wrong bytes into dead letters that are not
 * the sender's messages; and one that is empty or only blank (EmptyInput, as for every source: a whole-document
 * source such as SendGrid's JSON would otherwise file it as one dead letter). A folder (of mail) is read as it is.
 */
export const refuseUnreadableFile = (path: string) =>
  Effect.tryPromise({
    try: async () => {
      const file = await open(path)
      try {
        const stat = await file.stat()
        if (!stat.isFile()) return undefined
        const { buffer, bytesRead } = await file.read(Buffer.alloc(Math.min(stat.size, BLANK_CHECK_BYTES)), 0, Math.min(stat.size, BLANK_CHECK_BYTES), 0)
        const head = buffer.subarray(0, bytesRead)
        const encoding = foreignEncoding(head.subarray(0, 4))
        if (encoding !== undefined) return encoding
        return stat.size <= BLANK_CHECK_BYTES && head.toString("utf8").replace(/^\uFEFF/, "").trim() === "" ? "blank" : undefined
      } finally {
        await file.close()
      }
    },
    catch: (cause) => FileUnreadable.of(path, cause),
  }).pipe(Effect.flatMap((found): Effect.Effect<void, EmptyInput | FileUnreadable> => found === undefined ? Effect.void
    : found === "blank" ? Effect.fail(new EmptyInput({ path }))
    : Effect.fail(new FileUnreadable({ path, reason: `it is ${found} text; save it as UTF-8 (e.g. iconv -f ${found} -t UTF-8)` }))))

export const importFile = Effect.fn("importFile")(function* (
  sourceName: string,
  path: string,
  options: {
    readonly tenant: string
    readonly onProgress?: (bytesRead: number) => void
    /** Source-specific settings (calls: column mapping and countries). */
    readonly sourceOptions?: Record<string, unknown> | undefined
  },
) {
  const source = FILE_SOURCES.get(sourceName)
  if (source === undefined) {
    return yield* Effect.fail(new UnknownSource({ source: sourceName }))
  }
  yield* refuseUnreadableFile(path)
  const pipeline = yield* Pipeline
  const before = { ...pipeline.counters }
  const started = performance.now()
  // Segment's consent strings are read one decoding budget after another (ConsentPacing); at each turn of the event
  // loop between two, what was read goes on to the pipeline, whose consent stage reads the same strings again (handed
  // on later, thousands of others read meanwhile would have pushed them out of those kept decoded).
  const consentPacing = new ConsentPacing()
  let turns = 0
  const items = source.read(path, {
    tenant: options.tenant,
    receivedAtMs: Date.now(),
    consentPacing,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.sourceOptions === undefined ? {} : { options: options.sourceOptions }),
  })[Symbol.asyncIterator]()
  let events: Array<CanonicalEvent> = []
  let deadLetters: Array<DeadLetter> = []
  let read = 0
  const zonelessTimes: Record<string, number> = {}
  while (true) {
    const next = yield* Effect.tryPromise({
      try: () => items.next(),
      catch: (cause) => FileUnreadable.of(path, cause),
    })
    if (next.done && read === 0) return yield* Effect.fail(new EmptyInput({ path }))
    if (!next.done) {
      read++
      if (next.value._tag === "event") events.push(next.value.event)
      else deadLetters.push(next.value.deadLetter)
    }
    const turned = consentPacing.turns !== turns
    turns = consentPacing.turns
    if (next.done || (turned && events.length + deadLetters.length > 0) || events.length + deadLetters.length >= BATCH) {
      const { keptTooLarge } = yield* pipeline.submit(events, deadLetters)
      // One the bus could not hold (kept as a dead letter too_large, counted rejected) was not handled: its time was
      // not read as anything.
      const kept = new Set(keptTooLarge.map((k) => k.event))
      countZonelessTimes(kept.size === 0 ? events : events.filter((e) => !kept.has(e)), zonelessTimes)
      events = []
      deadLetters = []
    }
    if (next.done) break
  }
  const after = pipeline.counters
  // Every batch was consumed when its submit completed (the in-process bus), so these are final.
  const refusedLater = after.deadLettered - before.deadLettered
  return {
    accepted: after.accepted - before.accepted - refusedLater,
    rejected: after.rejected - before.rejected + refusedLater,
    duplicates: after.duplicates - before.duplicates,
    landed: after.landed - before.landed,
    seconds: (performance.now() - started) / 1000,
    zonelessTimes,
  } satisfies ImportSummary
})
