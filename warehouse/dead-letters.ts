// The dead-letter tables' one owner for reading and re-drive records: dead_letters (written by the sink) and
// dead_letter_outcomes (migrations 003, 007; 088 payload_encoding). ingest/dlq.ts (`cdp dlq list|retry`) works through these.
import { Effect } from "effect"
import { chDateTime } from "./sink.ts"
import { Warehouse } from "./warehouse.ts"

export interface DeadLetterRow {
  readonly tenant: string
  readonly source: string
  readonly dead_letter_id: string
  readonly received_at: string
  readonly message_id: string
  readonly rule: string
  readonly field: string
  readonly reason: string
  readonly payload?: string
  /** "utf8" (the payload is text) or "base64" (of bytes that are not UTF-8); rows stored before 088 read "utf8". */
  readonly payload_encoding: string
  readonly landed: number
  readonly last_at: string
  readonly last_outcome: string
  readonly last_rule: string
  readonly last_reason: string
}

export interface DeadLetterQuery {
  readonly tenant?: string | undefined
  readonly source?: string | undefined
  readonly rule?: string | undefined
  readonly since?: Date | undefined
  /** Only those no retry has landed. */
  readonly open: boolean
  /** With the payload (re-drive), or without (listing). */
  readonly payload: boolean
  readonly limit: number
  /** Only those after this key in the list's order: [received at (ms), tenant, dead-letter id] (a page's last). */
  readonly after?: readonly [number, string, string] | undefined
}

/** Dead letters with the state of their re-drives, oldest first. */
export const selectDeadLetters = Effect.fn("selectDeadLetters")(function* (q: DeadLetterQuery) {
  const warehouse = yield* Warehouse
  const conditions: Array<string> = []
  const params: Record<string, unknown> = { limit: q.limit, all: q.open ? 0 : 1 }
  if (q.tenant !== undefined) {
    conditions.push("tenant = {tenant:String}")
    params["tenant"] = q.tenant
  }
  if (q.source !== undefined) {
    conditions.push("source = {source:String}")
    params["source"] = q.source
  }
  if (q.rule !== undefined) {
    conditions.push("rule = {rule:String}")
    params["rule"] = q.rule
  }
  if (q.since !== undefined) {
    conditions.push("received_at >= {since:DateTime64(3, 'UTC')}")
    params["since"] = chDateTime(q.since.toISOString())
  }
  if (q.after !== undefined) {
    conditions.push("(received_at, tenant, dead_letter_id) > (fromUnixTimestamp64Milli({afterMs:Int64}, 'UTC'), {afterTenant:String}, {afterId:String})")
    params["afterMs"] = q.after[0]
    params["afterTenant"] = q.after[1]
    params["afterId"] = q.after[2]
  }
  // A LEFT JOIN without a match gives the column defaults: landed 0, an empty outcome.
  return yield* warehouse.query<DeadLetterRow>(
    `SELECT d.tenant AS tenant, d.source AS source, d.dead_letter_id AS dead_letter_id, d.received_at AS received_at,
            d.message_id AS message_id, d.rule AS rule, d.field AS field, d.reason AS reason,
            ${q.payload ? "d.payload AS payload," : ""} d.payload_encoding AS payload_encoding,
            o.landed AS landed, o.last_at AS last_at, o.last_outcome AS last_outcome, o.last_rule AS last_rule,
            o.last_reason AS last_reason
     FROM (SELECT * FROM dead_letters FINAL${conditions.length === 0 ? "" : ` WHERE ${conditions.join(" AND ")}`}) AS d
     LEFT JOIN (
       SELECT tenant, dead_letter_id, max(outcome = 'landed') AS landed, max(retried_at) AS last_at,
              argMax(outcome, retried_at) AS last_outcome, argMax(rule, retried_at) AS last_rule,
              argMax(reason, retried_at) AS last_reason
       FROM dead_letter_outcomes GROUP BY tenant, dead_letter_id
     ) AS o ON d.tenant = o.tenant AND d.dead_letter_id = o.dead_letter_id
     WHERE {all:UInt8} = 1 OR o.landed = 0
     ORDER BY d.received_at, d.tenant, d.dead_letter_id
     LIMIT {limit:UInt32}`,
    { params },
  )
})

/** Which of a tenant's message ids the warehouse holds (the truth about what landed). */
export const landedMessageIds = Effect.fn("landedMessageIds")(function* (tenant: string, ids: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ message_id: string }>(
    "SELECT DISTINCT message_id FROM event_rows WHERE tenant = {tenant:String} AND message_id IN {ids:Array(String)}",
    { params: { tenant, ids } },
  )
  return rows.map((r) => r.message_id)
})

export interface OutcomeRow {
  readonly tenant: string
  readonly deadLetterId: string
  /** ISO-8601 UTC. */
  readonly retriedAt: string
  readonly outcome: string
  readonly rule: string
  readonly reason: string
  readonly messageId: string
}

export const storeOutcomes = Effect.fn("storeOutcomes")(function* (rows: ReadonlyArray<OutcomeRow>) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("dead_letter_outcomes", rows.map((r) => ({
    tenant: r.tenant, dead_letter_id: r.deadLetterId, retried_at: chDateTime(r.retriedAt), outcome: r.outcome, rule: r.rule,
    reason: r.reason, message_id: r.messageId,
  })))
})

/** Rejected messages per rule, with a field and reason as example, most frequent first. */
export const deadLettersByRule = Effect.fn("deadLettersByRule")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ rule: string; messages: string; field: string; example_reason: string }>(
    "SELECT rule, count() AS messages, any(field) AS field, any(reason) AS example_reason FROM dead_letters GROUP BY rule ORDER BY messages DESC, rule")
})
