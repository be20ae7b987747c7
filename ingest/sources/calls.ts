// Contact-centre call exports: RFC 4180 CSV (quoted fields may hold commas, doubled quotes and line breaks), one
// "Call" event per row, with a configurable mapping from our fields to the export's column names.
import { isUtf8 } from "node:buffer"
import { createReadStream } from "node:fs"
import { type CsvError, type Info, parse } from "csv-parse"
import { parse as parseStrictly } from "csv-parse/sync"
import type { CountryCode } from "libphonenumber-js/max"
import { phoneNumbers, phoneToE164 } from "../../identity/index.ts"
import { type Identifier, type JsonObject, putField, type Rejection } from "../message.ts"
import { isoDateTimeOutOfRange, outOfRangeWords, timeZoneRefusal } from "../schemas.ts"
import { nextTurn } from "../../warehouse/turns.ts"
import type { ImportContext, ImportedItem } from "./index.ts"
import { type ItemMaker, itemMaker, lineGuard, NO_IDENTIFIERS, passedLimit, rawTimeContext, show, withinLimit } from "./items.ts"
import { firstInvalidOffset, withoutUtf8Bom } from "../utf8.ts"

export type CallField =
  | "call_id" | "started_at" | "duration_s" | "direction" | "phone" | "agent" | "queue" | "outcome" | "notes"

/** Our field → the export's column name (the header of the CSV the README describes). */
export const DEFAULT_CALL_COLUMNS: Readonly<Record<CallField, string>> = {
  call_id: "call_id",
  started_at: "started_at",
  duration_s: "duration_s",
  direction: "direction",
  phone: "phone",
  agent: "agent",
  queue: "queue",
  outcome: "outcome",
  notes: "notes",
}

/** Without these a row is not an item; every other field may be mapped to null when an export lacks it. */
const REQUIRED_FIELDS: ReadonlyArray<CallField> = ["call_id", "started_at"]

export interface CallsOptions {
  /**
   * Overrides of DEFAULT_CALL_COLUMNS: the export's column name per field, or null when the export has no such
   * column. A mapped column missing from the header is an error for the whole file. Names match case-insensitively.
   */
  readonly columns?: Partial<Record<CallField, string | null>>
  /** Country a national number (no + or 00 prefix) is read in first. Default "US". */
  readonly defaultCountry?: CountryCode
  /** Countries tried next, in order, when the number is not valid in the default one. Default ["GB"]. */
  readonly fallbackCountries?: ReadonlyArray<CountryCode>
  /** IANA time zone a start time written without a zone is read in (every source's option). Default UTC. */
  readonly timeZone?: string
}

interface ResolvedOptions {
  readonly columns: ReadonlyArray<readonly [CallField, string]>
  /** The export's column name per mapped field, for messages. */
  readonly names: Readonly<Partial<Record<CallField, string>>>
  readonly countries: ReadonlyArray<CountryCode>
}

const FIELDS = Object.keys(DEFAULT_CALL_COLUMNS) as ReadonlyArray<CallField>

/**
 * Seconds written as a plain decimal ("60", "60.5"), kept only when the number stored is the one written: Number()
 * alone read "0x3C" as 60 and "99999999999999999999" as 100000000000000000000.
 */
const decimalSeconds = (text: string): number | undefined => {
  if (!/^\d+(?:\.\d+)?$/.test(text)) return undefined
  const [whole, fraction = ""] = text.split(".")
  const written = `${whole!.replace(/^0+(?=\d)/, "")}${fraction.replace(/0+$/, "") === "" ? "" : `.${fraction.replace(/0+$/, "")}`}`
  const seconds = Number(text)
  return String(seconds) === written ? seconds : undefined
}

const isCountry = (value: unknown): value is CountryCode => typeof value === "string" && phoneNumbers().isSupportedCountry(value)

