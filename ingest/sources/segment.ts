// Segment Tracking API messages: validation against segment.schema.json and the rules a schema cannot say,
// then normalisation into canonical events (messageId filled, timestamps corrected for clock skew as Segment does).
import { createHash } from "node:crypto"
import type { ErrorObject, ValidateFunction } from "ajv"
import { type ConsentBudget, gppOverBudget, gppProblem, tcfOverBudget, tcfProblem, US_PRIVACY } from "../../consent/index.ts"
import { ConsentPacer } from "../../consent/pacing.ts"
import { type CanonicalEvent, type EventType, type Identifier, type JsonObject, putField, type RawItem, type Rejection } from "../message.ts"
import {
  ajv, describeType, errorField, formatIsoDateTime, inWarehouseRange, isJsonObject, isoDateTimeOutOfRange, isoDateTimeWithoutZone, outOfRangeWords,
  parseIsoDateTime, shownText, valueAt,
} from "../schemas.ts"
import schema from "./segment.schema.json" with { type: "json" }
import { controlCharacterWords, sourceTimeZone, storedFields, unlinkableId, zonelessMarks } from "./items.ts"

/** The fields segment.schema.json describes (a test holds the two together). */
export interface SegmentMessageFields {
  readonly type: EventType
  readonly messageId?: string | null
  readonly userId?: string | number | null
  readonly anonymousId?: string | number | null
  readonly event?: string
  readonly name?: string | null
  readonly groupId?: string | number
  readonly previousId?: string | number
  readonly timestamp?: string
  readonly originalTimestamp?: string
  readonly sentAt?: string
  readonly properties?: JsonObject
  readonly traits?: JsonObject
  readonly context?: JsonObject
  readonly integrations?: JsonObject
}

/** A Segment message: the described fields, plus unknown ones, which are allowed and kept in `extra`. */
export type SegmentMessage = SegmentMessageFields & { readonly [extra: string]: unknown }

/** Limits of a production collector, as Segment documents them. */
export const SEGMENT_LIMITS = {
  maxMessageBytes: 32 * 1024,
  maxBatchBytes: 500 * 1024,
  maxBatchMessages: 2500,
} as const

// Compiled on first use: most commands never check a message.
let compiledSchema: ValidateFunction<SegmentMessage> | undefined
const validateSchema = () => compiledSchema ??= ajv.compile<SegmentMessage>(schema)

/** Columns of their own; everything else a message carries goes to `extra`. */
const MAPPED_FIELDS = new Set([
  "type", "messageId", "userId", "anonymousId", "event", "groupId", "previousId", "timestamp", "originalTimestamp",
  "sentAt", "receivedAt", "properties", "traits", "context", "writeKey",
])

const FIELD_RULES: Record<string, { rule: string; what: string }> = {
  "/messageId": { rule: "message_id_not_string", what: "messageId must be a non-empty string" },
  "/userId": { rule: "user_id_not_string", what: "userId must be a string or a number" },
  "/anonymousId": { rule: "anonymous_id_not_string", what: "anonymousId must be a string or a number" },
  "/timestamp": { rule: "bad_timestamp", what: "timestamp must be an ISO-8601 date-time string" },
  "/originalTimestamp": { rule: "bad_timestamp", what: "originalTimestamp must be an ISO-8601 date-time string" },
  "/sentAt": { rule: "bad_timestamp", what: "sentAt must be an ISO-8601 date-time string" },
  "/properties": { rule: "properties_not_object", what: "properties must be an object" },
  "/traits": { rule: "traits_not_object", what: "traits must be an object" },
  "/context": { rule: "context_not_object", what: "context must be an object" },
  "/integrations": { rule: "integrations_not_object", what: "integrations must be an object" },
  "/event": { rule: "event_not_string", what: "event must be a non-empty string" },
  "/name": { rule: "name_not_string", what: "name must be a string" },
  "/groupId": { rule: "missing_group_id", what: "a group message needs a groupId (string or number)" },
  "/previousId": { rule: "missing_previous_id", what: "an alias message needs a previousId (string or number)" },
}

