// Lands canonical events and dead letters in the warehouse, each (tenant, message_id) once.
// The warehouse is the truth about what landed. The sink remembers a bounded window of recently landed ids (so
// start-up reads nothing and memory stays flat however large the table grows) and asks the warehouse about every
// other id of a batch before inserting it: an old id, one landed before a restart, or one of a batch whose insert
// failed part-way (inserts are not atomic) is found there, so a retry never lands a second copy.
import { createHash, randomBytes } from "node:crypto"
import { Effect } from "effect"
import type { CanonicalEvent, DeadLetter, SentimentRecord } from "../ingest/message.ts"
import { runMutation } from "./erasure.ts"
import {
  type Row, Warehouse, type WarehouseQueryError, type WarehouseRejectedRows, type WarehouseUnavailable,
} from "./warehouse.ts"

export interface LandResult {
  readonly landed: number
  readonly duplicates: number
}

export interface EventSink {
  readonly landEvents: (batch: ReadonlyArray<CanonicalEvent>) =>
    Effect.Effect<LandResult, WarehouseUnavailable | WarehouseQueryError | WarehouseRejectedRows>
  readonly landDeadLetters: (batch: ReadonlyArray<DeadLetter>) => Effect.Effect<void, WarehouseUnavailable | WarehouseRejectedRows>
}

