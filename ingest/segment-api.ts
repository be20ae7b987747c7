// The Segment HTTP Tracking API's request semantics, independent of the HTTP server: which routes exist, how a
// request body becomes canonical events and dead letters, and what the sender is told.
import { consentBudget } from "../consent/index.ts"
import { type JsonPartsReading, type JsonProblem, type JsonReading, problemRejection, readJson, readJsonParts } from "./json.ts"
import type { CanonicalEvent, DeadLetter, EventType, JsonObject, Rejection } from "./message.ts"
import { describeType, isJsonObject, isoDateTimeOutOfRange, outOfRangeWords, parseIsoDateTime, shownRejection, shownText } from "./schemas.ts"
import {
  normaliseSegmentMessage,
  redactWriteKeys,
  SEGMENT_LIMITS,
  type SegmentMessage,
  segmentRawMeta,
  unreadableConsent,
  validateSegmentMessage,
  withoutCredentials,
} from "./sources/segment.ts"

export type SegmentRoute = EventType | "batch" | "import"

/** Each path name under /v1/ and its route; analytics.js posts to Segment's one-letter aliases (/v1/t, /v1/b, ...). */
export const SEGMENT_ROUTES: ReadonlyMap<string, SegmentRoute> = new Map<string, SegmentRoute>([
  ["track", "track"], ["identify", "identify"], ["page", "page"], ["screen", "screen"], ["group", "group"],
  ["alias", "alias"], ["batch", "batch"], ["import", "import"],
  ["t", "track"], ["i", "identify"], ["p", "page"], ["s", "screen"], ["g", "group"], ["a", "alias"], ["b", "batch"],
])

export const isBatchRoute = (route: SegmentRoute) => route === "batch" || route === "import"

/** The largest body a route accepts (after decompression). */
export const bodyLimit = (route: SegmentRoute) =>
  isBatchRoute(route) ? SEGMENT_LIMITS.maxBatchBytes : SEGMENT_LIMITS.maxMessageBytes

/** A refusal as the answer shows it: its field, messageId and words bounded (shownRejection); the dead letter's are whole. */
export interface RejectedItem extends Rejection {
  /** Position in the batch (0 for a single-message route). */
  readonly index: number
  readonly messageId?: string
}

/** A message of a batch that repeats an earlier one of it exactly (the same messageId and content): it lands once. */
export interface DuplicateItem {
  readonly index: number
  /** The messageId as sent (absent when derived from the content). */
  readonly messageId?: string
  /** The index of the message it repeats. */
  readonly of: number
}

export interface SegmentRequestResult {
  readonly events: ReadonlyArray<CanonicalEvent>
  /** Each event's index in the request (as `rejected` and `duplicates` name theirs); absent when there are no events. */
  readonly eventIndexes?: ReadonlyArray<number>
  /** Messages repeating an earlier one of the batch exactly: not in `events`, as they would land once anyway. */
  readonly duplicates?: ReadonlyArray<DuplicateItem>
  readonly deadLetters: ReadonlyArray<DeadLetter>
  readonly rejected: ReadonlyArray<RejectedItem>
  /**
   * Set when the request as a whole was refused (not JSON, too large, nested past JSON_LIMITS.maxDocumentDepth, not a
   * batch, too many messages, a bad value outside the batch's messages). A bad message of a batch is refused alone.
   */
  readonly requestError?: RejectedItem
}

export interface SegmentRequest {
  readonly route: SegmentRoute
  readonly body: string
  readonly tenant: string
  readonly receivedAtMs: number
  /** The request carried `Sec-GPC: 1` (Global Privacy Control): every message's context gets `gpc: true`. */
  readonly gpc?: boolean | undefined
  /** The tenant of a write key; a message carrying its own `writeKey` lands only if that key is `tenant`'s. */
  readonly tenantOfKey?: ((writeKey: string) => string | undefined) | undefined
  /** The body as readSegmentBody read it, when the caller already did (to find a write key in it): never read twice. */
  readonly read?: SegmentBodyReading | undefined
  /** The segment source's `timeZone` (CDP_SOURCE_OPTIONS): times written without a zone are read in it; unset: UTC. */
  readonly timeZone?: string | undefined
}

export type SegmentBodyReading = JsonReading | JsonPartsReading

// The messages of {"batch":[...]} are the values inside the containers two levels down.
const BATCH_PARTS = 2

/** A request body read as JSON, with the limits of every JSON read and, on batch routes, each message's problems apart. */
export const readSegmentBody = (route: SegmentRoute, body: string): SegmentBodyReading =>
  isBatchRoute(route) ? readJsonParts(body, BATCH_PARTS) : readJson(body)

/**
 * A request carrying a message whose own writeKey is not the request's tenant's (another tenant's, unknown, not a
 * string) is refused whole, and kept nowhere: a dead letter is filed under the request's tenant with the key stripped,
 * so `cdp dlq retry` would land that message in the very tenant it was kept out of. The sender is told which message.
 * Unknown and foreign keys get the same words, so an answer never tells whether a guessed key exists.
 */