const rejection = (rule: string, field: string, message: string): Rejection => ({ rule, field, message })

const explain = (error: ErrorObject, message: unknown): Rejection => {
  const field = errorField(error)
  const value = valueAt(message, field)
  if (field === "/type") {
    return value === undefined || value === null
      ? rejection("missing_type", field, "type is required (one of track, identify, page, screen, group, alias)")
      : rejection("unknown_type", field,
        `type ${JSON.stringify(value)} is not one of track, identify, page, screen, group, alias (case-sensitive)`)
  }
  if (field === "/event" && (value === undefined || value === "")) {
    return rejection("missing_event", field, "a track message needs a non-empty event name")
  }
  if (error.keyword === "format" && typeof value === "string" && isoDateTimeOutOfRange(value)) {
    return rejection("bad_timestamp", field, outOfRangeWords(field.slice(1), value))
  }
  const known = FIELD_RULES[field]
  if (known === undefined) return rejection(`schema_${error.keyword}`, field, `${field} ${error.message ?? "is invalid"}`)
  if (error.keyword === "maxLength") return rejection(known.rule, field, `${field.slice(1)} is longer than ${String(error.params["limit"])} characters`)
  const got = value === undefined ? "it is missing" : `got ${error.keyword === "format" ? JSON.stringify(value) : describeType(value)}`
  return rejection(known.rule, field, `${known.what} (${got})`)
}