/** Checks options as they come from configuration (ImportContext.options); a string is the reason they are wrong. */
export const resolveCallsOptions = (options: Record<string, unknown> | CallsOptions | undefined): ResolvedOptions | string => {
  const columns = options?.["columns"] ?? {}
  if (columns === null || typeof columns !== "object" || Array.isArray(columns)) return "columns must be an object of field → column name"
  const overrides = columns as Record<string, unknown>
  for (const key in overrides) {
    if (!(FIELDS as ReadonlyArray<string>).includes(key)) return `columns.${key} is not a call field (fields: ${FIELDS.join(", ")})`
    const value = overrides[key]
    if (value === null ? REQUIRED_FIELDS.includes(key as CallField) : typeof value !== "string" || value.trim() === "") {
      return `columns.${key} must be a column name${REQUIRED_FIELDS.includes(key as CallField) ? "" : " or null"} (got ${show(value)})`
    }
  }
  const defaultCountry = options?.["defaultCountry"] ?? "US"
  if (!isCountry(defaultCountry)) return `defaultCountry must be a two-letter country code such as "US" (got ${show(defaultCountry)})`
  const fallback = options?.["fallbackCountries"] ?? ["GB"]
  if (!Array.isArray(fallback) || !fallback.every(isCountry)) {
    return `fallbackCountries must be a list of two-letter country codes such as ["GB"] (got ${show(fallback)})`
  }
  if (options?.["timeZone"] !== undefined) {
    const refusal = timeZoneRefusal(options["timeZone"])
    if (refusal !== undefined) return `timeZone: ${refusal}`
  }
  const mapped: Array<readonly [CallField, string]> = []
  const names: Partial<Record<CallField, string>> = {}
  for (const field of FIELDS) {
    const name = field in overrides ? overrides[field] as string | null : DEFAULT_CALL_COLUMNS[field]
    if (name !== null) {
      mapped.push([field, name.trim()])
      names[field] = name.trim()
    }
  }
  return { columns: mapped, names, countries: [defaultCountry, ...(fallback as ReadonlyArray<CountryCode>).filter((c) => c !== defaultCountry)] }
}

const HAS_DIGIT = /\d/
const WITHHELD = /\b(?:withheld|anonymous|restricted|unknown|private|unavailable|blocked|hidden|no caller id)\b/i

/** A phone worth linking on: it has digits and is not a switch's word for a hidden number. */
export const isCallerPhone = (raw: string): boolean => HAS_DIGIT.test(raw) && !WITHHELD.test(raw)

/** One parsed CSV record as csv-parse hands it over with `info` and `raw`. */
interface CsvRecord {
  readonly record: ReadonlyArray<string>
  readonly raw: string
  readonly info: Info
}

const TRAILING_BREAK = /\r?\n?$/
const HIGH_BYTE = /[\u0080-\u00ff]/

/**
 * csv-parse reads the export in latin1, one character a byte (its commas, quotes and line breaks are ASCII, which no
 * UTF-8 sequence holds, so it cuts the same records as reading UTF-8), so a row's bytes can be kept: a text of it as
 * the UTF-8 it is, or undefined when its bytes are not UTF-8 (an export in windows-1252 landed with U+FFFD in its
 * notes). Only a text with a byte past ASCII is converted.
 */
const utf8Of = (latin1: string): string | undefined => {
  if (!HIGH_BYTE.test(latin1)) return latin1
  const bytes = Buffer.from(latin1, "latin1")
  return isUtf8(bytes) ? bytes.toString("utf8") : undefined
}
/** Fields kept in properties as they are logged (trimmed). */
const TEXT_FIELDS = ["direction", "agent", "queue", "outcome"] as const

/** As other sources bound their item ids (a Segment messageId, a SendGrid sg_event_id, a chat conversation_id). */
const MAX_CALL_ID_CHARS = 256
/**
 * The longest value a field may hold, in characters: a row past it is refused too_long naming the export's column
 * (cdp ingest takes a line up to 64 MB, and a 20 MB note landed whole). Notes may be a transcript: speech runs at
 * about 900 characters a minute, so hours of talk are a few hundred thousand; 1,000,000 leaves a wide margin. The
 * other fields are a word, a name or a number, bounded as other sources bound names and addresses (1,024).
 */
const MAX_CHARS: ReadonlyArray<readonly [CallField, number]> = [
  ["notes", 1_000_000], ...(["direction", "phone", "agent", "queue", "outcome"] as const).map((f) => [f, 1_024] as const),
]

/**
 * The row logic, fed record by record by csv-parse (file or webhook body): the first record is the header; each
 * later record is a call or a dead letter. Items queue in `out` for the caller to drain.
 */
