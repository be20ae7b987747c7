// The sentiment stage of the pipeline: scores what a customer wrote, so the sink can land the score beside the
// message (the text itself stays in `texts` only). Scoring runs in a pool of worker threads (sentiment/pool.ts),
// off the event loop that answers requests and /health.
import { Effect, type Scope } from "effect"
import type { CanonicalEvent, SentimentRecord } from "../ingest/message.ts"
import { ok, type Stage } from "../ingest/stage.ts"
import type { SentimentConfig } from "./tenants.ts"
import { makeScoringPool, type ScoringPoolOptions } from "./pool.ts"
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

/**
 * A stage scoring every event that carries text with its tenant's scorer; events without text pass untouched. Its
 * worker pool lives as long as the scope (the pipeline's).
 */
export const sentimentStage = (
  config: SentimentConfig = { brand: [], aspects: {} },
  pool: Omit<ScoringPoolOptions, "config"> = {},
): Effect.Effect<Stage<CanonicalEvent>, never, Scope.Scope> =>
  Effect.map(makeScoringPool({ ...pool, config }), (scoring) => (batch) => {
    const withText = batch.flatMap((event, i) => (event.text === "" ? [] : [i]))
    return Effect.map(
      scoring.score(withText.map((i) => ({ tenant: batch[i]!.tenant, text: batch[i]!.text }))),
      (results) => {
        const scored = new Map(withText.map((i, k) => [i, results[k]!]))
        return batch.map((event, i) => {
          const result = scored.get(i)
          return ok(result === undefined ? event : { ...event, sentiment: sentimentRecord(result) })
        })
      },
    )
  })