/** A JSON pointer's segment for an object key. */
const pointerSegment = (key: string) => key.replace(/~/g, "~0").replace(/\//g, "~1")

/** A field's JSON pointer as a sender writes the path ("/context/consent/tcf" is context.consent.tcf). */
const dottedName = (field: string) => field.slice(1).replace(/\//g, ".")

/** Where TCF strings travel in a message's context (consent/readers.ts reads them). */
const TCF_FIELDS = ["tcf", "tcString", "gdpr_consent"] as const

/** Where GPP strings travel in a message's context.consent (consent/readers.ts reads them). */
const GPP_FIELDS = ["gpp", "gppString"] as const

/**
 * A consent string (TCF or GPP, as `reader` reads it) that cannot be decoded: the consent stage would read nothing
 * from it, and the message land as if no choice was made (the string may have been a withdrawal). A blank one says
 * nothing; one that is not a string is named.
 */
const undecodable = (kind: "TCF" | "GPP", reader: ConsentStringReader, value: unknown, field: string, budget?: ConsentBudget): Rejection | null => {
  const name = dottedName(field)
  if (value === undefined || value === null) return null
  if (typeof value !== "string") return rejection("bad_consent", field, `${name} must be a ${kind} consent string (got ${describeType(value)})`)
  if (value.trim() === "") return null
  if (budget !== undefined && reader.overBudget(value, budget)) {
    return rejection("too_many_consent_strings", field, `${name}, a ${kind} string, was not decoded: this ${budget.per}'s consent strings ` +
      `(TCF and GPP) already needed all the decoding one request may cause (${budget.decoded} distinct strings decoded, about ` +
      `${Math.round(budget.limit / 1000)} ms of a core's work, counted from what they name); ` +
      (budget.per === "request"
        ? "send fewer distinct consent strings per batch (this message may be sent again in another)"
        : "no real message needs as much (a CMP sends one string of each kind)"))
  }
  const problem = reader.problem(value, budget)
  if (problem === undefined) return null
  return rejection("bad_consent", field, `${name} ${JSON.stringify(shownText(value, 40))} is not a ${kind} consent string that can be decoded ` +
    `(${problem}): a consent choice that cannot be read is refused, not guessed; send the CMP's string as it gave it, or none`)
}

/** How `undecodable` reads a string of one kind (consent/readers.ts). */
interface ConsentStringReader {
  readonly overBudget: (text: string, budget: ConsentBudget) => boolean
  readonly problem: (text: string, budget?: ConsentBudget) => string | undefined
}
const TCF_READER: ConsentStringReader = { overBudget: tcfOverBudget, problem: tcfProblem }
const GPP_READER: ConsentStringReader = { overBudget: gppOverBudget, problem: gppProblem }
const undecodableTcf = (value: unknown, field: string, budget?: ConsentBudget) => undecodable("TCF", TCF_READER, value, field, budget)
const undecodableGpp = (value: unknown, field: string, budget?: ConsentBudget) => undecodable("GPP", GPP_READER, value, field, budget)

/** Where US Privacy strings travel in a message's context.consent (consent/readers.ts reads them). */
const US_PRIVACY_FIELDS = ["usPrivacy", "us_privacy"] as const

/** A US Privacy string the readers cannot read (not a string, or not "1" and three of Y, N, -); blank says nothing. */
const unreadableUsPrivacy = (value: unknown, field: string): Rejection | null => {
  if (value === undefined || value === null || (typeof value === "string" && (value.trim() === "" || US_PRIVACY.test(value.trim())))) return null
  const got = typeof value === "string" ? JSON.stringify(shownText(value, 40)) : describeType(value)
  return rejection("bad_consent", field, `${dottedName(field)} must be an IAB US Privacy string: 1, then notice, ` +
    `opt-out of sale and LSPA, each Y, N or - (e.g. "1YNN"; got ${got}): a consent choice that cannot be read is refused, not guessed`)
}

/**
 * The consent a message's context (or a batch's, which every message of it takes) states in a shape
 * consent/readers.ts cannot read: the stage would skip it and the message
 * land as if no choice was made (a refusal sent as "false" would be lost). null says nothing and is allowed.
 */
export const unreadableConsent = (context: JsonObject | undefined, budget?: ConsentBudget): Rejection | null => {
  if (context === undefined) return null
  const bad = (field: string, message: string) => rejection("bad_consent", field, message)
  const gpc = context["gpc"]
  if (gpc !== undefined && gpc !== null && typeof gpc !== "boolean") {
    return bad("/context/gpc", `context.gpc must be true or false (got ${describeType(gpc)}); the Sec-GPC: 1 header sets it`)
  }
  const contextTcfProblem = undecodableTcf(context["gdpr_consent"], "/context/gdpr_consent", budget)
  if (contextTcfProblem !== null) return contextTcfProblem
  const contextUsp = unreadableUsPrivacy(context["us_privacy"], "/context/us_privacy")
  if (contextUsp !== null) return contextUsp
  const contextGpp = undecodableGpp(context["gpp"], "/context/gpp", budget)
  if (contextGpp !== null) return contextGpp
  const consent = context["consent"]
  if (consent === undefined || consent === null) return null
  if (!isJsonObject(consent)) return bad("/context/consent", `context.consent must be an object (got ${describeType(consent)})`)
  for (const key of TCF_FIELDS) {
    const problem = undecodableTcf(consent[key], `/context/consent/${key}`, budget)
    if (problem !== null) return problem
  }
  for (const key of US_PRIVACY_FIELDS) {
    const problem = unreadableUsPrivacy(consent[key], `/context/consent/${key}`)
    if (problem !== null) return problem
  }
  for (const key of GPP_FIELDS) {
    const problem = undecodableGpp(consent[key], `/context/consent/${key}`, budget)
    if (problem !== null) return problem
  }
  const prefs = consent["categoryPreferences"]
  if (prefs === undefined || prefs === null) return null
  if (!isJsonObject(prefs)) {
    return bad("/context/consent/categoryPreferences",
      `context.consent.categoryPreferences must be an object of category: true or false (got ${describeType(prefs)})`)
  }
  for (const [category, value] of Object.entries(prefs)) {
    if (value === null || typeof value === "boolean") continue
    return bad(`/context/consent/categoryPreferences/${pointerSegment(category)}`,
      `context.consent.categoryPreferences.${shownText(category, 80)} must be true or false (got ${describeType(value)}): ` +
        "a consent choice that cannot be read is refused, not guessed")
  }
  return null
}

const ID_FIELDS = ["userId", "anonymousId", "groupId", "previousId"] as const

/** A number id stored as its digits must be exactly the number sent: a whole number JSON readers hold exactly. */
const inexactId = (m: SegmentMessage): Rejection | null => {
  for (const name of ID_FIELDS) {
    const id = m[name]
    if (typeof id !== "number" || Number.isSafeInteger(id)) continue
    return rejection("inexact_id", `/${name}`, Number.isInteger(id)
      ? `${name} ${id} is a number past ${Number.MAX_SAFE_INTEGER}: JSON readers do not keep all its digits, so it could name another person; send it as a string`
      : `${name} ${id} is a number that is not whole: send a whole number or a string`)
  }
  return null
}

/** An id identity would refuse to link (items.ts unlinkableId): the message would land tied to no one. */
const unlinkableIdOf = (m: SegmentMessage): Rejection | null => {
  for (const name of ID_FIELDS) {
    const raw = m[name]
    if (typeof raw !== "string") continue
    const refused = unlinkableId(name, raw)
    if (refused !== null) return refused
  }
  return null
}

/** Names and ids kept as sent, in columns of their own (ids of people are unlinkableId's). */
const TEXT_FIELDS = ["messageId", "event", "name"] as const

/** C0, DEL and C1 (U+0080-U+009F: U+009B starts an escape sequence in a terminal as ESC [ does, U+0085 ends a line). */
const TEXT_CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/

/**
 * A control character (C0, DEL or C1) in the message's id or event name: it would be stored as sent, and break what
 * shows, searches or exports them (a NUL, an escape sequence in a terminal, a newline in a CSV).
 */
const controlCharacter = (m: SegmentMessage): Rejection | null => {
  for (const name of TEXT_FIELDS) {
    const text = m[name]
    if (typeof text !== "string") continue
    const control = TEXT_CONTROL_CHARACTER.exec(text)
    if (control === null) continue
    return rejection("control_character", `/${name}`, `${name} holds ${controlCharacterWords(text, control[0])}: control characters ` +
      "are not stored (they cannot be shown, searched or exported faithfully); remove it")
  }
  return null
}

const isBlankId = (id: unknown): boolean =>
  id === undefined || id === null || (typeof id === "string" && id.trim() === "")

/**
 * Checks one message. `sizeBytes`, when the caller knows it, is the message's encoded size; otherwise the size is
 * measured here. Returns null when the message is acceptable.
 */
export const validateSegmentMessage = (message: unknown, sizeBytes?: number, budget?: ConsentBudget): Rejection | null => {
  if (message === null || typeof message !== "object" || Array.isArray(message)) {
    return rejection("not_object", "", `a message must be a JSON object (got ${describeType(message)})`)
  }
  const size = sizeBytes ?? Buffer.byteLength(JSON.stringify(message))
  if (size > SEGMENT_LIMITS.maxMessageBytes) {
    return rejection("too_large", "", `message is ${size} bytes; the limit is ${SEGMENT_LIMITS.maxMessageBytes} bytes (32 KB)`)
  }
  const validate = validateSchema()
  if (!validate(message)) return explain(validate.errors![0]!, message)
  const m = message as SegmentMessage
  if (isBlankId(m.userId) && isBlankId(m.anonymousId)) {
    return rejection("missing_identity", "/userId", "a message needs a non-blank userId or anonymousId")
  }
  if (m.messageId === null) return rejection("message_id_not_string", "/messageId", "messageId must be a non-empty string (got null)")
  const inexact = inexactId(m)
  if (inexact !== null) return inexact
  const unlinkable = unlinkableIdOf(m) ?? controlCharacter(m)
  if (unlinkable !== null) return unlinkable
  // The schema asks only that they be present; a blank one names no group to join and no earlier id to merge.
  if (m.type === "group" && isBlankId(m.groupId)) {
    return rejection("missing_group_id", "/groupId", `${FIELD_RULES["/groupId"]!.what} (got a blank string)`)
  }
  if (m.type === "alias" && isBlankId(m.previousId)) {
    return rejection("missing_previous_id", "/previousId", `${FIELD_RULES["/previousId"]!.what} (got a blank string)`)
  }
  // consent/readers.ts reads a TCF string from properties too (IAB's gdpr_consent parameter, copied from a URL); only a
  // string there is read (properties are the sender's own).
  return unreadableConsent(m.context, budget) ??
    (typeof m.properties?.["gdpr_consent"] === "string" ? undecodableTcf(m.properties["gdpr_consent"], "/properties/gdpr_consent", budget) : null) ??
    (typeof m.properties?.["us_privacy"] === "string" ? unreadableUsPrivacy(m.properties["us_privacy"], "/properties/us_privacy") : null) ??
    (typeof m.properties?.["gpp"] === "string" ? undecodableGpp(m.properties["gpp"], "/properties/gpp", budget) : null)
}

/**
 * Checks messages read with no sender to answer (`cdp ingest`'s file, archive replay, dead letters re-driven) under
 * the consent decoding budget of a request, one budget after another with a turn of the event loop between
 * (consent/pacing.ts); only a message whose own strings need more than a whole budget is refused
 * (too_many_consent_strings, as a dead letter).
 */
export class ConsentPacing extends ConsentPacer {
  /** validateSegmentMessage under the running budget, after a turn of the event loop when it is spent. */
  async validate(message: unknown, sizeBytes?: number): Promise<Rejection | null> {
    return this.read((budget) => validateSegmentMessage(message, sizeBytes, budget), (rejection) => rejection?.rule === "too_many_consent_strings")
  }
}

/**
 * A message without the credentials a sender may repeat in it (analytics.js puts `writeKey` in every message): the
 * key authenticates the request and must not be archived, stored or dead-lettered with the message.
 */
export const withoutCredentials = (message: unknown): unknown => {
  if (!isJsonObject(message) || !Object.hasOwn(message, "writeKey")) return message
  const { writeKey: _writeKey, ...rest } = message
  return rest
}

const WRITE_KEY_FIELD = /"writeKey"\s*:\s*"(?:[^"\\]|\\.)*"/g