const foreignKey = (req: SegmentRequest, messages: ReadonlyArray<unknown>, batch: JsonObject | undefined): SegmentRequestResult | undefined => {
  if (req.tenantOfKey === undefined) return undefined
  const tenantOfKey = req.tenantOfKey
  const foreign = (o: JsonObject) => Object.hasOwn(o, "writeKey") && !(typeof o["writeKey"] === "string" && tenantOfKey(o["writeKey"]) === req.tenant)
  const refusal = (field: string, index: number): SegmentRequestResult => {
    const item: RejectedItem = {
      rule: "foreign_write_key", field, index,
      message: `${field} is not a write key of the tenant this request sends for; send each tenant's messages with its own key`,
    }
    return { events: [], deadLetters: [], rejected: [item], requestError: item }
  }
  // The batch's own key (where the Node SDK puts it) names the tenant of every message in it.
  if (batch !== undefined && foreign(batch)) return refusal("/writeKey", 0)
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]
    if (isJsonObject(message) && foreign(message)) return refusal(isBatchRoute(req.route) ? `/batch/${index}/writeKey` : "/writeKey", index)
  }
  return undefined
}


const wholeRequestRefused = (req: SegmentRequest, rejection: Rejection): SegmentRequestResult => {
  const item: RejectedItem = shownRejection({ ...rejection, index: 0 })
  return {
    events: [],
    rejected: [item],
    requestError: item,
    deadLetters: [{
      tenant: req.tenant, source: "segment", receivedAt: new Date(req.receivedAtMs).toISOString(), messageId: "",
      rejection, payload: redactWriteKeys(req.body),
    }],
  }
}

const BATCH_MESSAGE = /^\/batch\/(\d+)(?=\/|$)/

interface RefusedMessage {
  readonly rejection: Rejection
  /** The message's text as received: its parsed value may already have lost what made it refused (1e400 is null). */
  readonly text: string
}

/**
 * The messages of a batch that the JSON reader refused, by index, each with the pointer re-rooted at the message (as
 * the other rejections of a message are); or the first problem outside the messages (the request's own).
 */
const refusedMessages = (problems: ReadonlyArray<JsonProblem>): Map<number, RefusedMessage> | JsonProblem => {
  const refused = new Map<number, RefusedMessage>()
  for (const problem of problems) {
    const at = BATCH_MESSAGE.exec(problem.field)
    if (at === null || problem.partText === undefined) return problem
    refused.set(Number(at[1]), {
      rejection: problemRejection(problem, problem.field.slice(at[0].length), "the message"),
      text: redactWriteKeys(problem.partText),
    })
  }
  return refused
}

/**
 * A batch's own context, integrations or sentAt (each message of it takes them) of the wrong type: ignored, its
 * messages would land without what the sender said about all of them (a context's consent, a sentAt's clock skew).
 * null says nothing and is taken.
 */
const batchFieldProblem = (batch: JsonObject): Rejection | null => {
  for (const name of ["context", "integrations"] as const) {
    const value = batch[name]
    if (value !== undefined && value !== null && !isJsonObject(value)) {
      return {
        rule: `batch_${name}_not_object`, field: `/${name}`,
        message: `the batch's ${name} must be an object (got ${describeType(value)}); it applies to every message of the batch`,
      }
    }
  }
  const sentAt = batch["sentAt"]
  if (sentAt === undefined || sentAt === null) return null
  if (typeof sentAt === "string" && isoDateTimeOutOfRange(sentAt)) {
    return { rule: "bad_timestamp", field: "/sentAt", message: `the batch's ${outOfRangeWords("sentAt", sentAt)}` }
  }
  if (typeof sentAt !== "string" || Number.isNaN(parseIsoDateTime(sentAt))) {
    const got = typeof sentAt === "string" ? JSON.stringify(sentAt.length > 60 ? `${sentAt.slice(0, 60)}…` : sentAt) : describeType(sentAt)
    return { rule: "bad_timestamp", field: "/sentAt", message: `the batch's sentAt must be an ISO-8601 date-time string (got ${got})` }
  }
  return null
}