const callRows = (ctx: ImportContext, maker: ItemMaker, where: string, out: Array<ImportedItem>) => {
  const resolved = resolveCallsOptions(ctx.options)
  let header: {
    readonly width: number
    readonly index: ReadonlyArray<readonly [CallField, number]>
    readonly unmapped: ReadonlyArray<readonly [string, number]>
  } | undefined
  let failed = false
  let row = 0
  let lastLine = 0
  /** The header line as received: each row's raw item starts with it, so the row parses alone. */
  let headerRaw = ""
  // Column mapping and countries decide how a row reads: a raw row keeps the options it was read with.
  const rawMeta: JsonObject | undefined = ctx.options === undefined ? undefined : { options: ctx.options }
  if (typeof resolved === "string") {
    failed = true
    out.push(maker.deadLetter(JSON.stringify(ctx.options ?? {}), { rule: "bad_options", field: "", message: `${where}: ${resolved}` }))
  }

  const readHeader = (record: ReadonlyArray<string>, raw: string): void => {
    const options = resolved as ResolvedOptions
    if (record.length > MAX_COLUMNS) return refuseWide(record.length)
    const positions = new Map<string, number>()
    record.forEach((name, i) => {
      const key = name.trim().toLowerCase()
      if (!positions.has(key)) positions.set(key, i)
    })
    const index: Array<readonly [CallField, number]> = []
    const used = new Set<number>()
    for (const [field, column] of options.columns) {
      const at = positions.get(column.toLowerCase())
      if (at === undefined) {
        failed = true
        const mappedFrom = column === DEFAULT_CALL_COLUMNS[field] ? "" : ` (mapped from ${field})`
        out.push(maker.deadLetter(raw, {
          rule: "missing_column",
          field: `/${column}`,
          message: `${where}: the header has no "${column}" column${mappedFrom}; it has: ${record.join(", ")}`,
        }))
        return
      }
      index.push([field, at])
      used.add(at)
    }
    const unmapped: Array<readonly [string, number]> = []
    record.forEach((name, i) => {
      if (!used.has(i) && name.trim() !== "") unmapped.push([name.trim(), i])
    })
    header = { width: record.length, index, unmapped }
    headerRaw = raw
  }

  /** The file as a whole, for a header wider than any call export's (its text is not kept: it may be megabytes). */
  const refuseWide = (columns: number): void => {
    failed = true
    out.push(maker.deadLetter("", {
      rule: "too_many_columns", field: "", message: `${where}: the header has ${columns} columns; a call export has at most ${MAX_COLUMNS}`,
    }))
  }

  /** A row's raw item: the header line and the row, so it parses alone (archive replay, dead-letter retry). */
  const rowText = (raw: string): string => `${headerRaw}\n${raw.replace(TRAILING_BREAK, "")}`

  const refuse = (raw: string, rule: string, field: string, message: string, messageId = ""): void => {
    out.push(maker.deadLetter(rowText(raw), { rule, field, message: `${where} row ${row} (line ${lastLine + 1}): ${message}` }, messageId))
  }

  const readRow = (record: ReadonlyArray<string>, raw: string): void => {
    const h = header!
    row++
    const values: Partial<Record<CallField, string>> = {}
    for (const [field, at] of h.index) values[field] = record[at] ?? ""
    const names = (resolved as ResolvedOptions).names
    const callId = values.call_id!.trim()
    if (record.length !== h.width) {
      return refuse(raw, "wrong_column_count", "", `has ${record.length} fields, the header has ${h.width} (a stray comma or quote?)`, callId)
    }
    if (callId === "") return refuse(raw, "missing_call_id", `/${names.call_id!}`, `${names.call_id!} is empty`)
    if (callId.length > MAX_CALL_ID_CHARS) {
      return refuse(raw, "too_long", `/${names.call_id!}`, `${names.call_id!} is longer than ${MAX_CALL_ID_CHARS} characters`)
    }
    for (const [field, max] of MAX_CHARS) {
      if ((values[field]?.length ?? 0) > max) return refuse(raw, "too_long", `/${names[field]!}`, `${names[field]!} is longer than ${max} characters`, callId)
    }
    const startedAt = values.started_at!.trim()
    const startedMs = maker.time(startedAt)
    if (Number.isNaN(startedMs)) {
      return refuse(raw, "bad_timestamp", `/${names.started_at!}`, isoDateTimeOutOfRange(startedAt)
        ? outOfRangeWords(names.started_at!, startedAt)
        : `${names.started_at!} must be an ISO-8601 date-time such as 2024-09-16T09:28:50Z (got ${show(values.started_at)})`, callId)
    }
    const properties: Record<string, unknown> = {}
    const duration = values.duration_s?.trim()
    if (duration !== undefined && duration !== "") {
      const seconds = decimalSeconds(duration)
      if (seconds === undefined) {
        return refuse(raw, "bad_duration", `/${names.duration_s!}`,
          `${names.duration_s!} must be a number of seconds written in decimal, such as 60 or 60.5 (got ${show(values.duration_s)})`, callId)
      }
      properties["duration_s"] = seconds
    }
    for (const field of TEXT_FIELDS) {
      const value = values[field]?.trim()
      if (value !== undefined && value !== "") properties[field] = value
    }
    const phone = values.phone?.trim() ?? ""
    let identifiers: ReadonlyArray<Identifier> = NO_IDENTIFIERS
    if (isCallerPhone(phone)) {
      // The switch's countries read the number here; identity gets it in E.164 when they could.
      const e164 = phoneToE164(phone, (resolved as ResolvedOptions).countries)
      identifiers = [{ kind: "phone", value: e164 ?? phone }]
      if (e164 !== undefined) properties["phone_e164"] = e164
    } else if (phone !== "") {
      properties["phone_withheld"] = phone
    }
    let extra: Record<string, unknown> | undefined
    for (const [name, at] of h.unmapped) {
      const value = record[at]
      if (value !== undefined && value !== "") putField(extra ??= {}, name, value)
    }
    out.push(maker.event({
      messageId: callId,
      event: "Call",
      timestampMs: startedMs,
      writtenTime: startedAt,
      properties: properties as JsonObject,
      extra: extra as JsonObject | undefined,
      identifiers,
      text: values.notes ?? "",
      raw: { body: rowText(raw), meta: rawMeta },
    }))
  }

  /**
   * A record whose bytes (`raw`, latin1) are not UTF-8: the header refuses the file, a row is a dead letter of its own
   * keeping the header line and the row's bytes (base64), never read with U+FFFD in place of them.
   */
  const refuseNotUtf8 = (raw: string): void => {
    const bytes = Buffer.from(raw.replace(TRAILING_BREAK, ""), "latin1")
    const offset = firstInvalidOffset(bytes)
    const words = `is not UTF-8: byte 0x${(bytes[offset] ?? 0).toString(16).padStart(2, "0")} at byte ${offset} of it does not belong to a UTF-8 sequence (save the export as UTF-8; bytes are refused rather than replaced)`
    if (header === undefined) {
      failed = true
      out.push(maker.deadLetter(bytes, { rule: "invalid_utf8", field: "", message: `${where}: the header ${words}` }))
      return
    }
    row++
    const payload = Buffer.concat([Buffer.from(`${headerRaw}\n`, "utf8"), bytes])
    out.push(maker.deadLetter(payload, { rule: "invalid_utf8", field: "", message: `${where} row ${row} (line ${lastLine + 1}): the row ${words}` }))
  }

  /** A record that is not valid CSV: the header refuses the file, a row is a dead letter of its own. */
  const refuseMalformed = (raw: string, message = "malformed CSV"): void => {
    if (header !== undefined) {
      row++
      return refuse(raw, "bad_csv", "", message)
    }
    out.push(maker.deadLetter(raw, { rule: "bad_csv", field: "", message: `${where}: the header is not valid CSV (${message})` }))
    failed = true
  }

  const readRecord = (r: CsvRecord): void => {
    const raw = utf8Of(r.raw)
    if (raw === undefined) return refuseNotUtf8(r.raw)
    // Every field of a row that is UTF-8 is too (its bytes are a part of the row's).
    const record = raw === r.raw ? r.record : r.record.map((f) => utf8Of(f)!)
    const malformed = strictError(raw)
    if (malformed !== undefined) refuseMalformed(raw, malformed)
    else if (header === undefined) readHeader(record, raw.replace(TRAILING_BREAK, ""))
    else readRow(record, raw)
  }

  return {
    /** True once the file as a whole is refused (bad options, header, unreadable): the rest need not be read. */
    stopped: (): boolean => failed,
    refuseWide,
    onRecord: (r: CsvRecord): null => {
      if (!failed) readRecord(r)
      lastLine = r.info.lines
      return null
    },
    onSkip: (error: CsvError | undefined, raw: string | undefined): undefined => {
      const text = raw === undefined ? "" : utf8Of(raw)
      if (!failed) {
        if (text === undefined) refuseNotUtf8(raw!)
        else refuseMalformed(text, error?.message)
      }
      const line: unknown = error?.lines
      if (typeof line === "number") lastLine = line
      return undefined
    },
    onError: (error: Error): void => {
      if (!failed) out.push(maker.deadLetter("", { rule: "bad_csv", field: "", message: `${where}: cannot read the CSV (${error.message})` }))
      failed = true
    },
    end: (): void => {
      if (!failed && header === undefined) {
        out.push(maker.deadLetter("", { rule: "missing_header", field: "", message: `${where}: empty; expected a header line such as ${FIELDS.join(",")}` }))
      }
    },
  }
}