/** A request body's text (which may not even parse) with every `"writeKey": "..."` value blanked out. */
export const redactWriteKeys = (body: string): string =>
  body.includes('"writeKey"') ? body.replace(WRITE_KEY_FIELD, '"writeKey":"[redacted]"') : body

/** What the receiving end knows about a message besides the message itself. */
export interface ReceiveContext {
  readonly tenant: string
  readonly receivedAtMs: number
  /** Live traffic: correct `timestamp` for the sender's clock skew. Historical imports keep the client's time. */
  readonly correctClockSkew: boolean
  /** Batch-level sentAt, context and integrations apply to every message of the batch. */
  readonly batchSentAt?: string | undefined
  readonly batchContext?: JsonObject | undefined
  readonly batchIntegrations?: JsonObject | undefined
  /** IANA zone the message's times written without one are read in (the source's `timeZone`); unset: UTC. */
  readonly timeZone?: string | undefined
}

const EMPTY: JsonObject = Object.freeze({})
const NO_IDENTIFIERS: ReadonlyArray<Identifier> = Object.freeze([])

const idString = (id: string | number | null | undefined): string =>
  id === undefined || id === null ? "" : typeof id === "number" ? String(id) : id.trim()

/**
 * A missing messageId gets one derived from the message's content, so a sender's retry of the same message
 * gets the same id and still lands once.
 */