/** ISO-8601 UTC ("2024-10-01T12:00:00.000Z") as ClickHouse's basic DateTime64 text, which it parses fastest. */
export const chDateTime = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 23)}`
const chDateTimeOrNull = (iso: string | null) => (iso === null ? null : chDateTime(iso))

export const eventRow = (e: CanonicalEvent): Row => ({
  tenant: e.tenant,
  message_id: e.messageId,
  type: e.type,
  event: e.event,
  anonymous_id: e.anonymousId,
  user_id: e.userId,
  group_id: e.groupId,
  previous_id: e.previousId,
  profile_id: e.profileId,
  channel: e.channel,
  source: e.source,
  timestamp: chDateTime(e.timestamp),
  original_timestamp: chDateTimeOrNull(e.originalTimestamp),
  sent_at: chDateTimeOrNull(e.sentAt),
  received_at: chDateTime(e.receivedAt),
  // Objects are read into the String columns as their JSON text (input_format_json_read_objects_as_strings).
  properties: e.properties,
  traits: e.traits,
  context: e.context,
  extra: e.extra,
  identifiers: e.identifiers,
})

export const textRow = (e: CanonicalEvent): Row => ({
  tenant: e.tenant,
  message_id: e.messageId,
  profile_id: e.profileId,
  channel: e.channel,
  timestamp: chDateTime(e.timestamp),
  text: e.text,
})

export type ScoredMessage = Pick<CanonicalEvent, "tenant" | "messageId" | "profileId" | "channel" | "source" | "timestamp"> & {
  readonly sentiment: SentimentRecord
}

export const sentimentRow = (e: ScoredMessage, scoredAt: string): Row => ({
  tenant: e.tenant,
  message_id: e.messageId,
  profile_id: e.profileId,
  channel: e.channel,
  source: e.source,
  timestamp: chDateTime(e.timestamp),
  scored_at: chDateTime(scoredAt),
  status: e.sentiment.status,
  reason: e.sentiment.reason,
  language: e.sentiment.language,
  score: e.sentiment.score,
  label: e.sentiment.label,
  model_version: e.sentiment.model,
  evidence: e.sentiment.evidence,
  aspects: e.sentiment.aspects,
})

/**
 * A dead letter's id. The table keeps one row per id (the latest), so the id says which letters are one: the same
 * refusal of the same payload (a sender's retry, a redelivery) is one dead letter. A letter without its payload (an
 * empty body, or a payload the warehouse would not store) has nothing of the message left to tell it from others of
 * the same rule, so its id is made of all it does hold (message id, field, reason, time received): two such letters
 * stay two, and only the same letter delivered again is one. The two kinds of text hashed never meet: rules are our
 * own names, and after the rule comes \0 when there is a payload of text, \u0002 when it is base64 of bytes that are not
 * UTF-8 (so a text that happens to read as base64 is another letter), \u0001 when there is none.
 */
export const deadLetterId = (d: Pick<DeadLetter, "source" | "rejection" | "payload" | "payloadEncoding" | "messageId" | "receivedAt">): string =>
  createHash("sha256").update(d.payload !== ""
    ? `${d.source}\0${d.rejection.rule}${d.payloadEncoding === "base64" ? "\u0002" : "\0"}${d.payload}`
    : `${d.source}\0${d.rejection.rule}\u0001${JSON.stringify([d.messageId, d.rejection.field, d.rejection.message, d.receivedAt])}`,
  ).digest("hex").slice(0, 32)

export const deadLetterRow = (d: DeadLetter): Row => ({
  tenant: d.tenant,
  source: d.source,
  dead_letter_id: deadLetterId(d),
  received_at: chDateTime(d.receivedAt),
  message_id: d.messageId,
  rule: d.rejection.rule,
  field: d.rejection.field,
  reason: d.rejection.message,
  payload: d.payload,
  payload_encoding: d.payload === "" ? "utf8" : d.payloadEncoding ?? "utf8",
})

const key = (tenant: string, messageId: string) => `${tenant}\u0000${messageId}`

/** Landed ids the sink remembers: enough for a sender's retries and duplicate storms; older ids are asked of the warehouse. */
export const RECENT_IDS = 200_000

/** ClickHouse refuses an insert block that touches more partitions than this (max_partitions_per_insert_block). */
const MAX_PARTITIONS_PER_INSERT = 100

/** Ids per lookup query: larger array parameters get slow on the embedded engine. */
const LOOKUP_CHUNK = 10_000

/** Month of an event's time, the partition of events, texts and sentiment (toYYYYMM(timestamp), UTC). */
const monthOf = (e: CanonicalEvent) => e.timestamp.slice(0, 7)

/** The batch in parts that each touch at most MAX_PARTITIONS_PER_INSERT months (one part unless it spans years). */
const byPartitions = (events: ReadonlyArray<CanonicalEvent>): ReadonlyArray<ReadonlyArray<CanonicalEvent>> => {
  const months = new Map<string, Array<CanonicalEvent>>()
  for (const e of events) {
    const m = monthOf(e)
    const group = months.get(m)
    if (group === undefined) months.set(m, [e])
    else group.push(e)
  }
  if (months.size <= MAX_PARTITIONS_PER_INSERT) return [events]
  const sorted = [...months.keys()].sort()
  const parts: Array<Array<CanonicalEvent>> = []
  for (let i = 0; i < sorted.length; i += MAX_PARTITIONS_PER_INSERT) {
    parts.push(sorted.slice(i, i + MAX_PARTITIONS_PER_INSERT).flatMap((m) => months.get(m)!))
  }
  return parts
}

/** Every live sink's window of remembered ids, so an erasure can make each forget a person's messages. */
const windows = new Set<WeakRef<Set<string>>>()

/** Forgets these messages in every sink of this process (an erasure); returns how many were remembered. */
export const forgetMessages = (tenant: string, messageIds: ReadonlyArray<string>): number => {
  let forgotten = 0
  for (const ref of windows) {
    const recent = ref.deref()
    if (recent === undefined) {
      windows.delete(ref)
      continue
    }
    for (const id of messageIds) if (recent.delete(key(tenant, id))) forgotten++
  }
  return forgotten
}

/** The sink; `recentIds` bounds the window of remembered ids (tests make it small to reach the warehouse lookup). */
export const makeEventSinkWith = (recentIds: number = RECENT_IDS) => Effect.gen(function* () {
  const warehouse = yield* Warehouse
  // Insertion-ordered, so the oldest id is the first one dropped when the window is full.
  const recent = new Set<string>()
  windows.add(new WeakRef(recent))
  const remember = (k: string) => {
    recent.delete(k)
    recent.add(k)
    if (recent.size > recentIds) recent.delete(recent.values().next().value!)
  }

  /** Which of these ids the warehouse already holds (the message_id skip index makes this read little). */
  const storedAmong = (events: ReadonlyArray<CanonicalEvent>) =>
    Effect.gen(function* () {
      const stored = new Set<string>()
      if (events.length === 0) return stored
      const tenants = [...new Set(events.map((e) => e.tenant))]
      const ids = [...new Set(events.map((e) => e.messageId))]
      for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
        const rows = yield* warehouse.query<{ tenant: string; message_id: string }>(
          "SELECT DISTINCT tenant, message_id FROM event_rows WHERE tenant IN {tenants:Array(String)} AND message_id IN {ids:Array(String)}",
          { params: { tenants, ids: ids.slice(i, i + LOOKUP_CHUNK) } },
        )
        for (const row of rows) stored.add(key(row.tenant, row.message_id))
      }
      return stored
    })

  const insertPart = (part: ReadonlyArray<CanonicalEvent>, scoredAt: string) => {
    const texts = part.filter((e) => e.text !== "")
    const scored = part.filter((e): e is CanonicalEvent & ScoredMessage => e.sentiment !== undefined)
    // Texts and scores first, events last: a retry after a failure lands the event and replaces (same key) any
    // text or score already written, while an event never exists without its text.
    return warehouse.insert("texts", texts.map(textRow)).pipe(
      Effect.andThen(warehouse.insert("sentiment", scored.map((e) => sentimentRow(e, scoredAt)))),
      Effect.andThen(warehouse.insert("event_rows", part.map(eventRow))),
    )
  }

  const landEvents = Effect.fn("landEvents")(function* (batch: ReadonlyArray<CanonicalEvent>) {
    // Ids not remembered are asked of the warehouse: an old id, an id landed before a restart, or one whose insert
    // failed part-way (inserts are not atomic; only a successful insert is remembered).
    const unknown = batch.filter((e) => !recent.has(key(e.tenant, e.messageId)))
    const alreadyStored = yield* storedAmong(unknown)
    const fresh: Array<CanonicalEvent> = []
    const freshKeys: Array<string> = []
    const inBatch = new Set<string>()
    for (const e of batch) {
      const k = key(e.tenant, e.messageId)
      if (recent.has(k) || inBatch.has(k) || alreadyStored.has(k)) continue
      inBatch.add(k)
      fresh.push(e)
      freshKeys.push(k)
    }
    for (const k of alreadyStored) remember(k)
    const scoredAt = new Date().toISOString()
    for (const part of byPartitions(fresh)) yield* insertPart(part, scoredAt)
    for (const k of freshKeys) remember(k)
    return { landed: fresh.length, duplicates: batch.length - fresh.length }
  })

  const landDeadLetters = (batch: ReadonlyArray<DeadLetter>) => warehouse.insert("dead_letters", batch.map(deadLetterRow))

  return { landEvents, landDeadLetters } satisfies EventSink
})

export const makeEventSink = makeEventSinkWith()

// ── Consent applied to messages already stored (consent/stage.ts: a refusal learnt after later messages landed) ──

/** `"key":raw` pairs of a JSON object column whose key passes `test` (raw values as stored). */
const pairs = (column: string, test: string) =>
  `arrayMap(kv -> concat(toJSONString(kv.1), ':', kv.2), arrayFilter(kv -> ${test}, JSONExtractKeysAndValuesRaw(${column})))`

/** `"key":raw` of one member when the object has it (an empty array otherwise). */
const member = (column: string, key: string) =>
  `if(JSONHas(${column}, '${key}'), [concat('"${key}":', JSONExtractRaw(${column}, '${key}'))], [])`

const PAGE = "JSONExtractRaw(context, 'page')"

/** Of the stored messages `ids` of `tenant`; and {marker:String} != '': always true, it is how runMutation finds the mutation. */
const STORED_IDS = "tenant = {tenant:String} AND message_id IN {ids:Array(String)} AND {marker:String} != ''"

/**
 * Runs a mutation of stored messages (STORED_IDS) with runMutation: on the embedded engine it does not hold the engine
 * while it rewrites parts (a synchronous one did: stripping 6 messages among 300,000 took 1.8 s, and a SELECT 1 meanwhile
 * waited 1.7 s), and one that fails or is interrupted is killed rather than left failing in the table, where every later
 * mutation of it waits behind it. A failure is runMutation's, as an erasure's: ErasureMutationFailed naming the table
 * and the engine's reason in one line ("the consent strip's mutation of table event_rows cannot run while
 * mutation_3.txt of the table fails: ..."). It is not WarehouseUnavailable: the warehouse answered.
 */
const mutateStored = (table: string, statement: string, what: string, params: Record<string, unknown>) => {
  const marker = `cdp_${what.replace(/\W+/g, "_")}_${randomBytes(6).toString("hex")}`
  return runMutation(table, statement, marker, { params: { ...params, marker }, mutation: `the ${what}'s mutation` })
}