// Every line end, mixed: left to itself the parser takes the first line's for the whole file, and a file joined from
// two systems (CRLF header, LF rows) became one long row, dead-lettered. Quoted notes keep theirs.
const LINE_ENDS = ["\r\n", "\n", "\r"]

const QUOTE = 0x22
const COMMA = 0x2c
const CR = 0x0d
const LF = 0x0a

/**
 * A record whose every field is either quoted whole (inner quotes doubled, line breaks allowed) or holds no quote,
 * then at most one line end: strict CSV for certain, so most quoted rows skip the strict re-read (about 30 µs each;
 * this test takes under 1 µs, and grows linearly with the row, a 12 MB field included). A row it does not match is
 * decided by csv-parse. A scan, not a regular expression: V8 keeps a backtracking entry per doubled quote, and a note
 * of 4,000,000 of them overflowed the stack ("Maximum call stack size exceeded"), losing the post's rows.
 */
const wellQuoted = (raw: string): boolean => {
  const end = raw.endsWith("\r\n") ? raw.length - 2 : raw.endsWith("\n") || raw.endsWith("\r") ? raw.length - 1 : raw.length
  let at = 0
  for (;;) {
    if (at < end && raw.charCodeAt(at) === QUOTE) {
      at++
      for (;;) {
        const quote = raw.indexOf('"', at)
        if (quote === -1 || quote >= end) return false
        at = quote + 1
        if (at < end && raw.charCodeAt(at) === QUOTE) at++
        else break
      }
    } else {
      for (; at < end; at++) {
        const c = raw.charCodeAt(at)
        if (c === COMMA || c === QUOTE || c === CR || c === LF) break
      }
    }
    if (at === end) return true
    if (raw.charCodeAt(at) !== COMMA) return false
    at++
  }
}

