// Retention applied in one pass: each warehouse table's TTL made what the policy (CDP_RETENTION) says, the raw
// archive's days older than its period removed, and API tokens that stopped working longer ago than theirs dropped, as
// are each tenant's stopped tokens past the newest CDP_MAX_TOKENS (tokens that expire stop with no request to drop them).
// The pipeline runs it at start and daily (cli/retention.ts), an admin on demand (`cdp retention apply`, POST
// /v1/operations/retention). A pass that changed something (a table's TTL, archive days removed, tokens dropped) is an
// entry of the signed audit log, `retention.applied`: the proof that data past its period was let go, and when.
import { Effect } from "effect"
import { appendAudit, type AuditSigner } from "../consent/audit.ts"
import { expireArchive } from "./archive.ts"
import { applyRetention, archiveCutoff, type RetentionPolicy, tokensCutoffMs } from "../warehouse/retention.ts"
import { dropStoppedBeyond, dropStoppedTokens } from "../warehouse/tokens.ts"
import { DEFAULT_MAX_TOKENS } from "./auth.ts"

export const applyStoredRetention = (policy: RetentionPolicy, options: {
  readonly now?: () => Date
  readonly audit?: AuditSigner
  /** CDP_MAX_TOKENS: the stopped tokens each tenant keeps, whatever their age. */
  readonly maxTokens?: number | undefined
} = {}) =>
  Effect.gen(function* () {
    const tables = yield* applyRetention(policy)
    const cutoff = archiveCutoff(policy, (options.now ?? (() => new Date()))())
    const days = cutoff === undefined ? 0 : yield* expireArchive(cutoff)
    const tokensBefore = tokensCutoffMs(policy, (options.now ?? (() => new Date()))())
    const tokens = (tokensBefore === undefined ? 0 : yield* dropStoppedTokens(tokensBefore)) +
      (yield* dropStoppedBeyond(options.maxTokens ?? DEFAULT_MAX_TOKENS, (options.now ?? (() => new Date()))().getTime())).length
    if (options.audit !== undefined && (tables.length > 0 || days > 0 || tokens > 0)) {
      yield* appendAudit(options.audit, {
        kind: "retention.applied", tenant: "", requestId: "",
        data: { policy, tablesChanged: tables, archiveKeepsFrom: cutoff ?? null, archiveDaysRemoved: days, tokensDropped: tokens },
      })
    }
    return { tables, archiveDays: days, tokens }
  })