const contentMessageId = (tenant: string, message: SegmentMessage): string => {
  const { sentAt: _sentAt, writeKey: _writeKey, ...stable } = message
  return `cdp-${createHash("sha256").update(tenant).update("\0").update(JSON.stringify(stable)).digest("hex").slice(0, 32)}`
}

// One-entry memo: the messages of a batch share receivedAt and usually sentAt, and formatting dates is not free.
let lastIsoMs = Number.NaN
let lastIso = ""
const toIso = (ms: number): string => {
  if (ms !== lastIsoMs) {
    lastIso = formatIsoDateTime(ms)
    lastIsoMs = ms
  }
  return lastIso
}

/** A valid time sent already as toISOString writes it ("2024-09-02T11:39:49.076Z", as SDKs send) is kept as is. */
const canonicalIso = (sent: string, ms: number): string =>
  sent.length === 24 && sent.charCodeAt(23) === 90 /* Z */ && sent.charCodeAt(10) === 84 /* T */ && sent.charCodeAt(19) === 46
    ? sent
    : toIso(ms)

/**
 * Segment's timestamp rules: the client's time is `originalTimestamp`; when `sentAt` is known, the event time is
 * `receivedAt - (sentAt - originalTimestamp)`, which removes the client's clock skew.
 */
const eventTimes = (m: SegmentMessage, ctx: ReceiveContext) => {
  const clientTime = m.timestamp ?? m.originalTimestamp
  const sentAt = m.sentAt ?? ctx.batchSentAt
  const originalMs = clientTime === undefined ? Number.NaN : parseIsoDateTime(clientTime, ctx.timeZone)
  const sentMs = sentAt === undefined ? Number.NaN : parseIsoDateTime(sentAt, ctx.timeZone)
  let timestampMs = Number.isNaN(originalMs) ? ctx.receivedAtMs : originalMs
  if (ctx.correctClockSkew && !Number.isNaN(originalMs) && !Number.isNaN(sentMs)) {
    const corrected = ctx.receivedAtMs - (sentMs - originalMs)
    // An absurd skew (a sentAt centuries off) would put the event outside what the warehouse can store.
    if (inWarehouseRange(corrected)) timestampMs = corrected
  }
  return {
    // The time the event is dated by as written, for ZONELESS_TIME: the client's, else sentAt when only it has none.
    written: clientTime !== undefined && !Number.isNaN(originalMs) && isoDateTimeWithoutZone(clientTime) ? clientTime
      : sentAt !== undefined && !Number.isNaN(sentMs) ? sentAt : undefined,
    timestamp: timestampMs === originalMs ? canonicalIso(clientTime!, originalMs) : toIso(timestampMs),
    originalTimestamp: Number.isNaN(originalMs) ? null : canonicalIso(clientTime!, originalMs),
    sentAt: Number.isNaN(sentMs) ? null : canonicalIso(sentAt!, sentMs),
  }
}

