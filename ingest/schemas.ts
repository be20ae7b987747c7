// The one ajv instance of the process: schemas are compiled once, at start-up, by the module that owns them.
import { type AnySchema, Ajv, type ErrorObject, type ValidateFunction } from "ajv"

// The year: four digits, or ISO-8601's expanded form (a sign and six digits, "+010000", as toISOString writes years
// past 9999), which the warehouse cannot store but which is a date-time and is refused as out of range, not as a form.
const ISO_DATE_TIME =
  /^(\d{4}|[+-]\d{6})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * Sender text shown in an answer (a value, an id, a key): at most `max` characters, then "…", so a refusal never
 * echoes a 100 KB field back whole. Never cut between the two halves of a character past U+FFFF (an emoji): half of
 * one is no character, and the warehouse refuses it (a dead letter whose reason held one was lost).
 */
export const shownText = (text: string, max = 60): string => {
  if (text.length <= max) return text
  const last = text.charCodeAt(max - 1)
  return `${text.slice(0, last >= 0xd800 && last < 0xdc00 ? max - 1 : max)}…`
}

/** The most characters of a sender's id or of a pointer (which holds its keys) an answer shows. */
export const SHOWN_ID_CHARS = 256
/** The most characters of a refusal's words an answer shows (they quote the sender's values, bounded each). */
const SHOWN_MESSAGE_CHARS = 1000

/**
 * A refusal as an answer shows it: its field, messageId and words bounded (shownText), so a 100 KB key or messageId is
 * not sent back whole. The dead letter keeps the message, its id and the pointer whole.
 */
export const shownRejection = <R extends { readonly field: string; readonly message: string; readonly messageId?: string }>(r: R): R => ({
  ...r,
  field: shownText(r.field, SHOWN_ID_CHARS),
  message: shownText(r.message, SHOWN_MESSAGE_CHARS),
  ...(r.messageId === undefined ? {} : { messageId: shownText(r.messageId, SHOWN_ID_CHARS) }),
})

/** Oldest and newest instants the warehouse's DateTime64 columns can hold. */
const MIN_MS = Date.UTC(1900, 0, 1)
const MAX_MS = Date.UTC(2299, 11, 31, 23, 59, 59, 999)

export const inWarehouseRange = (ms: number): boolean => ms >= MIN_MS && ms <= MAX_MS

/** The storable range in a sender's words, for rejections. */
export const WAREHOUSE_RANGE_WORDS = "1900-01-01T00:00:00Z to 2299-12-31T23:59:59.999Z"

/**
 * Parses an ISO-8601 date-time into epoch milliseconds, or NaN when it is not one or lies outside what the warehouse
 * stores (see `isoDateTimeOutOfRange` to tell the two apart). A time without a zone or offset is read in `timeZone`
 * (an IANA name, see `wallTimeIn`), UTC when none is given. Calendar validity is checked, not left to Date's lenient
 * rollover.
 */
export const parseIsoDateTime = (text: string, timeZone?: string): number => {
  const ms = timeZone === undefined || !isoDateTimeWithoutZone(text) ? parseAnyIsoDateTime(text) : wallTimeIn(parseAnyIsoDateTime(text), timeZone)
  return inWarehouseRange(ms) ? ms : Number.NaN
}

/** Whether the text is a date-time written without a zone or offset ("2024-01-01T09:30:00", "2024-01-01 09:30"). */
export const isoDateTimeWithoutZone = (text: string): boolean => {
  // The SDKs' form ends in Z: no regular expression for it.
  if (text.length === 24 && text.charCodeAt(23) === 90) return false
  const m = ISO_DATE_TIME.exec(text)
  return m !== null && m[8] === undefined
}

