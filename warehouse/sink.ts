// Lands canonical events and dead letters in the warehouse, each (tenant, message_id) once.
// The warehouse is the truth about what landed: the set of landed ids is read from it at start-up, and after a
// failed insert (which may have left part of its rows, inserts are not atomic) the ids of that batch are
// checked against it again before the retry, so a retry never lands a second copy.
import { createHash } from "node:crypto"
import { Effect } from "effect"
import type { CanonicalEvent, DeadLetter, SentimentRecord } from "../ingest/message.ts"
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

/** A dead letter's id: the same refusal of the same payload is one dead letter (the table keeps the latest). */
export const deadLetterId = (d: Pick<DeadLetter, "source" | "rejection" | "payload">): string =>
  createHash("sha256").update(`${d.source}\0${d.rejection.rule}\0${d.payload}`).digest("hex").slice(0, 32)

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
})

const key = (tenant: string, messageId: string) => `${tenant}\u0000${messageId}`

export const makeEventSink = Effect.gen(function* () {
  const warehouse = yield* Warehouse
  const landed = new Set<string>()
  const seed = yield* warehouse.query<{ tenant: string; message_id: string }>("SELECT tenant, message_id FROM events")
  for (const row of seed) landed.add(key(row.tenant, row.message_id))
  /** Ids of a batch whose insert failed: part of it may be stored, so ask the warehouse before retrying. */
  const uncertain = new Set<string>()

  const storedAmong = (events: ReadonlyArray<CanonicalEvent>) =>
    Effect.gen(function* () {
      const byTenant = new Map<string, Array<string>>()
      for (const e of events) {
        const ids = byTenant.get(e.tenant) ?? []
        ids.push(e.messageId)
        byTenant.set(e.tenant, ids)
      }
      const stored = new Set<string>()
      for (const [tenant, ids] of byTenant) {
        const rows = yield* warehouse.query<{ message_id: string }>(
          "SELECT DISTINCT message_id FROM events WHERE tenant = {tenant:String} AND message_id IN {ids:Array(String)}",
          { params: { tenant, ids } },
        )
        for (const row of rows) stored.add(key(tenant, row.message_id))
      }
      return stored
    })

  const landEvents = Effect.fn("landEvents")(function* (batch: ReadonlyArray<CanonicalEvent>) {
    const checkAgain = uncertain.size === 0 ? [] : batch.filter((e) => uncertain.has(key(e.tenant, e.messageId)))
    const alreadyStored = checkAgain.length === 0 ? undefined : yield* storedAmong(checkAgain)
    const fresh: Array<CanonicalEvent> = []
    const freshKeys: Array<string> = []
    const inBatch = new Set<string>()
    for (const e of batch) {
      const k = key(e.tenant, e.messageId)
      if (landed.has(k) || inBatch.has(k) || alreadyStored?.has(k)) continue
      inBatch.add(k)
      fresh.push(e)
      freshKeys.push(k)
    }
    if (alreadyStored !== undefined) for (const k of alreadyStored) landed.add(k)
    const texts = fresh.filter((e) => e.text !== "")
    const scored = fresh.filter((e): e is CanonicalEvent & ScoredMessage => e.sentiment !== undefined)
    const scoredAt = new Date().toISOString()
    // Texts and scores first, events last: a retry after a failure lands the event and replaces (same key) any
    // text or score already written, while an event never exists without its text.
    yield* warehouse.insert("texts", texts.map(textRow)).pipe(
      Effect.andThen(warehouse.insert("sentiment", scored.map((e) => sentimentRow(e, scoredAt)))),
      Effect.andThen(warehouse.insert("events", fresh.map(eventRow))),
      Effect.tapError(() => Effect.sync(() => { for (const k of freshKeys) uncertain.add(k) })),
    )
    for (const k of freshKeys) {
      landed.add(k)
      uncertain.delete(k)
    }
    return { landed: fresh.length, duplicates: batch.length - fresh.length }
  })

  const landDeadLetters = (batch: ReadonlyArray<DeadLetter>) => warehouse.insert("dead_letters", batch.map(deadLetterRow))

  return { landEvents, landDeadLetters } satisfies EventSink
})
