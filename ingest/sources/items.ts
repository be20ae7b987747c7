// What every connector shares: building canonical events and dead letters, explaining schema errors in a sender's
// words, and reading NDJSON (file or body) line by line without ever throwing on what a line holds.
import { createReadStream } from "node:fs"
import { stat } from "node:fs/promises"
import type { ErrorObject } from "ajv"
import { type CanonicalEvent, type Channel, type Identifier, type JsonObject, putField, type RawItem, type Rejection } from "../message.ts"
import { JSON_LIMITS, type JsonProblem, readJson, refusedItems } from "../json.ts"
import { decodeUtf8, keptPayload, withoutControlCharacters, withoutControlCharactersIn } from "../utf8.ts"
import {
  canonicalTimeZone, describeType, errorField, isoDateTimeOutOfRange, isoDateTimeWithoutZone, outOfRangeWords, parseIsoDateTime, timeZoneRefusal, valueAt,
} from "../schemas.ts"
import type { ImportContext, ImportedItem } from "./index.ts"

export const EMPTY_OBJECT: JsonObject = Object.freeze({})
export const NO_IDENTIFIERS: ReadonlyArray<Identifier> = Object.freeze([])

export const toIso = (ms: number): string => new Date(ms).toISOString()

/** What an event's free text and fields hold as stored and scored. */
export interface StoredFields {
  readonly text: string
  readonly properties: JsonObject
  readonly traits: JsonObject
  readonly context: JsonObject
  readonly extra: JsonObject
}

/** The name in `extra` of how many control characters storedFields took out of an event's text and fields. */
export const CONTROLS_REMOVED = "control_characters_removed"

/**
 * An event's text and the strings of its properties, traits, context and extra (a sender's unmapped fields) without
 * control characters but tab and line breaks (withoutControlCharacters: Postgres-based tools and CRMs refuse a NUL in
 * text, and they break CSV exports), how many were taken out in `extra`; `fields` itself when none were. The raw item
 * keeps them as sent.
 */
export const storedFields = (fields: StoredFields): StoredFields => {
  const text = withoutControlCharacters(fields.text)
  const properties = withoutControlCharactersIn(fields.properties)
  const traits = withoutControlCharactersIn(fields.traits)
  const context = withoutControlCharactersIn(fields.context)
  const extra = withoutControlCharactersIn(fields.extra)
  const removed = text.removed + properties.removed + traits.removed + context.removed + extra.removed
  if (removed === 0) return fields
  const counted = { ...extra.value }
  putField(counted, CONTROLS_REMOVED, removed)
  return { text: text.text, properties: properties.value, traits: traits.value, context: context.value, extra: counted }
}

/**
 * The name in `extra` of the time zone an item's time was read in when it was written without one: its source's
 * `timeZone` option, or "UTC" when the source has none. Counted by `cdp ingest` (zonelessTimes), so no time is read in
 * a zone nobody chose without a word.
 */
export const ZONELESS_TIME = "zoneless_time_read_in"

/**
 * The zone a source's times without one are read in: `timeZone` of its options, else UTC. The settings refuse a zone
 * Intl does not know; one that reaches a parser all the same (an archived item's meta read by a runtime whose tz data
 * lacks it) is not one, so its times are read, and marked, as UTC rather than the parser throwing.
 */
export const sourceTimeZone = (options: Readonly<Record<string, unknown>> | undefined): string | undefined => {
  const zone = options?.["timeZone"]
  // Named as the tz database spells it (a setting of "europe/berlin" is marked and counted as Europe/Berlin).
  return typeof zone === "string" && timeZoneRefusal(zone) === undefined ? canonicalTimeZone(zone) : undefined
}

/**
 * `ctx` for parsing an item's raw text again (replay, dead-letter retry): its times are read in the zone recorded in
 * its meta when it was first read (`timeZone`), else UTC, whatever the source's options are now.
 */
export const rawTimeContext = (ctx: ImportContext, meta: JsonObject | undefined): ImportContext => {
  const then = meta?.["timeZone"]
  if (typeof then === "string") return { ...ctx, options: { ...ctx.options, timeZone: then } }
  if (ctx.options?.["timeZone"] === undefined) return ctx
  const { timeZone: _now, ...options } = ctx.options
  return { ...ctx, options }
}

