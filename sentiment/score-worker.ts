// A scoring worker thread (sentiment/pool.ts starts a few): scores texts with each tenant's scorer, so CPU-heavy
// scoring never holds the collector's event loop. It loads the scorer only, never chdb or the warehouse: a worker
// that loaded chdb crashes the whole process when it exits (RECIPES.md A2).
import { parentPort, workerData } from "node:worker_threads"
import { type SentimentConfig, tenantScorers } from "./tenants.ts"
import type { ScoreJob, WorkerReply } from "./pool.ts"
import { MODEL_VERSION, type SentimentResult } from "./score.ts"

const port = parentPort
if (port === null) throw new Error("sentiment/score-worker.ts runs as a worker thread (see sentiment/pool.ts)")

const config = (workerData as { config: SentimentConfig }).config
const scorerFor = tenantScorers(config)

/** A text the scorer throws on (a bug) is left unscored with the reason, so the message still lands. */
const scoreOne = (tenant: string, text: string): SentimentResult => {
  try {
    return scorerFor(tenant).score(text)
  } catch (e) {
    const reason = `the scorer failed on this text: ${e instanceof Error ? e.message : String(e)}`.slice(0, 300)
    return { status: "unscored", score: 0, label: "neutral", evidence: [], aspects: [], reason, model: MODEL_VERSION }
  }
}

port.on("message", (job: ScoreJob) => {
  const results = job.requests.map((r) => scoreOne(r.tenant, r.text))
  port.postMessage({ _tag: "scored", id: job.id, results } satisfies WorkerReply)
})
port.postMessage({ _tag: "ready" } satisfies WorkerReply)
