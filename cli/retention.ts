// Retention applied where the pipeline starts (cdp serve, cdp ingest, cdp replay...) and, for as long as it runs,
// once a day: each table's TTL made what CDP_RETENTION says, and the archive's days older than its period removed.
// The warehouse's TTLs are enforced by the engine's own merges; the archive has no such clock, so a server that runs
// for months needs the daily pass to drop each day as it passes its period.
import { Duration, Effect } from "effect"
import { expireArchive } from "../ingest/archive.ts"
import { applyRetention, archiveCutoff, type RetentionPolicy } from "../warehouse/retention.ts"

export const applyStoredRetention = (policy: RetentionPolicy, now: () => Date = () => new Date()) =>
  Effect.gen(function* () {
    const tables = yield* applyRetention(policy)
    const cutoff = archiveCutoff(policy, now())
    const days = cutoff === undefined ? 0 : yield* expireArchive(cutoff)
    return { tables, archiveDays: days }
  })

/**
 * Applies the policy now, then every `every` (a day) until the scope closes. A failed pass is logged (counts only)
 * and the next one runs as planned: an object store that is briefly unreachable must not stop retention for good.
 */
export const keepRetention = (policy: RetentionPolicy, every: Duration.Input = "24 hours", now?: () => Date) =>
  Effect.gen(function* () {
    yield* applyStoredRetention(policy, now)
    const pass = applyStoredRetention(policy, now).pipe(
      Effect.tap((r) => r.archiveDays > 0 ? Effect.logInfo("retention").pipe(Effect.annotateLogs({ archiveDaysRemoved: r.archiveDays })) : Effect.void),
      Effect.catchCause((cause) => Effect.logWarning("retention pass failed; the next runs as planned").pipe(Effect.annotateLogs({ cause: String(cause).split("\n", 1)[0] }))),
    )
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(every), pass)))
  })