/** An item's extra and raw, marked when its time was written without a zone (ZONELESS_TIME; the raw's meta: the zone). */
export const zonelessMarks = (written: string | undefined, zone: string | undefined, extra: JsonObject | undefined, raw: RawItem | undefined) => {
  if (written === undefined || !isoDateTimeWithoutZone(written)) return { extra, raw }
  return {
    extra: { ...extra, [ZONELESS_TIME]: zone ?? "UTC" },
    raw: zone === undefined || raw === undefined ? raw : { ...raw, meta: { ...raw.meta, timeZone: zone } },
  }
}

/** How many events of each zone had a time written without one (ZONELESS_TIME), for a summary. */
export const countZonelessTimes = (events: ReadonlyArray<CanonicalEvent>, into: Record<string, number> = {}): Record<string, number> => {
  for (const e of events) {
    const zone = e.extra[ZONELESS_TIME]
    if (typeof zone === "string") into[zone] = (into[zone] ?? 0) + 1
  }
  return into
}

/** What a connector knows about one item; the rest of the canonical event is the same for every connector. */
export interface ItemFields {
  readonly messageId: string
  readonly event: string
  readonly timestampMs: number
  /** The item's time as written, when `timestampMs` was read from it (`ItemMaker.time`): one without a zone is marked. */
  readonly writtenTime?: string
  /** False when the item had no time of its own and `timestampMs` is the time it was received. */
  readonly hasOwnTime?: boolean
  readonly anonymousId?: string
  readonly userId?: string
  readonly properties?: JsonObject
  readonly traits?: JsonObject
  readonly context?: JsonObject
  readonly extra?: JsonObject
  readonly identifiers?: ReadonlyArray<Identifier>
  readonly text?: string
  /** The item's raw text, so it can be archived and parsed again alone (see RAW_PARSERS). */
  readonly raw?: RawItem
}

export interface ItemMaker {
  readonly receivedAtMs: number
  /** An item's ISO-8601 time in epoch ms (NaN when it is none), one without a zone read in the source's time zone. */
  readonly time: (written: string) => number
  readonly event: (fields: ItemFields) => ImportedItem
  /** `payload` as bytes when they were received as bytes: kept as text if UTF-8, else as base64 (keptAsText). */
  readonly deadLetter: (payload: string | Buffer, rejection: Rejection, messageId?: string) => ImportedItem
}

/** Binds the per-import constants (tenant, source, channel, receivedAt) once, so each item costs one object. */
export const itemMaker = (ctx: ImportContext, source: string, channel: Channel): ItemMaker => {
  const receivedAt = toIso(ctx.receivedAtMs)
  const zone = sourceTimeZone(ctx.options)
  return {
    receivedAtMs: ctx.receivedAtMs,
    time: (written) => parseIsoDateTime(written, zone),
    event: (f) => {
      const timestamp = toIso(f.timestampMs)
      const { extra, raw } = zonelessMarks(f.writtenTime, zone, f.extra, f.raw)
      const event: CanonicalEvent = {
        tenant: ctx.tenant,
        messageId: f.messageId,
        type: "track",
        event: f.event,
        anonymousId: f.anonymousId ?? "",
        userId: f.userId ?? "",
        groupId: "",
        previousId: "",
        channel,
        source,
        timestamp,
        originalTimestamp: f.hasOwnTime === false ? null : timestamp,
        sentAt: null,
        receivedAt,
        identifiers: f.identifiers ?? NO_IDENTIFIERS,
        ...storedFields({
          text: f.text ?? "", properties: f.properties ?? EMPTY_OBJECT, traits: f.traits ?? EMPTY_OBJECT,
          context: f.context ?? EMPTY_OBJECT, extra: extra ?? EMPTY_OBJECT,
        }),
        profileId: "",
        raw,
      }
      return { _tag: "event", event }
    },
    deadLetter: (payload, rejection, messageId = "") => ({
      _tag: "deadLetter",
      deadLetter: { tenant: ctx.tenant, source, receivedAt, messageId, rejection, ...(typeof payload === "string" ? { payload } : keptPayload(payload)) },
    }),
  }
}