/** Why `zone` is not a time zone Intl knows (an IANA name: Europe/London, America/New_York, UTC), else undefined. */
export const timeZoneRefusal = (zone: unknown): string | undefined => {
  const shown = typeof zone === "string" ? JSON.stringify(shownText(zone)) : shownText(JSON.stringify(zone) ?? String(zone))
  const refusal = `${shown} is not an IANA time zone name such as Europe/London or America/New_York`
  if (typeof zone !== "string" || zone.trim() === "" || zone.length > 64) return refusal
  try {
    zoneFormat(zone)
    return undefined
  } catch {
    return refusal
  }
}

/** The tz database's name of a zone Intl knows, as it spells it ("europe/berlin" is Europe/Berlin, "utc" UTC). */
export const canonicalTimeZone = (zone: string): string => zoneFormat(zone).resolvedOptions().timeZone

const zoneFormats = new Map<string, Intl.DateTimeFormat>()

/** The formatter that tells a zone's wall clock at an instant (the zone's rules are Intl's, i.e. the tz database). */
const zoneFormat = (zone: string): Intl.DateTimeFormat => {
  let format = zoneFormats.get(zone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", era: "short", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    })
    zoneFormats.set(zone, format)
  }
  return format
}

/** How far `zone`'s wall clock is ahead of UTC at the instant `ms`, in milliseconds. */
const zoneOffsetAt = (zone: string, ms: number): number => {
  const at = Math.floor(ms / 1000) * 1000
  const part: Record<string, string> = {}
  for (const p of zoneFormat(zone).formatToParts(at)) part[p.type] = p.value
  const year = part["era"] === "BC" || part["era"] === "B" ? 1 - Number(part["year"]) : Number(part["year"])
  return utc(year, Number(part["month"]) - 1, Number(part["day"]), Number(part["hour"]), Number(part["minute"]), Number(part["second"]), 0) - at
}

const DAY_MS = 86_400_000

/**
 * The instant at which `zone`'s wall clock reads `wallMs` (a wall time written as if it were UTC). As Temporal's
 * "compatible" choice (and java.time's): a wall time a DST change skips (02:30 on a spring-forward night) is moved
 * forward by the gap (03:30 of the new offset); one it repeats (01:30 on a fall-back night) is the earlier of the two.
 */
export const wallTimeIn = (wallMs: number, zone: string): number => {
  // Outside what the warehouse stores the wall time is refused anyway: left as it is, it keeps its range message.
  if (!inWarehouseRange(wallMs - DAY_MS) || !inWarehouseRange(wallMs + DAY_MS)) return wallMs
  const hour = Math.floor(wallMs / HOUR_MS)
  let hours = zoneHours.get(zone)
  if (hours === undefined) zoneHours.set(zone, hours = new Map())
  let offset = hours.get(hour)
  if (offset === undefined) {
    // One wall hour's offset, when its first and last millisecond have the same (no change falls inside it): Intl
    // takes about 30 µs a call, and a year of hourly rows needs 8,760 such hours, not a call per row.
    const start = hour * HOUR_MS
    const first = start - exactWallTimeIn(start, zone)
    const last = start + HOUR_MS - 1 - exactWallTimeIn(start + HOUR_MS - 1, zone)
    offset = first === last ? first : Number.NaN
    if (hours.size >= MAX_ZONE_HOURS) hours.clear()
    hours.set(hour, offset)
  }
  return Number.isNaN(offset) ? exactWallTimeIn(wallMs, zone) : wallMs - offset
}

const HOUR_MS = 3_600_000
const MAX_ZONE_HOURS = 100_000
/** Per zone, per wall hour (wall ms / HOUR_MS), its one offset, or NaN when a change of offset falls inside it. */
const zoneHours = new Map<string, Map<number, number>>()

const exactWallTimeIn = (wallMs: number, zone: string): number => {
  const before = zoneOffsetAt(zone, wallMs - DAY_MS)
  const after = zoneOffsetAt(zone, wallMs + DAY_MS)
  const early = wallMs - before
  if (zoneOffsetAt(zone, early) === before) return early
  const late = wallMs - after
  // Neither offset gives this wall time: it lies in a gap, read with the offset before it (moving it forward).
  return zoneOffsetAt(zone, late) === after ? late : early
}