/**
 * Why one record's raw text is not strict RFC 4180 CSV (a stray or unclosed quote), or undefined. The stream reads
 * with relax_quotes because csv-parse's strict mode, skipping bad records, reports an error at every further quote of
 * the line, each costlier than the last: 20 KB of '{"a":' gave 8,192 dead letters and held the event loop ~30 s. Read
 * alone and strictly, a record stops at its first error, so a bad row is still refused, once, and as fast as it is read.
 */
const strictError = (raw: string): string | undefined => {
  if (!raw.includes('"') || wellQuoted(raw)) return undefined
  try {
    parseStrictly(raw, { record_delimiter: LINE_ENDS, relax_column_count: true, skip_empty_lines: true })
    return undefined
  } catch (e) {
    // Its "at line 1" counts within the record; the dead letter names the row and line in the file.
    return e instanceof Error ? e.message.replace(/ at line \d+/, "") : "malformed CSV"
  }
}

/** A csv-parse stream whose records go to `rows` as they are parsed (synchronously, inside each `write`). */
const csvParser = (rows: ReturnType<typeof callRows>) => {
  const parser = parse({
    // The byte order mark is taken off before (withoutUtf8Bom): csv-parse, seeing one, would read the rest as UTF-8.
    bom: false,
    encoding: "latin1",
    record_delimiter: LINE_ENDS,
    relax_quotes: true,
    info: true,
    raw: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_record: (record: unknown) => rows.onRecord(record as CsvRecord),
    on_skip: rows.onSkip,
  })
  parser.on("error", rows.onError)
  return parser
}