/** Prefixes a rejection's message with where the item was ("line 3", "row 12 (line 14)", a file name). */
/** Identity's rule for opaque ids (identity/normalise.ts): trimmed, no control characters, at most 512 characters. */
const MAX_ID_CHARS = 512
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/
/**
 * C1 (U+0080-U+009F): identity refuses an id with one too (546c358); it comes from text decoded with the wrong
 * character set, and was linked as another id than the same id without it before.
 */
const C1_CONTROL = /[\u0080-\u009f]/

/** The first control character of `text` as a sender reads it: "the control character U+0007 at character 3". */
export const controlCharacterWords = (text: string, control: string) =>
  `the control character U+${control.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} at character ${text.indexOf(control) + 1}`

/**
 * The bad_id refusal of a person's id (a Segment message's userId or anonymousId, a chat's visitor_id) that identity
 * would refuse to link: the message would land tied to no one, and no lookup or erasure could find it by that id.
 * `name` is the field as the sender names it.
 */
export const unlinkableId = (name: string, raw: string): Rejection | null => {
  const id = raw.trim()
  const control = CONTROL_CHARACTER.exec(id)
  if (control !== null) {
    return { rule: "bad_id", field: `/${name}`, message: `${name} holds ${controlCharacterWords(raw, control[0])}: ` +
      "an id with one is never linked to a profile, so it could not be looked up or erased by it" }
  }
  const c1 = C1_CONTROL.exec(id)
  if (c1 !== null) {
    return { rule: "bad_id", field: `/${name}`, message: `${name} holds ${controlCharacterWords(raw, c1[0])}: no id holds one (it comes from ` +
      "text decoded with the wrong character set, or a terminal's code), and the id with it would be linked as another id " +
      "than the one without it; remove it" }
  }
  return id.length > MAX_ID_CHARS
    ? { rule: "bad_id", field: `/${name}`, message: `${name} is ${id.length} characters; an id may be at most ${MAX_ID_CHARS} (identity would not link a longer one)` }
    : null
}

/**
 * What a schema's `"pattern": "\\S"` asks of an id or address, in words: one of spaces alone would be taken for the
 * same item as every other such one (a duplicate, dropped) or land tied to no one.
 */
export const NOT_BLANK = "must hold more than spaces"

export const locate = (where: string, rejection: Rejection): Rejection =>
  ({ rule: rejection.rule, field: rejection.field, message: `${where}: ${rejection.message}` })

const MAX_SHOWN = 60
/** A field's pointer as a message names it: a sender's unknown field can be kilobytes long. */
const MAX_POINTER = 120
const cutPointer = (pointer: string): string => (pointer.length > MAX_POINTER ? `${pointer.slice(0, MAX_POINTER)}…` : pointer)

/** A value as a sender would recognise it in a message, cut short when long. */
export const show = (value: unknown): string => {
  const text = value === undefined ? "nothing" : JSON.stringify(value) ?? String(value)
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text
}

const typeWords = (type: unknown): string => {
  const types = Array.isArray(type) ? type : [type]
  return types.map((t) => (t === "integer" ? "an integer" : t === "object" || t === "array" ? `an ${String(t)}` : `a ${String(t)}`)).join(" or ")
}

/**
 * Turns the first ajv error into a rejection that names the field (JSON pointer) and the rule. `rules` renames the
 * rule of particular fields (e.g. "/event" → "unknown_event"); `what` names the whole item ("a SendGrid event");
 * `patterns` says in words what a field's `pattern` requires.
 */