/** Why a valid date-time was refused: the range, not the form. */
export const outOfRangeWords = (name: string, value: string): string =>
  `${name} ${JSON.stringify(shownText(value))} is a valid ISO-8601 date-time outside the range the warehouse stores (${WAREHOUSE_RANGE_WORDS}); it is refused rather than changed`

/** True when the text is a valid ISO-8601 date-time that the warehouse cannot store (year 0001, 2300, 9999...). */
export const isoDateTimeOutOfRange = (text: string): boolean => {
  const ms = parseAnyIsoDateTime(text)
  return !Number.isNaN(ms) && !inWarehouseRange(ms)
}

const parseAnyIsoDateTime = (text: string): number => {
  // One-entry memo: a batch repeats its sentAt on every message.
  if (text === lastParsedText) return lastParsedMs
  lastParsedMs = parseUncached(text)
  lastParsedText = text
  return lastParsedMs
}

const MS_PER_400_YEARS = 146_097 * 86_400_000

/** Date.UTC, except that years 0-99 stay themselves (Date.UTC reads them as 1900-1999). */
const utc = (year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number =>
  year >= 100
    ? Date.UTC(year, month, day, hour, minute, second, ms)
    : Date.UTC(year + 400, month, day, hour, minute, second, ms) - MS_PER_400_YEARS

let lastParsedText = ""
let lastParsedMs = Number.NaN

/** The decimal number in t[from, to), or -1 when a character is not a digit. */
const digits = (t: string, from: number, to: number): number => {
  let value = 0
  for (let i = from; i < to; i++) {
    const d = t.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    value = value * 10 + d
  }
  return value
}

/** The form SDKs send ("2024-09-02T11:39:49.076Z"), read without a regular expression; NaN when not that form. */
const parseCanonical = (t: string): number => {
  if (t.charCodeAt(23) !== 90 || t.charCodeAt(10) !== 84 || t.charCodeAt(19) !== 46 || t.charCodeAt(4) !== 45 ||
    t.charCodeAt(7) !== 45 || t.charCodeAt(13) !== 58 || t.charCodeAt(16) !== 58) return Number.NaN
  const year = digits(t, 0, 4)
  const month = digits(t, 5, 7)
  const day = digits(t, 8, 10)
  const hour = digits(t, 11, 13)
  const minute = digits(t, 14, 16)
  const second = digits(t, 17, 19)
  const ms = digits(t, 20, 23)
  if (year < 0 || ms < 0 || month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]! ||
    hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return Number.NaN
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return Number.NaN
  return utc(year, month - 1, day, hour, minute, second, ms)
}

const parseUncached = (text: string): number => {
  if (text.length === 24) {
    const fast = parseCanonical(text)
    if (!Number.isNaN(fast)) return fast
  }
  const m = ISO_DATE_TIME.exec(text)
  if (m === null || m[1] === "-000000") return Number.NaN
  const year = +m[1]!
  const month = +m[2]!
  const day = +m[3]!
  const hour = +m[4]!
  const minute = +m[5]!
  const second = m[6] === undefined ? 0 : +m[6]
  if (month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]!) return Number.NaN
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return Number.NaN
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN
  const fraction = m[7] === undefined ? 0 : Math.floor(+`0.${m[7]}` * 1000)
  let ms = utc(year, month - 1, day, hour, minute, second, fraction)
  const zone = m[8]
  if (zone !== undefined && zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1
    const digits = zone.slice(1).replace(":", "")
    const offsetHours = +digits.slice(0, 2)
    const offsetMinutes = digits.length > 2 ? +digits.slice(2, 4) : 0
    // "+25:00" is no zone: taken as written it moved the event by more than a day.
    if (offsetHours > 23 || offsetMinutes > 59) return Number.NaN
    ms -= sign * (offsetHours * 60 + offsetMinutes) * 60_000
  }
  // Past what Date holds (year ±275760): still a valid date-time, out of every range.
  return Number.isNaN(ms) ? (year < 0 ? -Infinity : Infinity) : ms
}