/** Parses, validates and normalises one request of the Segment HTTP API. */
export const processSegmentRequest = (req: SegmentRequest): SegmentRequestResult => {
  const receivedAt = new Date(req.receivedAtMs).toISOString()
  let messages: ReadonlyArray<unknown>
  let batch: JsonObject | undefined
  let edgeRefused = new Map<number, RefusedMessage>()
  const read = req.read ?? readSegmentBody(req.route, req.body)
  if (read._tag === "refused") return wholeRequestRefused(req, read.rejection)
  if (isBatchRoute(req.route)) {
    const parsed = read.value
    if (!isJsonObject(parsed) || !Array.isArray(parsed["batch"])) {
      return wholeRequestRefused(req, {
        rule: "batch_not_array", field: "/batch",
        message: `a batch request must be an object with a "batch" array (got ${isJsonObject(parsed) ? `batch as ${describeType(parsed["batch"])}` : describeType(parsed)})`,
      })
    }
    messages = parsed["batch"]
    if (messages.length > SEGMENT_LIMITS.maxBatchMessages) {
      return wholeRequestRefused(req, {
        rule: "too_many_messages", field: "/batch",
        message: `a batch holds at most ${SEGMENT_LIMITS.maxBatchMessages} messages (got ${messages.length})`,
      })
    }
    const refused = refusedMessages("problems" in read ? read.problems : [])
    if (!(refused instanceof Map)) return wholeRequestRefused(req, problemRejection(refused))
    const badField = batchFieldProblem(parsed)
    if (badField !== null) return wholeRequestRefused(req, badField)
    edgeRefused = refused
    batch = parsed
  } else {
    const parsed = read.value
    // On a single-message route the route names the type, as Segment does.
    messages = [isJsonObject(parsed) ? { ...parsed, type: req.route } : parsed]
  }
  const mixed = foreignKey(req, messages, batch)
  if (mixed !== undefined) return mixed
  // A batch's context goes under each of its messages' own (normaliseSegmentMessage): its consent is checked as theirs.
  // The consent strings of one request may cause at most CONSENT_BUDGET_WORK of decoding: past it, the messages bringing new ones are refused.
  const budget = consentBudget()
  const batchConsent = isJsonObject(batch?.["context"]) ? unreadableConsent(batch["context"], budget) : null
  if (batchConsent !== null) return wholeRequestRefused(req, batchConsent)
  const batchSentAt = typeof batch?.["sentAt"] === "string" ? batch["sentAt"] : undefined
  const ctx = {
    tenant: req.tenant,
    receivedAtMs: req.receivedAtMs,
    // /v1/import carries history: the client's timestamps are kept as sent.
    correctClockSkew: req.route !== "import",
    batchSentAt,
    // Sec-GPC rides as batch-level context: under each message's own context, and kept in the archive's meta for replay.
    batchContext: req.gpc === true
      ? { ...(isJsonObject(batch?.["context"]) ? batch["context"] : {}), gpc: true }
      : isJsonObject(batch?.["context"]) ? batch["context"] : undefined,
    batchIntegrations: isJsonObject(batch?.["integrations"]) ? batch["integrations"] : undefined,
    // As `cdp ingest --source segment` reads a file: the archive's meta keeps it, so replay reads the times the same.
    timeZone: req.timeZone,
  }
  // One meta object for the whole request: the archive keeps it beside each message's JSON (see segmentRawMeta).
  const meta = segmentRawMeta(ctx)
  // Every message of a body within the per-message limit is within it too: only measure when the body is bigger.
  const knownSmall = Buffer.byteLength(req.body) <= SEGMENT_LIMITS.maxMessageBytes ? 0 : undefined
  const events: Array<CanonicalEvent> = []
  const eventIndexes: Array<number> = []
  const rejected: Array<RejectedItem> = []
  const deadLetters: Array<DeadLetter> = []
  const duplicates: Array<DuplicateItem> = []
  // Only one message per messageId lands (exactly once): the first of the batch to carry it, with its text.
  const firstWithId = new Map<string, { readonly index: number; readonly body: string }>()
  for (let index = 0; index < messages.length; index++) {
    const message = withoutCredentials(messages[index])
    // The message's JSON is its raw text (archive, dead letter); serialised once, and reused to measure it.
    let text: string | undefined
    let size = knownSmall
    const refusedAtEdge = edgeRefused.get(index)
    if (refusedAtEdge !== undefined) text = refusedAtEdge.text
    else if (size === undefined && isJsonObject(message)) {
      text = JSON.stringify(message)
      size = Buffer.byteLength(text)
    }
    let rejection = refusedAtEdge?.rejection ?? validateSegmentMessage(message, size, budget)
    const rawId = isJsonObject(message) ? message["messageId"] : undefined
    const messageId = typeof rawId === "string" ? rawId : ""
    if (rejection === null) {
      const body = text ?? JSON.stringify(message)
      const event = normaliseSegmentMessage(message as SegmentMessage, ctx, { body, meta, json: true })
      const first = firstWithId.get(event.messageId)
      if (first === undefined) {
        firstWithId.set(event.messageId, { index, body })
        events.push(event)
        eventIndexes.push(index)
        continue
      }
      if (first.body === body) {
        duplicates.push({ index, ...(messageId === "" ? {} : { messageId }), of: first.index })
        continue
      }
      text = body
      rejection = {
        rule: "duplicate_message_id", field: "/messageId",
        message: `message ${first.index} of this batch already has messageId ${JSON.stringify(shownText(event.messageId))} and is not the same ` +
          "message; only one message per messageId lands, so this one was not: give each message its own messageId",
      }
    }
    rejected.push(shownRejection({ ...rejection, index, ...(messageId === "" ? {} : { messageId }) }))
    deadLetters.push({ tenant: req.tenant, source: "segment", receivedAt, messageId, rejection, payload: text ?? JSON.stringify(message) ?? "undefined" })
  }
  return { events, eventIndexes, deadLetters, rejected, ...(duplicates.length === 0 ? {} : { duplicates }) }
}