export const explainSchemaError = (
  error: ErrorObject,
  root: unknown,
  what: string,
  rules?: Readonly<Record<string, string>>,
  patterns?: Readonly<Record<string, string>>,
): Rejection => {
  const field = cutPointer(errorField(error))
  const name = field === "" ? what : field.slice(1)
  const value = valueAt(root, field)
  const params = error.params as Record<string, unknown>
  const make = (rule: string, message: string): Rejection => ({ rule: rules?.[field] ?? rule, field, message })
  switch (error.keyword) {
    case "required":
      return make("missing_field", `${name} is required`)
    case "type":
      return field === ""
        ? make("not_object", `${what} must be a JSON object (got ${describeType(value)})`)
        : make("wrong_type", `${name} must be ${typeWords(params["type"])} (got ${describeType(value)})`)
    case "enum":
      return make("not_allowed", `${name} must be one of ${(params["allowedValues"] as ReadonlyArray<unknown>).join(", ")} (got ${show(value)})`)
    case "const":
      return make("not_allowed", `${name} must be ${show(params["allowedValue"])} (got ${show(value)})`)
    case "format":
      if (params["format"] === "iso-date-time" && typeof value === "string" && isoDateTimeOutOfRange(value)) {
        return make("bad_timestamp", outOfRangeWords(name, value))
      }
      return params["format"] === "iso-date-time"
        ? make("bad_timestamp", `${name} must be an ISO-8601 date-time such as 2024-09-02T11:39:49Z (got ${show(value)})`)
        : make("bad_format", `${name} must be a ${String(params["format"])} (got ${show(value)})`)
    case "minLength":
      return params["limit"] === 1
        ? make("empty_field", `${name} must not be empty`)
        : make("too_short", `${name} must be at least ${String(params["limit"])} characters long`)
    case "maxLength":
      return make("too_long", `${name} is longer than ${String(params["limit"])} characters`)
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return make("out_of_range", `${name} must be ${String(params["comparison"])} ${String(params["limit"])} (got ${show(value)})`)
    case "minItems":
      return make("too_few_items", `${name} must have at least ${String(params["limit"])} item(s)`)
    case "maxItems":
      return make("too_many_items", `${name} has more than ${String(params["limit"])} items`)
    case "maxProperties":
      // The edge's rule for an object of too many names (JSON_LIMITS.maxKeys), at a schema's own bound for one object.
      return make("too_many_keys", `${name} holds more than ${String(params["limit"])} names`)
    case "pattern":
      return make("bad_format", `${name} ${patterns?.[field] ?? "has an invalid format"} (got ${show(value)})`)
    case "additionalProperties": {
      // The field is the unknown property itself, not the object holding it.
      const extra = cutPointer(`${error.instancePath}/${String(params["additionalProperty"])}`)
      return { rule: rules?.[extra] ?? "unknown_field", field: extra, message: `${extra.slice(1)} is not a field of ${field === "" ? what : name}` }
    }
    default:
      return make(`schema_${error.keyword}`, `${name} ${error.message ?? "is invalid"}`)
  }
}

/** Turns one parsed NDJSON value into an item; the line and its number are for dead letters. */
export type LineHandler = (value: unknown, line: string, lineNumber: number) => ImportedItem

const handleLine = (maker: ItemMaker, line: string, lineNumber: number, handle: LineHandler): ImportedItem => {
  const read = readJson(line)
  if (read._tag === "refused") return maker.deadLetter(line, locate(`line ${lineNumber}`, read.rejection))
  return handle(read.value, line, lineNumber)
}

const PROGRESS_EVERY_LINES = 1000
const NEWLINE = 0x0a
const CARRIAGE_RETURN = 0x0d
const lenient = new TextDecoder("utf-8")

/** One line of a text file: its text, or why it cannot be read as it is (`text` is then a lossy rendering of it). */
export interface FileLine {
  readonly text: string
  readonly lineNumber: number
  readonly refused?: Rejection
  /** A line that is not UTF-8: its bytes, which its dead letter keeps (`text` has U+FFFD in place of some). */
  readonly bytes?: Buffer
}

/**
 * The lines of a file, read as bytes and decoded strictly: a line that is not UTF-8 or longer than a JSON document
 * may be is refused, rather than silently altered (readline replaces bad bytes with U+FFFD) or held whole in memory.
 * LF, CRLF and a lone CR (old Mac files, files of two systems joined) each end a line. A lone CR is also legal JSON
 * whitespace, so a line holding one is kept whole when it is one JSON document as it stands.
 */
