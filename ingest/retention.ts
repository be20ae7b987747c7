// Retention applied in one pass: each warehouse table's TTL made what the policy (CDP_RETENTION) says, and the raw
// archive's days older than its period removed. The pipeline runs it at start and daily (cli/retention.ts), an admin
// on demand (`cdp retention apply`, POST /v1/operations/retention).
import { Effect } from "effect"
import { expireArchive } from "./archive.ts"
import { applyRetention, archiveCutoff, type RetentionPolicy } from "../warehouse/retention.ts"

export const applyStoredRetention = (policy: RetentionPolicy, now: () => Date = () => new Date()) =>
  Effect.gen(function* () {
    const tables = yield* applyRetention(policy)
    const cutoff = archiveCutoff(policy, now())
    const days = cutoff === undefined ? 0 : yield* expireArchive(cutoff)
    return { tables, archiveDays: days }
  })