export const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true })
ajv.addFormat("iso-date-time", { type: "string", validate: (s: string) => !Number.isNaN(parseIsoDateTime(s)) })

/**
 * ajv.compile(schema), done when the validator is first called instead of when its module loads: every cdp command
 * imports every route and source, and compiling all their schemas at load took about 70 ms of CPU of each command's
 * start-up (`cdp --version` included), most of it for destinations nobody configured. `errors` reads the compiled one's.
 */
export const compiledOnFirstUse = <T>(schema: AnySchema): ValidateFunction<T> => {
  let compiled: ValidateFunction<T> | undefined
  const validate = ((data: unknown) => (compiled ??= ajv.compile<T>(schema))(data)) as ValidateFunction<T>
  Object.defineProperty(validate, "errors", { get: () => compiled?.errors ?? null })
  return validate
}

/** A JSON object (not null, not an array). */
export const isJsonObject = (v: unknown): v is { readonly [key: string]: unknown } =>
  v !== null && typeof v === "object" && !Array.isArray(v)

/** Words for a JSON type, as a sender would say it. */
export const describeType = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : `a ${typeof value}`

/** The JSON pointer an ajv error is about (a missing property points at the property itself). */
export const errorField = (error: ErrorObject): string =>
  error.keyword === "required" ? `${error.instancePath}/${String(error.params["missingProperty"])}` : error.instancePath

/** Reads the value at a JSON pointer produced by ajv (only plain property and index steps). */
export const valueAt = (root: unknown, pointer: string): unknown => {
  if (pointer === "") return root
  let current: unknown = root
  for (const step of pointer.slice(1).split("/")) {
    if (current === null || typeof current !== "object") return undefined
    current = (current as Record<string, unknown>)[step.replace(/~1/g, "/").replace(/~0/g, "~")]
  }
  return current
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`)
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`)

/**
 * Epoch milliseconds as toISOString writes them ("2024-09-02T11:39:49.076Z"), for years 1900-2299 (the warehouse's
 * range), without allocating a Date: this runs for every message. Days to a civil date after Howard Hinnant's
 * days_from_civil inverse.
 */
export const formatIsoDateTime = (ms: number): string => {
  const days = Math.floor(ms / 86_400_000)
  let rest = ms - days * 86_400_000
  const hour = Math.floor(rest / 3_600_000)
  rest -= hour * 3_600_000
  const minute = Math.floor(rest / 60_000)
  rest -= minute * 60_000
  const second = Math.floor(rest / 1000)
  const milli = rest - second * 1000
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  return `${year}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(minute)}:${pad2(second)}.${pad3(milli)}Z`
}

// ── Records read back from a bus topic (ingest/bus.ts checks them; the Kafka bus parks those that do not fit) ─────
// Only the fields the stages read are checked; the rest are left to the stages' own checks. Each `description` is the
// rule a fault of that field is named by (bus.ts reports the nearest described schema above the failing keyword:
// an identifier's kind is reported as the identifiers' rule), so the words stay those of the dead letters.

const busString = { type: "string", description: "must be a string" } as const
const busObject = { type: "object", description: "must be an object" } as const
/** A date and time as cdp writes them (toISOString, an offset allowed), on the calendar and in the warehouse's range. */
const busDateTime = {
  type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:?\\d{2})$", format: "iso-date-time",
  description: "must be an ISO-8601 date and time",
} as const
const busRecord = (properties: Record<string, object>, optional: ReadonlyArray<string> = []) => ({
  type: "object", description: "must be a JSON object", properties,
  required: Object.keys(properties).filter((p) => !optional.includes(p)),
}) as const