export async function* readFileLines(path: string, onProgress?: (bytesRead: number) => void): AsyncGenerator<FileLine> {
  const stream = createReadStream(path)
  let parts: Array<Buffer> = []
  let size = 0
  let oversized = false
  let lineNumber = 0
  const decoded = (bytes: Buffer): FileLine => {
    lineNumber++
    if (lineNumber % PROGRESS_EVERY_LINES === 0) onProgress?.(stream.bytesRead)
    const text = decodeUtf8(bytes)
    return typeof text === "string" ? { text, lineNumber } : { text: lenient.decode(bytes), lineNumber, refused: text, bytes }
  }
  const take = (last: Buffer): Buffer => {
    let bytes = parts.length === 0 ? last : Buffer.concat([...parts, last])
    parts = []
    size = 0
    // A byte order mark (Excel, PowerShell, Notepad) is no part of the first line's JSON.
    if (lineNumber === 0 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3)
    return bytes
  }
  const finish = (last: Buffer): Array<FileLine> => {
    if (oversized) {
      oversized = false
      lineNumber++
      return [{ text: "", lineNumber, refused: { rule: "too_large", field: "", message: `the line is longer than ${JSON_LIMITS.maxBytes} bytes` } }]
    }
    let bytes = take(last)
    if (bytes.length > 0 && bytes[bytes.length - 1] === CARRIAGE_RETURN) bytes = bytes.subarray(0, bytes.length - 1)
    if (!bytes.includes(CARRIAGE_RETURN) || isOneDocument(bytes)) return [decoded(bytes)]
    return splitAtCarriageReturns(bytes, decoded)
  }
  // A line past the size limit that holds lone CRs is lines of a CR-ended file: those before its last CR go out now,
  // so such a file is read a line at a time instead of refused as one oversized line.
  const spill = (): Array<FileLine> => {
    const bytes = take(Buffer.alloc(0))
    const lastEnd = bytes.lastIndexOf(CARRIAGE_RETURN)
    if (lastEnd === -1) {
      oversized = true
      return []
    }
    const rest = bytes.subarray(lastEnd + 1)
    if (rest.length > 0) parts = [rest]
    size = rest.length
    if (size > JSON_LIMITS.maxBytes) oversized = true
    return splitAtCarriageReturns(bytes.subarray(0, lastEnd), decoded)
  }
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let from = 0
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, from)) {
      yield* finish(oversized ? Buffer.alloc(0) : chunk.subarray(from, at))
      from = at + 1
    }
    if (from < chunk.length && !oversized) {
      parts.push(chunk.subarray(from))
      size += chunk.length - from
      if (size > JSON_LIMITS.maxBytes) {
        yield* spill()
        if (oversized) {
          parts = []
          size = 0
        }
      }
    }
  }
  if (parts.length > 0 || oversized) yield* finish(Buffer.alloc(0))
  onProgress?.(stream.bytesRead)
}

/**
 * The lines of a stream of bytes (LF, CRLF or a lone CR end one, as readline reads them), decoded as `encoding`, each
 * at most `maxBytes`: readline holds a line whole however long, and one of 700 MB crashed the command that read it
 * (RangeError: Invalid string length). A longer line fails the reading with an Error naming it and the limit.
 */
export async function* boundedLines(input: AsyncIterable<Buffer>, maxBytes: number, encoding: BufferEncoding = "utf8"): AsyncGenerator<string> {
  let parts: Array<Buffer> = []
  let size = 0
  let lineNumber = 0
  const lines = function* (bytes: Buffer) {
    const text = bytes.toString(encoding)
    for (const line of (text.endsWith("\r") ? text.slice(0, -1) : text).split("\r")) {
      lineNumber++
      yield line
    }
  }
  for await (const chunk of input) {
    let from = 0
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, from)) {
      yield* lines(Buffer.concat([...parts, chunk.subarray(from, at)]))
      parts = []
      size = 0
      from = at + 1
    }
    parts.push(chunk.subarray(from))
    size += chunk.length - from
    if (size > maxBytes) throw new Error(`line ${lineNumber + 1} is longer than ${maxBytes} bytes`)
  }
  if (size > 0) yield* lines(Buffer.concat(parts))
}

/** Where the first and the last line break of a chunk are (LF or CR), -1 when it has none. */
const firstBreak = (chunk: Buffer): number => {
  const lf = chunk.indexOf(NEWLINE)
  const cr = chunk.indexOf(CARRIAGE_RETURN)
  return lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
}
const lastBreak = (chunk: Buffer): number => Math.max(chunk.lastIndexOf(NEWLINE), chunk.lastIndexOf(CARRIAGE_RETURN))