const isBlank = (v: unknown) => v === undefined || v === null

/**
 * A batch's context (with the request's Sec-GPC) under a message's own. The message's fields win, except where that
 * would lose a consent statement made for the whole batch: `consent` and its `categoryPreferences` are merged one
 * level deeper (the message's choice wins per category; its null says nothing), and the header's `gpc: true` stays.
 */
const withBatchContext = (batch: JsonObject, own: JsonObject | undefined): JsonObject => {
  if (own === undefined) return batch
  const merged: Record<string, unknown> = { ...batch, ...own }
  const batchConsent = batch["consent"]
  const ownConsent = own["consent"]
  if (isJsonObject(batchConsent)) {
    if (isBlank(ownConsent)) merged["consent"] = batchConsent
    else if (isJsonObject(ownConsent)) {
      const batchPrefs = batchConsent["categoryPreferences"]
      const ownPrefs = ownConsent["categoryPreferences"]
      merged["consent"] = {
        ...batchConsent, ...ownConsent,
        ...(isJsonObject(batchPrefs) && isJsonObject(ownPrefs) ? { categoryPreferences: { ...batchPrefs, ...ownPrefs } }
          : isJsonObject(batchPrefs) && isBlank(ownPrefs) ? { categoryPreferences: batchPrefs } : {}),
      }
    }
  }
  if (batch["gpc"] === true) merged["gpc"] = true
  return merged
}

/**
 * Turns a message that passed `validateSegmentMessage` into a canonical event. `raw` is the message as received
 * (its JSON, and the ReceiveContext facts it was read with, see `segmentRawMeta`), for the archive.
 */
