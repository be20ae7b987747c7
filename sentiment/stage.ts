// The sentiment stage of the pipeline: scores what a customer wrote, so the sink can land the score beside the
// message (the text itself stays in `texts` only).
import type { CanonicalEvent, SentimentRecord } from "../ingest/message.ts"
import { ok, perMessage, type Stage } from "../ingest/stage.ts"
import { type SentimentConfig, tenantScorers } from "./config.ts"
import type { SentimentResult } from "./score.ts"

export const sentimentRecord = (result: SentimentResult): SentimentRecord => ({
  status: result.status,
  score: result.score,
  label: result.label,
  model: result.model,
  language: result.language ?? "",
  reason: result.reason ?? "",
  evidence: result.evidence,
  aspects: result.aspects.map((a) => ({ aspect: a.aspect, score: a.score, label: a.label })),
})

/** A stage scoring every event that carries text with its tenant's scorer; events without text pass untouched. */
export const sentimentStage = (config: SentimentConfig = { brand: [], aspects: {} }): Stage<CanonicalEvent> => {
  const scorerFor = tenantScorers(config)
  return perMessage((event) =>
    event.text === "" ? ok(event) : ok({ ...event, sentiment: sentimentRecord(scorerFor(event.tenant).score(event.text)) }))
}