/**
 * The line limit of boundedLines for a reader that hands raw chunks on to a parser that would hold a line whole
 * (csv-parse): called with each chunk before it is handed on, it answers why the chunk must not be (the line it
 * carries past `maxBytes`, named by the byte the line starts at), or undefined. LF and CR each end a line (a quoted
 * CSV field's line breaks count, as the physical lines they are). It looks where a line crosses a chunk, so it holds
 * for limits of a chunk (64 KB) or more.
 */
export const lineGuard = (maxBytes: number = JSON_LIMITS.maxBytes): ((chunk: Buffer) => string | undefined) => {
  // Bytes of the stream before this chunk, and of its last line so far (after its last line break).
  let offset = 0
  let sinceBreak = 0
  return (chunk) => {
    const first = firstBreak(chunk)
    if ((first === -1 ? sinceBreak + chunk.length : sinceBreak + first) > maxBytes) {
      return `the line starting at byte ${offset - sinceBreak} is longer than ${maxBytes} bytes`
    }
    sinceBreak = first === -1 ? sinceBreak + chunk.length : chunk.length - lastBreak(chunk) - 1
    offset += chunk.length
    return undefined
  }
}

const splitAtCarriageReturns = (bytes: Buffer, decoded: (line: Buffer) => FileLine): Array<FileLine> => {
  const lines: Array<FileLine> = []
  let from = 0
  for (let at = bytes.indexOf(CARRIAGE_RETURN); at !== -1; at = bytes.indexOf(CARRIAGE_RETURN, from)) {
    lines.push(decoded(bytes.subarray(from, at)))
    from = at + 1
  }
  lines.push(decoded(bytes.subarray(from)))
  return lines
}

/**
 * Whether a line reads as one JSON document whole (a lone CR inside it is then whitespace between its tokens). A
 * document refused for another reason than its syntax (too deep, say) is one too: its pieces would hide the reason.
 */
const isOneDocument = (bytes: Buffer): boolean => {
  const text = decodeUtf8(bytes)
  return typeof text === "string" && isOneText(text)
}

/** Reads an NDJSON file; blank lines are skipped, a line that is not JSON becomes a `not_json` dead letter. */
export async function* readNdjsonFile(
  path: string,
  ctx: ImportContext,
  maker: ItemMaker,
  handle: LineHandler,
): AsyncGenerator<ImportedItem> {
  for await (const { text, lineNumber, refused, bytes } of readFileLines(path, ctx.onProgress)) {
    if (refused !== undefined) yield maker.deadLetter(bytes ?? text, locate(`line ${lineNumber}`, refused))
    else if (text.trim() !== "") yield handleLine(maker, text, lineNumber, handle)
  }
}

const CR = "\r"
const LF = "\n"

/**
 * Calls `each` with the lines of a text in memory and their numbers, split as readFileLines splits a file's (a lone CR
 * ends a line unless in a document), until it returns false. Found one at a time: an array of every line first held
 * the event loop 0.5-0.9 s for a 9 MB post of line breaks, and cut a post whole that is read only to its item limit.
 */
const eachTextLine = (body: string, each: (line: string, lineNumber: number) => boolean): void => {
  let lineNumber = 0
  for (let at = 0; at <= body.length;) {
    const lf = body.indexOf(LF, at)
    if (lf === at) {
      // A blank line, counted without being cut out.
      lineNumber++
      at++
      continue
    }
    const end = lf === -1 ? body.length : lf
    const line = body.slice(at, lf !== -1 && end > at && body[end - 1] === CR ? end - 1 : end)
    at = end + 1
    if (!line.includes(CR) || isOneText(line)) {
      if (!each(line, ++lineNumber)) return
      continue
    }
    for (let from = 0; from <= line.length;) {
      const cr = line.indexOf(CR, from)
      if (cr === from) {
        lineNumber++
        from++
        continue
      }
      const stop = cr === -1 ? line.length : cr
      if (!each(line.slice(from, stop), ++lineNumber)) return
      from = stop + 1
    }
  }
}

