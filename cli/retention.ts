// Retention applied where the pipeline starts (cdp serve, cdp ingest, cdp replay...): each table's TTL made what
// CDP_RETENTION says, and the archive's days older than its period removed.
import { Effect } from "effect"
import { expireArchive } from "../ingest/archive.ts"
import { applyRetention, archiveCutoff, type RetentionPolicy } from "../warehouse/retention.ts"

export const applyStoredRetention = (policy: RetentionPolicy) =>
  Effect.gen(function* () {
    yield* applyRetention(policy)
    const cutoff = archiveCutoff(policy)
    if (cutoff !== undefined) yield* expireArchive(cutoff)
  })
