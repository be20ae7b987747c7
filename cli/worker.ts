// `cdp worker`: runs the pipeline's stages as one member of the Kafka consumer groups, with no HTTP edge. N workers
// share a topic's partitions (at most one worker per partition does work); SIGTERM/SIGINT stop it after the batch in
// hand, whose offsets are committed only once its effect is durable.
import type { Command, Option } from "commander"
import { Data, type Duration, Effect } from "effect"
import { ConsentPoliciesRef } from "../consent/index.ts"
import { keepAudiencesCurrent } from "../identity/audiences/index.ts"
import { EventBus } from "../ingest/bus.ts"
import { Pipeline } from "../ingest/pipeline.ts"
import { Warehouse } from "../warehouse/warehouse.ts"
import { readSetting, SETTINGS } from "./config.ts"
import { type BackendConfig, backendConfig, pipelineLayer, serverLogger } from "./layers.ts"
import { runCommand } from "./run.ts"

export class NeedsKafka extends Data.TaggedError("NeedsKafka")<{ readonly message: string }> {}

/** Summary line every minute and at exit: counts only, never content. */
const summary = (p: Pipeline["Service"]) => {
  const c = p.counters
  return `landed ${c.landed}, duplicates ${c.duplicates}, dropped ${c.dropped}, dead-lettered ${c.deadLettered}`
}

/**
 * The worker is where events land, so it is where audiences follow them (`cdp serve --edge-only` lands nothing):
 * refreshes run beside the consumer for as long as the scope lasts, entries and exits emitted through this worker's
 * pipeline. Off with CDP_AUDIENCE_REFRESH=off; whether it runs is the answer.
 */
export const followAudiences = (options?: { readonly tick?: Duration.Input }) =>
  Effect.gen(function* () {
    if ((yield* readSetting(SETTINGS.audienceRefresh)) === "off") return false
    const pipeline = yield* Pipeline
    yield* Effect.forkScoped(keepAudiencesCurrent({
      emit: (events) => pipeline.submit(events, [], { archive: false }), landed: () => pipeline.counters.landed,
      ...(options?.tick === undefined ? {} : { tick: options.tick }),
    }).pipe(Effect.provideService(ConsentPoliciesRef, yield* readSetting(SETTINGS.consent))))
    return true
  })

export const runWorker = (config: BackendConfig) => {
  if (config.kafka === undefined) {
    return Effect.fail(new NeedsKafka({
      message: "cdp worker needs a shared bus: set CDP_BUS=kafka and CDP_KAFKA_BROKERS (the in-process bus lives inside cdp serve)",
    })) as Effect.Effect<never, unknown>
  }
  const serving = Effect.gen(function* () {
    const pipeline = yield* Pipeline
    const bus = yield* EventBus
    const warehouse = yield* Warehouse
    process.stderr.write(
      `cdp worker consuming from ${bus.backend.location} (topics ${config.kafka!.prefix}*)\n` +
        `  warehouse: ${warehouse.backend.kind} ${warehouse.backend.location}\n` +
        (warehouse.backend.kind === "embedded"
          ? "  note:      an embedded warehouse is this process's own: run one consumer (worker, or cdp serve without --edge-only)\n" +
            "             per deployment, or point every worker at one ClickHouse server, or the data is split between them\n"
          : ""),
    )
    if (yield* followAudiences()) {
      process.stderr.write("  audiences:  kept current as events land (CDP_AUDIENCE_REFRESH=off in every other worker on the same warehouse)\n")
    }
    yield* Effect.logInfo("worker started").pipe(Effect.annotateLogs({ brokers: bus.backend.location }))
    yield* Effect.addFinalizer(() => Effect.sync(() => process.stderr.write(`cdp worker stopped: ${summary(pipeline)}\n`)))
    return yield* Effect.never
  })
  return Effect.scoped(serving).pipe(Effect.provide(pipelineLayer(config, { consume: true })))
}

export const registerWorkerCommand = (program: Command, shared: { readonly dataDirOption: () => Option }) => {
  program
    .command("worker")
    .description("run the pipeline's stages as a Kafka consumer-group member (CDP_BUS=kafka) until SIGINT/SIGTERM")
    .addOption(shared.dataDirOption())
    .addHelpText("after", `
Start as many as the topics have partitions (CDP_KAFKA_PARTITIONS, default 6); they share the partitions and take
over each other's when one stops or dies. Every worker must land into the same warehouse (CDP_CLICKHOUSE_URL):
the embedded engine belongs to one process.

Examples:
  $ eval "$(deploy/services/up)"
  $ CDP_BUS=kafka npx cdp worker --data-dir /var/lib/cdp-worker-1`)
    .action((opts: { dataDir?: string }) => {
      // Read here, not inside the program: a wrong setting is one line (the CLI's handler), not a defect.
      const config = backendConfig(opts.dataDir)
      runCommand(runWorker(config).pipe(Effect.provide(serverLogger)), { untilSignal: true })
    })
}