const isOneText = (line: string): boolean => {
  const read = readJson(line)
  return read._tag !== "refused" || read.rejection.rule !== "not_json"
}

/**
 * Whether a post holds more items than it may (ctx.maxItems): the one test of the limit. A source asks it to stop
 * reading; the collector, of what the source returned, to refuse the post whole.
 */
export const passedLimit = (items: ReadonlyArray<unknown>, ctx: Pick<ImportContext, "maxItems">): boolean =>
  ctx.maxItems !== undefined && items.length > ctx.maxItems

/** The first `ctx.maxItems + 1` of `values` (all when no limit is set): one past the limit tells it was passed. */
export const withinLimit = <A>(values: ReadonlyArray<A>, ctx: ImportContext): ReadonlyArray<A> =>
  passedLimit(values, ctx) ? values.slice(0, ctx.maxItems! + 1) : values

/**
 * The items of a JSON array body (readJsonItems): an item the reader refused (a number out of range, a lone surrogate,
 * too many names) is dead-lettered whole, with its id when `idOf` reads one from what is readable of it; the others
 * are made by `item`. `label` names an item in messages ("item 2", "event 2").
 */
export const arrayItems = (
  values: ReadonlyArray<unknown>, problems: ReadonlyArray<JsonProblem>, ctx: ImportContext, maker: ItemMaker, label: string,
  idOf: (readable: unknown) => string, item: (value: unknown, where: string, payload: () => string) => ImportedItem,
): ReadonlyArray<ImportedItem> => {
  const refused = refusedItems(problems)
  return withinLimit(values, ctx).map((value, i) => {
    const where = `${label} ${i + 1}`
    const bad = refused.get(i)
    return bad !== undefined
      ? maker.deadLetter(bad.text, locate(where, bad.rejection), idOf(bad.readable))
      : item(value, where, () => JSON.stringify(value) ?? String(value))
  })
}

/**
 * The same as `readNdjsonFile`, over a body already in memory (webhooks); stops after `maxItems + 1` items (see
 * ImportContext.maxItems).
 */
export const parseNdjsonText = (body: string, maker: ItemMaker, handle: LineHandler, maxItems?: number): Array<ImportedItem> => {
  const items: Array<ImportedItem> = []
  eachTextLine(body.startsWith("\uFEFF") ? body.slice(1) : body, (line, lineNumber) => {
    if (line.trim() !== "") items.push(handleLine(maker, line, lineNumber, handle))
    return !passedLimit(items, { maxItems })
  })
  return items
}

/**
 * Why a file is not read whole as one JSON document: past JSON_LIMITS.maxBytes it is refused unread (read, a 646 MB
 * array was refused only after it, as V8's "Cannot create a string longer than 0x1fffffe8 characters"). `instead`
 * says what to send; undefined when it is small enough (or its size is unknown: a pipe). Its dead letter keeps no payload, and says so.
 */
export const documentTooLarge = async (path: string, instead: string): Promise<Rejection | undefined> => {
  const { size } = await stat(path)
  if (size <= JSON_LIMITS.maxBytes) return undefined
  return { rule: "too_large", field: "", message: `${path} is ${size} bytes; one JSON document is read whole, at most ${JSON_LIMITS.maxBytes} bytes, so it was refused unread: this dead letter does not keep its bytes (the file is as it was): ${instead}` }
}

/** The first byte of a file that is not a space, tab, line break or byte order mark (undefined when none). */
export const firstByte = async (path: string): Promise<number | undefined> => {
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
    for (const byte of chunk) {
      if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d && byte !== 0xef && byte !== 0xbb && byte !== 0xbf) return byte
    }
  }
  return undefined
}

/** Reads a whole file, reporting progress per chunk (for inputs that are one JSON document), without a leading BOM. */
export const readWholeFile = async (path: string, ctx: ImportContext): Promise<Buffer> => {
  const chunks: Array<Buffer> = []
  const stream = createReadStream(path)
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer)
    ctx.onProgress?.(stream.bytesRead)
  }
  ctx.onProgress?.(stream.bytesRead)
  const bytes = Buffer.concat(chunks)
  // A byte order mark is no part of the JSON (RFC 8259 lets a parser ignore it); Windows tools write one.
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes
}