/**
 * Strips stored messages exactly as consent/strip.ts strips arriving ones, so a message stripped late reads the same
 * as one stripped on arrival: no ids, identifiers or traits; context keeps `safeContext` keys, then the page's path and
 * title; properties lose names matching `personalProperty`; extra keeps integrations and names the purpose; the text
 * and what sentiment copied from it go. Waits for the mutations (mutateStored).
 */
export const stripStoredEvents = Effect.fn("stripStoredEvents")(function* (
  tenant: string, ids: ReadonlyArray<string>, strip: { readonly safeContext: ReadonlyArray<string>; readonly personalProperty: string; readonly mark: string; readonly purpose: string },
) {
  const warehouse = yield* Warehouse
  const params = { tenant, ids, safe: strip.safeContext, personal: `(?i)${strip.personalProperty}`, mark: strip.mark, purpose: strip.purpose }
  const context = `concat('{', arrayStringConcat(arrayConcat(${pairs("context", "kv.1 IN {safe:Array(String)}")}, ` +
    `if(JSONType(context, 'page') = 'Object', [concat('"page":{', arrayStringConcat(arrayConcat(${member(PAGE, "path")}, ${member(PAGE, "title")}), ','), '}')], [])), ','), '}')`
  const properties = `concat('{', arrayStringConcat(${pairs("properties", "NOT match(kv.1, {personal:String})")}, ','), '}')`
  const extra = `concat('{', arrayStringConcat(arrayConcat(${member("extra", "integrations")}, [concat(toJSONString({mark:String}), ':', toJSONString({purpose:String}))]), ','), '}')`
  yield* mutateStored("event_rows",
    "ALTER TABLE event_rows UPDATE user_id = '', anonymous_id = '', previous_id = '', identifiers = [], traits = '{}', " +
      `context = ${context}, properties = ${properties}, extra = ${extra} WHERE ${STORED_IDS}`, "consent strip", params)
  for (const table of ["texts", "sentiment"]) {
    yield* mutateStored(table, `DELETE FROM ${table} WHERE ${STORED_IDS}`, "consent strip", { tenant, ids })
  }
})

/** Removes stored messages (with their text and score) that consent says should not have been stored. */
export const removeStoredEvents = Effect.fn("removeStoredEvents")(function* (tenant: string, ids: ReadonlyArray<string>) {
  for (const table of ["event_rows", "texts", "sentiment"]) {
    yield* mutateStored(table, `DELETE FROM ${table} WHERE ${STORED_IDS}`, "consent removal", { tenant, ids })
  }
})
