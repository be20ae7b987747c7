// Retention applied where the pipeline starts (cdp serve, cdp ingest, cdp replay...), for as long as it runs once a
// day, and on demand (`cdp retention apply`): each table's TTL made what CDP_RETENTION says, and the archive's days older than its period removed.
// The warehouse's TTLs are enforced by the engine's own merges; the archive has no such clock, so a server that runs
// for months needs the daily pass to drop each day as it passes its period.
import { type Command, Option } from "commander"
import { Duration, Effect, Layer } from "effect"
import { type AuditSigner, auditSigner } from "../consent/audit.ts"
import { applyStoredRetention } from "../ingest/retention.ts"
import { archiveCutoff, type RetentionPolicy } from "../warehouse/retention.ts"
import { readSetting, SETTINGS } from "./config.ts"
import { backendConfig, commandLogger, objectStoreLayer, warehouseLayer } from "./layers.ts"
import { runCommand } from "./run.ts"
import { directOrServer, followOperation } from "./server-info.ts"

/**
 * Applies the policy now, then every `every` (a day) until the scope closes. A failed pass is logged (counts only)
 * and the next one runs as planned: an object store that is briefly unreachable must not stop retention for good.
 */
export const keepRetention = (policy: RetentionPolicy, options: {
  readonly every?: Duration.Input
  readonly now?: () => Date
  /** Where a pass that changed something is recorded (the data dir's signed audit log). */
  readonly audit?: AuditSigner
  /** CDP_MAX_TOKENS: the stopped tokens a pass leaves each tenant. */
  readonly maxTokens?: number | undefined
} = {}) =>
  Effect.gen(function* () {
    const apply = applyStoredRetention(policy, options)
    yield* apply
    const pass = apply.pipe(
      Effect.tap((r) => r.archiveDays > 0 || r.tokens > 0
        ? Effect.logInfo("retention").pipe(Effect.annotateLogs({ archiveDaysRemoved: r.archiveDays, tokensDropped: r.tokens })) : Effect.void),
      Effect.catchCause((cause) => Effect.logWarning("retention pass failed; the next runs as planned").pipe(Effect.annotateLogs({ cause: String(cause).split("\n", 1)[0] }))),
    )
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(options.every ?? "24 hours"), pass)))
  })

/** Registers `cdp retention apply` (cli/main.ts passes what every command shares). */
export const registerRetentionCommands = (program: Command, shared: { readonly dataDirOption: () => Option }) => {
  program
    .command("retention")
    .description("how long each store keeps data (CDP_RETENTION)")
    .command("apply")
    .description("apply CDP_RETENTION now: each table's TTL set, the archive's days older than its period removed, old revoked or expired tokens dropped")
    .addOption(new Option("--format <format>", "output format").choices(["json", "table"]).default("table"))
    .addOption(shared.dataDirOption())
    .addHelpText("after", `
The pipeline applies it too when it starts, and once a day while cdp serve runs. Defaults: 25 months for what the
warehouse serves, 6 for dead letters, 13 for the raw archive and for API tokens after they were revoked or expired;
archive=forever keeps the archive until erased.

Examples:
  $ npx cdp retention apply
  $ CDP_RETENTION=archive=6 npx cdp retention apply --format json`)
    .action((opts: { format: "json" | "table"; dataDir?: string }) => {
      const main = Effect.gen(function* () {
        const asked = yield* readSetting(SETTINGS.retention)
        const backend = backendConfig(opts.dataDir)
        const maxTokens = yield* readSetting(SETTINGS.maxTokens)
        const direct = Effect.flatMap(auditSigner(backend.dataDir), (audit) => applyStoredRetention(asked, { audit, maxTokens })).pipe(
          Effect.map((r) => ({ policy: asked, tables: r.tables, archiveDays: r.archiveDays, tokens: r.tokens })),
          Effect.scoped, Effect.provide(Layer.merge(warehouseLayer(backend), objectStoreLayer(backend))))
        // While cdp serve holds the data dir, it applies its own policy (the CDP_RETENTION it was started with).
        const done = yield* directOrServer(backend, direct, (server) =>
          Effect.map(followOperation<{ policy: RetentionPolicy; tablesChanged: Array<string>; archiveDaysRemoved: number; tokensDropped: number }>(server, "/v1/operations/retention", {}),
            (r) => ({ policy: r.policy, tables: r.tablesChanged, archiveDays: r.archiveDaysRemoved, tokens: r.tokensDropped })))
        const policy = done.policy
        const cutoff = archiveCutoff(policy) ?? null
        process.stdout.write(opts.format === "json"
          ? `${JSON.stringify({ policy, tablesChanged: done.tables, archiveKeepsFrom: cutoff, archiveDaysRemoved: done.archiveDays, tokensDropped: done.tokens })}\n`
          : `tables whose TTL changed: ${done.tables.length === 0 ? "none" : done.tables.join(", ")}\n` +
            `archive: ${cutoff === null ? "kept until erased" : `days before ${cutoff} removed: ${done.archiveDays}`}\n` +
            `tokens: ${policy.tokens <= 0 ? "kept until erased" : `revoked or expired over ${policy.tokens} months ago dropped: ${done.tokens}`}\n`)
      })
      runCommand(main.pipe(Effect.provide(commandLogger)))
    })
}
