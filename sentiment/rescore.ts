// `cdp sentiment rescore`: scores stored texts again with the current model and replaces their sentiment rows,
// so a model change reaches history. Running it twice changes nothing (the table keeps one row per message).
import { Effect } from "effect"
import type { Channel } from "../ingest/message.ts"
import { besideErasures } from "../warehouse/erasure.ts"
import { storeSentiment, textTenants, textsPage } from "../warehouse/sentiment.ts"
import { sentimentRow } from "../warehouse/sink.ts"
import { type SentimentConfig, tenantScorers } from "./tenants.ts"
import { sentimentRecord } from "./stage.ts"

export interface RescoreSummary {
  readonly texts: number
  readonly scored: number
  readonly unscored: number
  readonly model: string
}


const PAGE = 10_000

export const rescore = Effect.fn("rescore")(function* (options: {
  readonly since: Date
  readonly tenant?: string
  readonly config?: SentimentConfig
  readonly onProgress?: (done: number) => void
}) {
  const scorerFor = tenantScorers(options.config ?? { brand: [], aspects: {} })
  let texts = 0
  let scored = 0
  let model = ""
  // A tenant at a time, each page read and stored beside no erasure of it (besideErasures): a page read before an
  // erasure and stored after it wrote the erased person's sentiment (profile id, evidence from their text) back.
  for (const tenant of options.tenant !== undefined ? [options.tenant] : yield* textTenants(options.since)) {
    let cursor = { tenant, messageId: "" }
    while (true) {
      const page = yield* besideErasures(tenant)(Effect.gen(function* () {
        const page = yield* textsPage({ since: options.since, tenant, after: cursor, limit: PAGE })
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
        if (rows.length > 0) yield* storeSentiment(rows)
        return page
      }))
      if (page.length === 0) break
      texts += page.length
      options.onProgress?.(texts)
      const last = page[page.length - 1]!
      cursor = { tenant: last.tenant, messageId: last.message_id }
    }
  }
  return { texts, scored, unscored: texts - scored, model } satisfies RescoreSummary
})
