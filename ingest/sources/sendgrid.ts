// SendGrid Event Webhook: a JSON array of delivery and engagement events about mail we sent, one canonical `track`
// event each. Unsubscribes and spam reports are marked as consent signals for the consent domain.
import { createPublicKey, type KeyObject, verify } from "node:crypto"
import { type JsonObject, putField, type RawItem, type Rejection } from "../message.ts"
import { readJsonItems } from "../json.ts"
import { decodeUtf8 } from "../utf8.ts"
import { compiledOnFirstUse } from "../schemas.ts"
import type { ImportContext, ImportedItem } from "./index.ts"
import {
  arrayItems, documentTooLarge, explainSchemaError, firstByte, type ItemMaker, itemMaker, locate, NOT_BLANK, parseNdjsonText, readNdjsonFile,
  readWholeFile,
} from "./items.ts"
import schema from "./sendgrid.schema.json" with { type: "json" }

const OPEN_BRACE = 0x7b

export type SendgridEventType =
  | "processed" | "deferred" | "delivered" | "open" | "click" | "bounce" | "dropped"
  | "unsubscribe" | "group_unsubscribe" | "group_resubscribe" | "spamreport"

/** The fields sendgrid.schema.json constrains; SendGrid's other fields are kept as they come. */
export interface SendgridEvent {
  readonly email: string
  /** Unix seconds. */
  readonly timestamp: number
  readonly event: SendgridEventType
  readonly sg_event_id: string
  readonly sg_message_id?: string
  readonly category?: string | ReadonlyArray<string>
  readonly url?: string
  readonly reason?: string
  readonly asm_group_id?: number
  readonly useragent?: string
  readonly ip?: string
  readonly [field: string]: unknown
}

const validateSchema = compiledOnFirstUse<SendgridEvent>(schema)

/** Canonical event names, in the words of Segment's e-mail spec. */
export const SENDGRID_EVENT_NAMES: Readonly<Record<SendgridEventType, string>> = {
  processed: "Email Processed",
  deferred: "Email Deferred",
  delivered: "Email Delivered",
  open: "Email Opened",
  click: "Email Link Clicked",
  bounce: "Email Bounced",
  dropped: "Email Dropped",
  unsubscribe: "Email Unsubscribed",
  group_unsubscribe: "Email Group Unsubscribed",
  group_resubscribe: "Email Group Resubscribed",
  spamreport: "Email Marked as Spam",
}

/** Events that state a communication preference; `properties.consent_signal` carries which one. */
const CONSENT_SIGNALS: Partial<Record<SendgridEventType, string>> = {
  unsubscribe: "unsubscribe",
  group_unsubscribe: "group_unsubscribe",
  group_resubscribe: "group_resubscribe",
  spamreport: "spamreport",
}

const RULES: Readonly<Record<string, string>> = {
  "/event": "unknown_event",
  "/timestamp": "bad_timestamp",
  "/email": "missing_email",
  "/sg_event_id": "missing_event_id",
}

const PATTERNS: Readonly<Record<string, string>> = { "/email": NOT_BLANK, "/sg_event_id": NOT_BLANK }

/** Null when the value is an acceptable SendGrid event. */
export const validateSendgridEvent = (value: unknown): Rejection | null =>
  validateSchema(value) ? null : explainSchemaError(validateSchema.errors![0]!, value, "a SendGrid event", RULES, PATTERNS)

/**
 * Turns a valid SendGrid event into a canonical event; every field but the address stays in `properties`. `raw` is
 * the event's JSON as received, for the archive.
 */
export const normaliseSendgridEvent = (e: SendgridEvent, maker: ItemMaker, raw?: RawItem): ImportedItem => {
  const properties: Record<string, unknown> = {}
  for (const key in e) {
    // SendGrid posts a message's custom args beside the event's fields: one named consent_signal is the sender's,
    // kept under another name, never a preference the recipient stated (consent/readers.ts reads consent_signal).
    if (key !== "email") putField(properties, key === "consent_signal" ? "custom_consent_signal" : key, e[key])
  }
  const consent = CONSENT_SIGNALS[e.event]
  if (consent !== undefined) properties["consent_signal"] = consent
  return maker.event({
    messageId: e.sg_event_id,
    event: SENDGRID_EVENT_NAMES[e.event],
    timestampMs: Math.round(e.timestamp * 1000),
    properties: properties as JsonObject,
    identifiers: [{ kind: "email", value: e.email }],
    raw,
  })
}

/** `payload` is the event's own text (its line, or its JSON when it came inside an array): the raw item or dead letter. */
const itemOf = (maker: ItemMaker, value: unknown, where: string, payload: string | (() => string)): ImportedItem => {
  const text = typeof payload === "string" ? payload : payload()
  const rejection = validateSendgridEvent(value)
  if (rejection === null) return normaliseSendgridEvent(value as SendgridEvent, maker, { body: text })
  return maker.deadLetter(text, locate(where, rejection), eventIdOf(value))
}