/** A raw row (header line, a line break, the row, as `callRows` keeps it) with the options it was read with. */
export const parseCallsRaw = (body: string, meta: JsonObject | undefined, ctx: ImportContext): ReadonlyArray<ImportedItem> => {
  const options = meta?.["options"]
  // The options it was read with hold the zone it was read in; without them it was read in UTC.
  return parseCallsWebhook(body, options !== null && typeof options === "object" ? { ...ctx, options: options as Record<string, unknown> } : rawTimeContext(ctx, meta))
}

/** Columns a call export may have: a wider header is refused before its columns are parsed (about 10 µs each). */
const MAX_COLUMNS = 1000
/** Bytes of a posted export parsed between two turns of the event loop. */
const POST_CHUNK = 32 * 1024

/** The columns of a body's first line, counted without parsing it (a quoted comma counts too: never fewer). */
const headerWidth = (body: string): number => {
  const end = body.indexOf("\n")
  const stop = end === -1 ? body.length : end
  let columns = 1
  for (let at = body.indexOf(","); at !== -1 && at < stop; at = body.indexOf(",", at + 1)) columns++
  return columns
}

/**
 * A CSV body posted to the collector (the same shape as the export): read a chunk at a time with a turn of the event
 * loop between chunks, so a 10 MB post does not hold up /health and the other tenants for seconds; a header wider
 * than any call export's is refused before it is parsed. The same items as parseCallsWebhook.
 */
export const parseCallsPost = async (body: string, ctx: ImportContext): Promise<ReadonlyArray<ImportedItem>> => {
  const out: Array<ImportedItem> = []
  const rows = callRows(ctx, itemMaker(ctx, "calls", "call"), "body", out)
  const width = headerWidth(body)
  if (width > MAX_COLUMNS && !rows.stopped()) {
    rows.refuseWide(width)
    return out
  }
  const parser = csvParser(rows)
  // Bytes, not string slices: csv-parse joins a character split between two chunks, as it does reading a file.
  const bytes = withoutUtf8Bom(Buffer.from(body, "utf8"))
  for (let at = 0; at < bytes.length && !rows.stopped(); at += POST_CHUNK) {
    if (at > 0) await nextTurn()
    parser.write(bytes.subarray(at, at + POST_CHUNK))
    // Past the limit the post is refused whole: the rest of it need not be parsed.
    if (passedLimit(out, ctx)) return withinLimit(out, ctx)
  }
  parser.end()
  rows.end()
  return withinLimit(out, ctx)
}

/** A CSV body parsed at once: a raw row of the archive or of a dead letter (small), and tests. */
export const parseCallsWebhook = (body: string, ctx: ImportContext): ReadonlyArray<ImportedItem> => {
  const out: Array<ImportedItem> = []
  const rows = callRows(ctx, itemMaker(ctx, "calls", "call"), "body", out)
  const parser = csvParser(rows)
  parser.write(withoutUtf8Bom(Buffer.from(body, "utf8")))
  parser.end()
  rows.end()
  return out
}

/**
 * A CSV export; `ctx.options` may carry `CallsOptions` (columns, defaultCountry, fallbackCountries). A line longer
 * than `maxLineBytes` (by default cdp ingest's line limit: see lineGuard) stops the file there, refused whole:
 * csv-parse would hold it, and a 1 GB line took 70 s and 3.6 GB before it was refused.
 */
export async function* readCallsFile(path: string, ctx: ImportContext, maxLineBytes?: number): AsyncGenerator<ImportedItem> {
  const out: Array<ImportedItem> = []
  const rows = callRows(ctx, itemMaker(ctx, "calls", "call"), path, out)
  const parser = csvParser(rows)
  const stream = createReadStream(path)
  const tooLong = lineGuard(maxLineBytes)
  let first = true
  for await (const read of stream as AsyncIterable<Buffer>) {
    const chunk = first ? withoutUtf8Bom(read) : read
    first = false
    const refused = tooLong(chunk)
    if (refused !== undefined) {
      rows.onError(new Error(refused))
      yield* out.splice(0)
      stream.destroy()
      return
    }
    parser.write(chunk)
    yield* out.splice(0)
    ctx.onProgress?.(stream.bytesRead)
    if (rows.stopped()) {
      stream.destroy()
      return
    }
  }
  parser.end()
  rows.end()
  yield* out.splice(0)
  ctx.onProgress?.(stream.bytesRead)
}