export const normaliseSegmentMessage = (m: SegmentMessage, ctx: ReceiveContext, raw?: RawItem): CanonicalEvent => {
  let extra: Record<string, unknown> | undefined
  for (const key in m) {
    if (!MAPPED_FIELDS.has(key)) putField(extra ??= {}, key, m[key])
  }
  if (ctx.batchIntegrations !== undefined && m.integrations === undefined) (extra ??= {})["integrations"] = ctx.batchIntegrations
  const context = ctx.batchContext === undefined ? m.context ?? EMPTY : withBatchContext(ctx.batchContext, m.context)
  const userId = idString(m.userId)
  const anonymousId = idString(m.anonymousId)
  // One of spaces says no more than an empty one: kept, every such message of the tenant was one id, all but the first
  // dropped as its duplicates.
  const messageId = typeof m.messageId === "string" && m.messageId.trim() !== "" ? m.messageId : contentMessageId(ctx.tenant, m)
  const { written, ...times } = eventTimes(m, ctx)
  // A file's raw item has no meta of its own: the zone its times were read in is kept there (segmentRawMeta has it).
  const marked = zonelessMarks(written, ctx.timeZone, extra, raw)
  return {
    tenant: ctx.tenant,
    messageId,
    type: m.type,
    event: m.type === "track" ? m.event ?? "" : m.type === "page" || m.type === "screen" ? m.name ?? "" : "",
    anonymousId,
    userId,
    groupId: idString(m.groupId),
    previousId: idString(m.previousId),
    channel: "web",
    source: "segment",
    ...times,
    receivedAt: toIso(ctx.receivedAtMs),
    identifiers: NO_IDENTIFIERS,
    ...storedFields({ text: "", properties: m.properties ?? EMPTY, traits: m.traits ?? EMPTY, context, extra: marked.extra ?? EMPTY }),
    profileId: "",
    // A message read from a file or an old archive may still carry the key the live path strips (withoutCredentials).
    raw: marked.raw !== undefined && m["writeKey"] !== undefined ? { ...marked.raw, body: redactWriteKeys(marked.raw.body) } : marked.raw,
  }
}

/**
 * What a raw Segment message needs besides its JSON to be normalised again the same way: the ReceiveContext's
 * clock-skew flag and batch-level fields. Undefined for the default (a historical message, no batch fields).
 */
export const segmentRawMeta = (ctx: ReceiveContext): JsonObject | undefined => {
  if (!ctx.correctClockSkew && ctx.batchSentAt === undefined && ctx.batchContext === undefined && ctx.batchIntegrations === undefined &&
    ctx.timeZone === undefined) {
    return undefined
  }
  const meta: Record<string, unknown> = { correctClockSkew: ctx.correctClockSkew }
  if (ctx.timeZone !== undefined) meta["timeZone"] = ctx.timeZone
  if (ctx.batchSentAt !== undefined) meta["batchSentAt"] = ctx.batchSentAt
  if (ctx.batchContext !== undefined) meta["batchContext"] = ctx.batchContext
  if (ctx.batchIntegrations !== undefined) meta["batchIntegrations"] = ctx.batchIntegrations
  return meta
}


/** The ReceiveContext a raw message's meta (from `segmentRawMeta`) stands for. */
export const segmentReceiveContext = (tenant: string, receivedAtMs: number, meta: JsonObject | undefined): ReceiveContext => ({
  tenant,
  receivedAtMs,
  correctClockSkew: meta?.["correctClockSkew"] === true,
  batchSentAt: typeof meta?.["batchSentAt"] === "string" ? meta["batchSentAt"] : undefined,
  batchContext: isJsonObject(meta?.["batchContext"]) ? meta["batchContext"] : undefined,
  batchIntegrations: isJsonObject(meta?.["batchIntegrations"]) ? meta["batchIntegrations"] : undefined,
  timeZone: sourceTimeZone(meta),
})
