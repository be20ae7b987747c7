// The SQL of texts and sentiment beyond landing (the sink writes them as messages land): reading stored texts back
// for a rescore, and writing the new scores. Social listening's report queries live in warehouse/listening.ts.
import { Effect } from "effect"
import { chDateTime } from "./sink.ts"
import { type Row, Warehouse } from "./warehouse.ts"

export interface StoredText {
  readonly tenant: string
  readonly message_id: string
  readonly profile_id: string
  readonly channel: string
  readonly source: string
  readonly timestamp: string
  readonly text: string
}

/** The tenants with texts from `since` on (a rescore goes through them one at a time). */
export const textTenants = Effect.fn("textTenants")(function* (since: Date) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ tenant: string }>(
    "SELECT DISTINCT tenant FROM texts WHERE timestamp >= {since:DateTime64(3, 'UTC')} ORDER BY tenant",
    { params: { since: chDateTime(since.toISOString()) } })
  return rows.map((r) => r.tenant)
})

/**
 * One page of stored texts since a time (optionally of one tenant), after a (tenant, message id) cursor, in the
 * table's order: keyset pagination, so every page is one cheap range read however deep.
 */
export const textsPage = Effect.fn("textsPage")(function* (page: {
  readonly since: Date
  readonly tenant: string
  readonly after: { readonly tenant: string; readonly messageId: string }
  readonly limit: number
}) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<StoredText>(
    `SELECT t.tenant AS tenant, t.message_id AS message_id, t.profile_id AS profile_id, t.channel AS channel,
            e.source AS source, toString(t.timestamp) AS timestamp, t.text AS text
     FROM (SELECT * FROM texts FINAL
           WHERE timestamp >= {since:DateTime64(3, 'UTC')} AND ({tenant:String} = '' OR tenant = {tenant:String})
             AND (tenant, message_id) > ({afterTenant:String}, {afterId:String})
           ORDER BY tenant, message_id LIMIT {limit:UInt32}) AS t
     LEFT JOIN (SELECT tenant, message_id, any(source) AS source FROM events GROUP BY tenant, message_id) AS e
       ON e.tenant = t.tenant AND e.message_id = t.message_id
     ORDER BY tenant, message_id`,
    {
      params: {
        since: chDateTime(page.since.toISOString()), tenant: page.tenant,
        afterTenant: page.after.tenant, afterId: page.after.messageId, limit: page.limit,
      },
    },
  )
})

/** Sentiment rows (warehouse/sink.ts sentimentRow): the table keeps the latest per message. */
export const storeSentiment = Effect.fn("storeSentiment")(function* (rows: ReadonlyArray<Row>) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("sentiment", rows)
})

/** Scored texts per channel and label. */
export const sentimentByChannel = Effect.fn("sentimentByChannel")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ channel: string; positive: string; neutral: string; negative: string }>(
    "SELECT channel, countIf(label = 'positive') AS positive, countIf(label = 'neutral') AS neutral, countIf(label = 'negative') AS negative FROM sentiment FINAL WHERE status = 'scored' GROUP BY channel ORDER BY channel")
})
