// The sentiment stage of the pipeline: scores what a customer wrote, so the sink can land the score beside the
// message (the text itself stays in `texts` only).
import type { CanonicalEvent, SentimentRecord } from "../ingest/message.ts"
import { ok, type Stage } from "../ingest/stage.ts"
import { createScorer, type ScoreOptions, type SentimentResult } from "./score.ts"

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

/** A stage scoring every event that carries text; events without text pass untouched. */
export const sentimentStage = (options: ScoreOptions = {}): Stage<CanonicalEvent> => {
  const scorer = createScorer(options)
  return (event) => (event.text === "" ? ok(event) : ok({ ...event, sentiment: sentimentRecord(scorer.score(event.text)) }))
}

/** Brand terms from configuration (CDP_BRAND_TERMS="Lumen Outfitters,@lumenoutfitters,#lumenoutfitters"). */
export const brandTermsFromEnv = (env: NodeJS.ProcessEnv = process.env): ReadonlyArray<string> =>
  (env["CDP_BRAND_TERMS"] ?? "").split(",").map((t) => t.trim()).filter((t) => t !== "")
