// `cdp sentiment rescore`: scores stored texts again with the current model and replaces their sentiment rows,
// so a model change reaches history. Running it twice changes nothing (the table keeps one row per message).
import { Effect } from "effect"
import type { Channel } from "../ingest/message.ts"
import { chDateTime, sentimentRow } from "../warehouse/sink.ts"
import { Warehouse } from "../warehouse/warehouse.ts"
import { type SentimentConfig, tenantScorers } from "./config.ts"
import { sentimentRecord } from "./stage.ts"

export interface RescoreSummary {
  readonly texts: number
  readonly scored: number
  readonly unscored: number
  readonly model: string
}

interface StoredText {
  readonly tenant: string
  readonly message_id: string
  readonly profile_id: string
  readonly channel: string
  readonly source: string
  readonly timestamp: string
  readonly text: string
}

const PAGE = 10_000

export const rescore = Effect.fn("rescore")(function* (options: {
  readonly since: Date
  readonly tenant?: string
  readonly config?: SentimentConfig
  readonly onProgress?: (done: number) => void
}) {
  const warehouse = yield* Warehouse
  const scorerFor = tenantScorers(options.config ?? { brand: [], aspects: {} })
  let cursor = { tenant: "", messageId: "" }
  let texts = 0
  let scored = 0
  let model = ""
  while (true) {
    // Keyset pagination in the table's order: every page is one cheap range read, however deep.
    const page = yield* warehouse.query<StoredText>(
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
          since: chDateTime(options.since.toISOString()), tenant: options.tenant ?? "",
          afterTenant: cursor.tenant, afterId: cursor.messageId, limit: PAGE,
        },
      },
    )
    if (page.length === 0) break
    const scoredAt = new Date().toISOString()
    const rows = page.map((t) => {
      const sentiment = sentimentRecord(scorerFor(t.tenant).score(t.text))
      model = sentiment.model
      if (sentiment.status === "scored") scored++
      return sentimentRow({
        tenant: t.tenant, messageId: t.message_id, profileId: t.profile_id, channel: t.channel as Channel,
        source: t.source, timestamp: `${t.timestamp.replace(" ", "T")}Z`, sentiment,
      }, scoredAt)
    })
    yield* warehouse.insert("sentiment", rows)
    texts += page.length
    options.onProgress?.(texts)
    const last = page[page.length - 1]!
    cursor = { tenant: last.tenant, messageId: last.message_id }
  }
  return { texts, scored, unscored: texts - scored, model } satisfies RescoreSummary
})