/** An event on the events topic. */
export const busEventSchema = busRecord({
  tenant: busString, messageId: busString, source: busString, type: busString, timestamp: busString, receivedAt: busString,
  userId: busString, anonymousId: busString,
  identifiers: {
    type: "array", description: "must be an array of {kind, value} strings",
    items: { type: "object", required: ["kind", "value"], properties: { kind: { type: "string" }, value: { type: "string" } } },
  },
  properties: busObject, traits: busObject, context: busObject, extra: busObject,
  text: { type: "string", description: "must be a string when present" },
  profileId: { type: "string", description: "must be a string when present" },
}, ["text", "profileId"])

/** A dead letter on the dead_letters topic: one the warehouse cannot store even without its payload would only be logged. */
export const busDeadLetterSchema = busRecord({
  tenant: busString, source: busString, receivedAt: busDateTime, messageId: busString, payload: busString,
  rejection: { ...busRecord({ rule: busString, field: busString, message: busString }), description: "must be an object" },
  payloadEncoding: { type: "string", enum: ["utf8", "base64"], description: "must be utf8 or base64 when present" },
  person: { type: "string", description: "must be a string when present" },
}, ["payloadEncoding", "person"])

/** An accepted item's raw text on the raw topic. */
export const busRawSchema = busRecord({
  tenant: busString, source: busString, messageId: busString, receivedAt: busString, body: busString,
  meta: { type: "object", description: "must be an object when present" },
  json: { type: "boolean", description: "must be a boolean when present" },
  person: { type: "string", description: "must be a string when present" },
}, ["meta", "json", "person"])

/** A notice on the identity_changes topic. */
export const busIdentityChangeSchema = busRecord({
  tenant: busString, origin: busString,
  shreddedKeys: { type: "array", items: { type: "string" }, description: "must be an array of strings when present" },
  forgetProfileKeys: { type: "array", items: { type: "string" }, description: "must be an array of strings when present" },
}, ["shreddedKeys", "forgetProfileKeys"])

// ── Bodies of admin routes (checked by adminBodyOf, ingest/query-route.ts) ─────────────────────────────────────────

/** POST /v1/relations/compute (ingest/relations-route.ts). */
export const relationsComputeBodySchema = {
  type: "object", additionalProperties: false,
  properties: { asOf: { type: "string" }, tenant: { type: "string" }, wait: { type: "boolean" } },
} as const

/** POST /v1/operations/{replay|rescore|retention} (ingest/operations-route.ts): "tenant" is every tenant's when absent. */
export const operationBodySchemas = {
  replay: {
    type: "object", additionalProperties: false, required: ["from", "to"],
    properties: { from: { type: "string" }, to: { type: "string" }, source: { type: "string" }, tenant: { type: "string" }, wait: { type: "boolean" } },
  },
  rescore: {
    type: "object", additionalProperties: false, required: ["since"],
    properties: { since: { type: "string" }, tenant: { type: "string" }, wait: { type: "boolean" } },
  },
  retention: { type: "object", additionalProperties: false, properties: { tenant: { type: "string" }, wait: { type: "boolean" } } },
} as const

/** POST /v1/dead-letters/retry (ingest/dead-letter-route.ts). */
export const deadLetterRetryBodySchema = {
  type: "object", additionalProperties: false,
  properties: {
    source: { type: "string", minLength: 1 }, rule: { type: "string", minLength: 1 }, since: { type: "string" },
    limit: { type: "integer", minimum: 1, maximum: 10_000 }, tenant: { type: "string" },
  },
} as const

/** POST /v1/traits/preview (ingest/traits-route.ts); the definition itself is checked by identity's parseDefinition. */
export const traitsPreviewBodySchema = {
  type: "object", additionalProperties: false, required: ["definition"],
  properties: { definition: { type: "object" }, sample: { type: "integer", minimum: 1, maximum: 1000 }, tenant: { type: "string" } },
} as const