/** The id a refused event is answered with: its sg_event_id, when it is a string. */
const eventIdOf = (value: unknown): string => {
  const id = (value as { sg_event_id?: unknown } | null)?.sg_event_id
  return typeof id === "string" ? id : ""
}

/**
 * A whole document: a JSON array of events (what SendGrid posts), or a single event object. A text that does not
 * start with `[` and is not one JSON value is read as NDJSON, one event a line, so a bad line costs only itself; an
 * event of an array that the JSON reader refuses (a number beyond a double, say) costs only itself too.
 */
const documentItems = (text: string, maker: ItemMaker, ctx: ImportContext): ReadonlyArray<ImportedItem> => {
  const read = readJsonItems(text)
  if (read._tag === "refused") {
    const start = text.trimStart()
    if (read.rejection.rule !== "not_json") return [maker.deadLetter(text, read.rejection)]
    if (start.startsWith("{")) {
      return parseNdjsonText(text, maker, (value, line, n) => itemOf(maker, value, `line ${n}`, line), ctx.maxItems)
    }
    const reason = start === "" ? "the input is empty" : read.rejection.message
    return [maker.deadLetter(text, { rule: "not_json", field: "", message: `${reason}; expected a JSON array of SendGrid events` })]
  }
  const document = read.value
  if (Array.isArray(document)) {
    return arrayItems(document, read.problems, ctx, maker, "event", eventIdOf, (value, where, payload) => itemOf(maker, value, where, payload))
  }
  if (document !== null && typeof document === "object") return [itemOf(maker, document, "event 1", text)]
  return [maker.deadLetter(text, {
    rule: "not_array",
    field: "",
    message: `expected a JSON array of SendGrid events (got a ${document === null ? "null" : typeof document})`,
  })]
}

/** The body of a SendGrid Event Webhook POST (verify its signature first with `verifySendgridSignature`). */
export const parseSendgridWebhook = (body: string, ctx: ImportContext): ReadonlyArray<ImportedItem> =>
  documentItems(body, itemMaker(ctx, "sendgrid", "email"), ctx)

/**
 * A file holding what the webhook posted (one JSON array), or NDJSON of events. One larger than a JSON document may
 * be is read a line at a time when it is NDJSON (its first character a `{`), and refused unread when it is not.
 */
export async function* readSendgridFile(path: string, ctx: ImportContext): AsyncGenerator<ImportedItem> {
  const maker = itemMaker(ctx, "sendgrid", "email")
  const large = await documentTooLarge(path, "write it as NDJSON (one event a line), or split it")
  if (large !== undefined) {
    if (await firstByte(path) === OPEN_BRACE) yield* readNdjsonFile(path, ctx, maker, (value, line, n) => itemOf(maker, value, `line ${n}`, line))
    else yield maker.deadLetter("", large)
    return
  }
  const bytes = await readWholeFile(path, ctx)
  const text = decodeUtf8(bytes)
  if (typeof text !== "string") {
    yield maker.deadLetter(bytes, locate(path, text))
    return
  }
  yield* documentItems(text, maker, ctx)
}

const PEM_HEADER = "-----BEGIN"
const WHITESPACE = /\s+/g

/** One webhook has one key: the last parsed key is kept so each verification does not parse it again. */
let cachedKey: { readonly text: string; readonly key: KeyObject } | undefined

const publicKeyOf = (text: string): KeyObject => {
  if (cachedKey?.text === text) return cachedKey.key
  const key = text.includes(PEM_HEADER)
    ? createPublicKey(text)
    : createPublicKey({ key: Buffer.from(text.replace(WHITESPACE, ""), "base64"), format: "der", type: "spki" })
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error("not an ECDSA P-256 public key")
  }
  cachedKey = { text, key }
  return key
}

/**
 * Checks SendGrid's Signed Event Webhook: the ECDSA P-256 / SHA-256 signature (header
 * X-Twilio-Email-Event-Webhook-Signature, base64 DER) over the timestamp header
 * (X-Twilio-Email-Event-Webhook-Timestamp) followed by the raw request body, byte for byte as received.
 * `publicKey` is the verification key as SendGrid shows it (base64 DER), or PEM. Any malformed input gives false.
 */
export const verifySendgridSignature = (
  publicKey: string,
  rawBody: string | Buffer,
  signatureHeader: string,
  timestampHeader: string,
): boolean => {
  if (signatureHeader === "" || timestampHeader === "") return false
  try {
    const body = typeof rawBody === "string" ? Buffer.from(rawBody, "utf8") : rawBody
    const signed = Buffer.concat([Buffer.from(timestampHeader, "utf8"), body])
    const signature = Buffer.from(signatureHeader, "base64")
    return verify("sha256", signed, { key: publicKeyOf(publicKey), dsaEncoding: "der" }, signature)
  } catch {
    return false
  }
}
