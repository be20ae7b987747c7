// The `cdp` commands. Each command composes its Layers (cli/layers.ts) and runs one program.
import { writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { Command, InvalidArgumentError, Option } from "commander"
import { Data, Effect, Layer, Redacted } from "effect"
import { IDENTIFIER_KINDS, identityConfigOf } from "../identity/index.ts"
import { Collector, CollectorListenError } from "../ingest/collector.ts"
import { LIST_MAX as DLQ_LIST_MAX, RETRY_MAX as DLQ_RETRY_MAX } from "../ingest/dead-letter-route.ts"
import { EmptyInput, FileUnreadable, importFile, NothingLanded, refuseUnreadableFile } from "../ingest/import.ts"
import { FILE_SOURCES, oneSourceOptionsRefusal } from "../ingest/sources/index.ts"
import { countZonelessTimes } from "../ingest/sources/items.ts"
import {
  DEFAULT_TENANT, dataDirWriteKey, parseAllowedOriginSpecs, parseWriteKeySpecs, uniqueWriteKeys, withAllowedOrigins,
  writeKeys,
} from "../ingest/writekeys.ts"
import { knownSpellings, tenantNameProblem } from "../warehouse/tenant.ts"
import { shownText } from "../ingest/schemas.ts"
import { MAX_QUERY_BYTES } from "../warehouse/readonly.ts"
import { isNamedPipe, isStdinPath, readableFile, readStdinStatement } from "./stdin.ts"
import { type DataDirLocked, type QueryScope, Warehouse } from "../warehouse/warehouse.ts"
import type { ReplaySummary } from "../ingest/replay.ts"
import type { RescoreSummary } from "../sentiment/index.ts"
import { DEFAULT_HOST, DEFAULT_PORT, destinationAudiencesChecked, destinationsSetting, knownTenantsNow, misspeltSettings, parseJsonObject, readSetting, sentimentSettings, settingTenantsChecked, SETTINGS, settingNow, xEnvironment } from "./config.ts"
import { checkWritable, DataDirUnusable, FileUnwritable, prepareDataDir, readOnlyCommand, storedDataCommand } from "./data-dir.ts"
import { dayOnTheCalendar } from "./calendar.ts"
import { packageVersion, PROGRAM_DESCRIPTION, PROGRAM_EXAMPLES, VERSION_DESCRIPTION, VERSION_FLAGS } from "./help.ts"
import { refuseRepeatedFlags } from "./once.ts"
import { runDemo } from "./demo.ts"
import { registerConsentCommands } from "./consent.ts"
import { registerDsrCommands } from "./dsr.ts"
import { registerAudienceCommands } from "./audiences.ts"
import { keepAudiencesCurrent } from "../identity/audiences/index.ts"
import { Pipeline } from "../ingest/pipeline.ts"
import { ConsentPoliciesRef } from "../consent/index.ts"
import { registerExportCommands } from "./exports.ts"
import { keepExportsCurrent } from "../ingest/destinations/index.ts"
import { registerTokenCommands } from "./tokens.ts"
import { registerRelationsCommands, withRelationships } from "./relations.ts"
import { keepRelationsCurrent } from "../identity/relations/index.ts"
import { NeedsKafka, registerWorkerCommand } from "./worker.ts"
import { registerRetentionCommands } from "./retention.ts"
import { formatRows, guardStdout, type OutputFormat, shellWord } from "./format.ts"
import { backendConfig, commandLogger, DEFAULT_DATA_DIR, pipelineLayer, serverLogger, warehouseLayer } from "./layers.ts"
import {
  identityExplain, identityRebuild, identitySeparate, identitySplit, identitySuggestionDecision, identitySuggestions, profileShow,
} from "./identity.ts"
import { profileEvents, traitsPreview } from "./profiles.ts"
import { progressBar } from "./progress.ts"
import { isUserError, runCommand, userMessage } from "./run.ts"
import { adminToken, announceServer, callServer, directOrServer, knownTenantsFor, queryThroughServer, runningServer, ServerQueryFailed } from "./server-info.ts"
import { listeningReporter, listenReportThroughServer, runXConnectors, XQueriesFailed, xSearchOnce } from "./social.ts"
import { loadXConfig, XConfigInvalid } from "../ingest/social/index.ts"

const parsePort = (value: string): number => {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError("must be a port number 0-65535")
  return port
}

const collect = (value: string, previous: Array<string>) => [...previous, value]

/** A flag's value checked by a parser that throws its reason: commander prints it as one line. */
const flagParser = <A>(parse: (value: string) => A) => (value: string): A => {
  try {
    return parse(value)
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message)
  }
}

/** --source-options: a JSON object of the source's settings, the ones every source takes (timeZone) checked here. */
const sourceOptionsFlag = (text: string): Record<string, unknown> => {
  const options = parseJsonObject("the value")(text)
  const refusal = oneSourceOptionsRefusal(options)
  if (refusal !== undefined) throw new Error(refusal)
  return options
}

const collectWriteKeys = (value: string, previous: Array<string>) => {
  // With the earlier flags: a key given twice for two tenants is named at once.
  flagParser((v) => parseWriteKeySpecs([...previous, v]))(value)
  return collect(value, previous)
}

const collectAllowedOrigins = (value: string, previous: Array<string>) => {
  flagParser((v) => parseAllowedOriginSpecs([v]))(value)
  return collect(value, previous)
}

/** An allow-list names a write key that is not configured. */
class OriginsInvalid extends Data.TaggedError("OriginsInvalid")<{ readonly message: string }> {}

/** --write-key and CDP_WRITE_KEYS give one key for two tenants. */
class WriteKeysInvalid extends Data.TaggedError("WriteKeysInvalid")<{ readonly message: string }> {}

// Past MAX_SAFE_INTEGER a number no longer holds the value given (and the warehouse client refuses to send it).
const positiveInt = flagParser((value: string) => {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`must be a whole number, at least 1 and at most ${Number.MAX_SAFE_INTEGER}`)
  return n
})

/** A whole number from 1 to `max` (a bound cdp serve's route has too: the command takes the same with or without it). */
const wholeNumberUpTo = (max: number) => flagParser((value: string) => {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new Error(`must be a whole number from 1 to ${max}`)
  return n
})

// No commander default: an unset flag falls back to CDP_DATA_DIR, then to the default (cli/layers.ts backendConfig).
// An empty one would be the working directory: made private and filled with the warehouse and the keys.
const dataDirPath = flagParser((value: string) => {
  if (value.trim() === "") throw new Error("must name a directory, not an empty value (unset, it is CDP_DATA_DIR or the default)")
  return value
})

const dataDirOption = () =>
  new Option("--data-dir <dir>", `where the embedded warehouse keeps its data (env CDP_DATA_DIR; default ${DEFAULT_DATA_DIR})`).argParser(dataDirPath)

// Commands that only read what landed: on a data dir that is not there they say so, instead of making it empty
// (cli/data-dir.ts).
const READS_ONLY = new Set([
  "query", "profile show", "profile events", "dlq list", "listen report", "identity explain", "identity suggestions",
  "consent show", "relations summary", "relations explain", "relations report", "dsr status", "dsr list", "audit log",
  "audit verify", "traits preview", "audience preview", "audience list", "audience show", "audience history",
  "audience members", "audience changes", "export dry-run", "export status", "export history", "token list", "token inspect",
])

// Commands that work on what a data dir holds: on one that is not there they say so too, instead of making it and
// finding nothing to do. Only where the data dir holds it: the embedded warehouse (and, for replay, the local archive).
const WORKS_ON_STORED = new Set([
  "replay", "dlq retry", "identity rebuild", "relations compute", "audience refresh", "retention apply", "sentiment rescore",
  // A decision names what is stored there: on a mistyped path it was told "no profile holds" or "no token is known".
  "identity split", "identity separate", "token revoke",
])

const worksOnThisDataDir = (path: string, dataDir: string | undefined, decision: boolean): boolean => {
  if (!WORKS_ON_STORED.has(path) && !decision) return false
  try {
    const backend = backendConfig(dataDir)
    return backend.clickhouse === undefined && (path !== "replay" || backend.s3 === undefined)
  } catch {
    return false // a wrong setting: the command itself names it
  }
}

/** The tenant names with capitals a command takes as written (its data dir's server's, CDP_WRITE_KEYS's). */
const knownTenantsOfCommand = (dataDir: unknown): ReadonlySet<string> => {
  try {
    return knownTenantsFor(backendConfig(typeof dataDir === "string" ? dataDir : undefined).dataDir)
  } catch {
    return knownTenantsNow() // a wrong setting: the command itself names it
  }
}

const commandPath = (command: Command): string => {
  const names: Array<string> = []
  for (let at: Command | null = command; at !== null && at.parent !== null; at = at.parent) names.unshift(at.name())
  return names.join(" ")
}

const program = new Command("cdp")
  .description(PROGRAM_DESCRIPTION)
  .version(packageVersion(), VERSION_FLAGS, VERSION_DESCRIPTION)
  .showHelpAfterError("(run cdp --help for usage)")
  // Every command's --tenant, checked once: nothing may land under (or be looked for in) a tenant no key or token can name.
  .hook("preAction", (_program, command) => {
    for (const { variable, meant } of misspeltSettings(process.env)) {
      process.stderr.write(`cdp: warning: ${variable} is not a setting cdp reads (did you mean ${meant}?); it is ignored\n`)
    }
    const tenant: unknown = command.opts()["tenant"]
    const tenantProblem = typeof tenant === "string" ? tenantNameProblem(tenant, knownTenantsOfCommand(command.opts()["dataDir"])) : undefined
    if (tenantProblem !== undefined) {
      process.stderr.write(`cdp: --tenant ${tenantProblem}\n`)
      process.exit(1)
    }
    const path = commandPath(command)
    // Accepting or dismissing a suggestion records a decision: on a data dir that is not there it is not told "only reads".
    const decision = path === "identity suggestions" && (command.opts()["accept"] !== undefined || command.opts()["dismiss"] !== undefined)
    if (READS_ONLY.has(path) && !decision) readOnlyCommand()
    const dataDir: unknown = command.opts()["dataDir"]
    if (worksOnThisDataDir(path, typeof dataDir === "string" ? dataDir : undefined, decision)) storedDataCommand()
  })
  .addHelpText("after", PROGRAM_EXAMPLES)

/**
 * Fails as the collector would if it could not listen on `host:port` now (in use, not allowed, no such interface). The
 * collector listens again once loaded; whatever takes the port in between is still said then.
 */
const portFree = (host: string, port: number) =>
  port === 0 ? Effect.void : Effect.callback<void, CollectorListenError>((resume) => {
    const probe = createServer()
    probe.once("error", (cause) => resume(Effect.fail(new CollectorListenError({ host, port, cause }))))
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resume(Effect.void)))
  })

program
  .command("serve")
  .description("run the collector (Segment HTTP Tracking API) and the pipeline until SIGINT/SIGTERM")
  .addOption(new Option("--port <n>", `port to listen on (env CDP_PORT; default ${DEFAULT_PORT})`).argParser(parsePort))
  .option("--host <host>", `interface to listen on (env CDP_HOST; default ${DEFAULT_HOST})`, flagParser((value: string) => {
    // Node listens on every interface when given an empty host: the collector would be open to the network.
    if (value.trim() === "") throw new Error(`must name an interface (e.g. ${DEFAULT_HOST}; 0.0.0.0 or :: for every one), not an empty value`)
    return value
  }))
  .addOption(dataDirOption())
  .option("--write-key <key[=tenant]>", "accept this write key (repeatable; tenant defaults to \"default\"; env CDP_WRITE_KEYS)", collectWriteKeys, [])
  .option("--allowed-origins <key=origin|origin>", "web pages (origins) that may send with this key (repeatable; default any; env CDP_ALLOWED_ORIGINS)", collectAllowedOrigins, [])
  .option("--edge-only", "with CDP_BUS=kafka: only publish to Kafka and leave the stages to cdp worker processes")
  .addHelpText("after", `
With no --write-key, a key is generated once and kept in DATA_DIR/write-key.

Examples:
  $ npx cdp serve
  $ npx cdp serve --port 8080 --write-key wk_live_abc=acme --write-key wk_live_def=globex
  $ curl -u WRITE_KEY: -H 'content-type: application/json' \\
      -d '{"userId":"u1","event":"Signed Up"}' http://127.0.0.1:8787/v1/track`)
  .action((opts: { port?: number; host?: string; dataDir?: string; writeKey: Array<string>; allowedOrigins: Array<string>; edgeOnly?: boolean }) => {
    const config = backendConfig(opts.dataDir)
    const main = Effect.gen(function* () {
      if (opts.edgeOnly === true && config.kafka === undefined) {
        return yield* new NeedsKafka({ message: "--edge-only needs CDP_BUS=kafka: the in-process bus has no other consumer" })
      }
      const port = opts.port ?? (yield* readSetting(SETTINGS.port))
      const host = opts.host ?? (yield* readSetting(SETTINGS.host))
      const fromEnv = yield* readSetting(SETTINGS.writeKeys)
      const configured = yield* Effect.try({
        try: () => uniqueWriteKeys([...parseWriteKeySpecs(opts.writeKey), ...fromEnv]),
        catch: (e) => new WriteKeysInvalid({ message: `--write-key and CDP_WRITE_KEYS: ${(e as Error).message}` }),
      })
      const originSpecs = [...opts.allowedOrigins, ...(yield* readSetting(SETTINGS.allowedOrigins))]
      const sendgrid = yield* readSetting(SETTINGS.sendgridVerificationKey)
      const sourceOptions = yield* readSetting(SETTINGS.sourceOptions)
      const identity = identityConfigOf(yield* readSetting(SETTINGS.identityRules), yield* readSetting(SETTINGS.phoneRegions))
      const traitPrecedence = yield* readSetting(SETTINGS.traitPrecedence)
      const xPollSeconds = yield* readSetting(SETTINGS.xPollSeconds)
      const xEnabled = (yield* readSetting(SETTINGS.xBearerToken)) !== undefined
      // A port something else holds is said before the data dir is made and loaded (a large one takes a minute).
      yield* portFree(host, port)
      // The generated write key and the admin token are kept in the data dir: it must exist (private) first.
      yield* prepareDataDir(config.dataDir)
      const { entries, adminToken: token } = yield* Effect.try({
        try: () => ({
          entries: configured.length > 0 ? configured : [{ writeKey: dataDirWriteKey(config.dataDir), tenant: DEFAULT_TENANT }],
          adminToken: adminToken(config.dataDir),
        }),
        catch: (e) => DataDirUnusable.of(config.dataDir, e),
      })
      const keys = writeKeys(yield* Effect.try({
        try: () => withAllowedOrigins(entries, parseAllowedOriginSpecs(originSpecs)),
        catch: (e) => new OriginsInvalid({ message: (e as Error).message }),
      }))
      yield* settingTenantsChecked(knownSpellings(keys.keys.map((k) => k.tenant)))
      const consent = yield* readSetting(SETTINGS.consent)
      // Read before the server listens: a wrong value is one line and exit 1, not a server that starts and stops.
      const destinations = yield* destinationsSetting
      const exportEvery = yield* readSetting(SETTINGS.exportEvery)
      const relationsEvery = yield* readSetting(SETTINGS.relationsEvery)
      const relations = yield* readSetting(SETTINGS.relations)
      const serving = Effect.gen(function* () {
        const { url } = yield* Collector
        yield* announceServer(config.dataDir, url, [...knownSpellings(keys.keys.map((k) => k.tenant))])
        process.stderr.write(
          `cdp collector listening on ${url}\n` +
            `  data dir:   ${config.dataDir}\n` +
            (configured.length > 0
              ? `  write keys: ${configured.length} configured (tenants: ${[...new Set(configured.map((k) => k.tenant))].join(", ")})\n`
              : `  write key:  ${keys.keys[0]!.writeKey} (tenant "${DEFAULT_TENANT}", kept in ${config.dataDir}/write-key)\n`) +
            `  try:        curl -u ${configured.length > 0 ? "WRITE_KEY" : keys.keys[0]!.writeKey}: -d '{"userId":"u1","event":"Signed Up"}' ${url}/v1/track\n`,
        )
        yield* Effect.logInfo("collector listening").pipe(Effect.annotateLogs({ url }))
        if (xEnabled) {
          const x = yield* runXConnectors(DEFAULT_TENANT, `${xPollSeconds} seconds`)
          process.stderr.write(`  x/twitter:  ${x.queries} search queries, ${x.rules} stream rules\n`)
        }
        if (opts.edgeOnly !== true) {
          // Audience membership follows what lands: entries and exits are emitted through this pipeline.
          const pipeline = yield* Pipeline
          yield* Effect.forkScoped(keepAudiencesCurrent({
            emit: (events) => pipeline.submit(events, [], { archive: false }), landed: () => pipeline.counters.landed,
          }).pipe(Effect.provideService(ConsentPoliciesRef, consent)))
          // Relationship scores brought to today once a day (CDP_RELATIONS_EVERY), per tenant, from the stored runs.
          if (relationsEvery > 0) yield* Effect.forkScoped(keepRelationsCurrent({ everyMs: relationsEvery * 1000, config: relations }))
          // Exports to CRMs and files, each destination on its own loop (its sync never holds up another's).
          if (exportEvery > 0 && destinations.length > 0) {
            yield* Effect.forkScoped(keepExportsCurrent(destinations, exportEvery * 1000).pipe(Effect.provideService(ConsentPoliciesRef, consent)))
            process.stderr.write(`  exports:    ${destinations.length} destination(s), each synced every ${exportEvery} s\n`)
          }
        }
        return yield* Effect.never
      })
      const layer = Collector.layer({
        port, host, writeKeys: keys, adminToken: token, sourceOptions, identity, traitPrecedence, dataDir: config.dataDir,
        consent, destinations, listeningReport: yield* listeningReporter, relations, maxAudiences: yield* readSetting(SETTINGS.maxAudiences),
        sentiment: yield* sentimentSettings, retention: yield* readSetting(SETTINGS.retention),
        maxTokens: yield* readSetting(SETTINGS.maxTokens),
        sendgridVerificationKey: sendgrid === undefined ? undefined : Redacted.value(sendgrid),
      }).pipe(Layer.provideMerge(
        // Before the server listens: a destination subscribed to an audience its tenant has not is one line and exit 1.
        Layer.effectDiscard(destinationAudiencesChecked(destinations)).pipe(Layer.provideMerge(pipelineLayer(config, { consume: opts.edgeOnly !== true }))),
      ))
      return yield* Effect.scoped(serving).pipe(Effect.provide(layer))
    })
    runCommand(main.pipe(Effect.provide(serverLogger)), { untilSignal: true })
  })

program
  .command("ingest")
  .description("push a file through the same pipeline the collector feeds")
  .argument("<file>", "the file to ingest (- for stdin)")
  .addOption(new Option("--source <name>", "what the file holds").choices([...FILE_SOURCES.keys()]).makeOptionMandatory())
  .option("--tenant <tenant>", "tenant the data belongs to", DEFAULT_TENANT)
  .addOption(dataDirOption())
  .option("--dry-run", "validate the file and report what would land, without landing anything")
  .option("--source-options <json>", "the source's settings as JSON, e.g. {\"timeZone\":\"Europe/London\"} (default: its entry in CDP_SOURCE_OPTIONS)", flagParser(sourceOptionsFlag))
  .addHelpText("after", `
Sources:
${[...FILE_SOURCES.values()].map((s) => `  ${s.name.padEnd(10)} ${s.description}`).join("\n")}

Source settings: calls takes {"columns": {field: column name or null}, "defaultCountry": "US", "fallbackCountries": ["GB"]}
with fields call_id, started_at, duration_s, direction, phone, agent, queue, outcome, notes.

Examples:
  $ npx cdp ingest --source segment web.ndjson
  $ npx cdp ingest --source calls twilio-export.csv --source-options '{"columns":{"call_id":"CallSid","phone":"From","notes":"Transcript"},"defaultCountry":"GB"}'
  $ npx cdp ingest --source email support-archive.mbox
  $ npx cdp ingest --source segment export.ndjson --tenant acme --data-dir /var/lib/cdp`)
  .action((file: string, opts: { source: string; tenant: string; dataDir?: string; dryRun?: boolean; sourceOptions?: Record<string, unknown> }) => {
    const sourceOptionsOf = Effect.map(readSetting(SETTINGS.sourceOptions), (all) => opts.sourceOptions ?? all[opts.source])
    if (opts.dryRun) return runCommand(Effect.scoped(Effect.flatMap(sourceOptionsOf, (sourceOptions) => dryRun(opts.source, file, opts.tenant, sourceOptions))))
    const config = backendConfig(opts.dataDir)
    const main = (path: string, sourceOptions: Record<string, unknown> | undefined) => Effect.gen(function* () {
      const progress = progressBar(path)
      const summary = yield* importFile(opts.source, path, { tenant: opts.tenant, onProgress: progress.update, sourceOptions }).pipe(
        Effect.ensuring(Effect.sync(() => progress.stop())),
      )
      process.stdout.write(
        `${file}: ${summary.accepted} accepted (${summary.landed} landed, ${summary.duplicates} duplicates), ` +
          `${summary.rejected} rejected, in ${summary.seconds.toFixed(1)}s\n`,
      )
      // Pasted as it is, it reads the tenant and the data dir this file went to.
      const seeWhy = `npx cdp query "SELECT rule, reason FROM dead_letters ORDER BY received_at DESC LIMIT 20" --format table` +
        `${opts.tenant === DEFAULT_TENANT ? "" : ` --tenant ${shellWord(opts.tenant)}`}${opts.dataDir === undefined ? "" : ` --data-dir ${shellWord(opts.dataDir)}`}`
      process.stdout.write(zonelessLines(summary.zonelessTimes, sourceOptions, false))
      if (summary.rejected > 0 && summary.accepted === 0) {
        return yield* Effect.fail(new NothingLanded({ path: file, rejected: summary.rejected, dryRun: false, kept: `(kept in dead_letters; see why: ${seeWhy})` }))
      }
      if (summary.rejected > 0) process.stdout.write(`  see why: ${seeWhy}\n`)
    })
    // Stdin ("-") and a named pipe are saved to a file before the warehouse opens: the embedded engine sets stdin aside
    // (warehouse/stdin.ts). The settings are read first too: a wrong one refuses the command before the data dir is made.
    // What a pipe sent is gone once read: the rest lands when the writer sends it all again, not by the same command.
    const again = isStdinPath(file) || isNamedPipe(file) ? "sending the same input again" : "the same command again"
    runCommand(Effect.scoped(Effect.flatMap(Effect.all([readableFile(file), sourceOptionsOf]), ([path, sourceOptions]) =>
      main(path, sourceOptions).pipe(Effect.provide(pipelineLayer(config))))).pipe(Effect.provide(commandLogger)), {
      whenStopped: `${file} was read to its end: what landed stays, and ${again} lands the rest (a message lands once)`,
    })
  })

program
  .command("x-search")
  .description("pull the configured X/Twitter recent-search queries once (cdp serve polls them itself when configured)")
  .option("--tenant <tenant>", "tenant the data belongs to", DEFAULT_TENANT)
  .addOption(dataDirOption())
  .addHelpText("after", `
Configuration (environment): CDP_X_BEARER_TOKEN (required), CDP_X_QUERIES (JSON array or ';'-separated),
CDP_X_RULES (JSON array of {value, tag} for the filtered stream, run by cdp serve), CDP_X_API_BASE, CDP_X_POLL_SECONDS.
Each query resumes from the newest tweet seen (kept in DATA_DIR/objects/connectors/x/).

Examples:
  $ CDP_X_BEARER_TOKEN=... CDP_X_QUERIES='["@harborlane","#harborlane"]' npx cdp x-search`)
  .action((opts: { tenant: string; dataDir?: string }) => {
    const config = backendConfig(opts.dataDir)
    // The settings are read before the data dir is made: a wrong one refuses the command without leaving one behind.
    const main = Effect.gen(function* () {
      const x = yield* loadXConfig(yield* xEnvironment)
      if (x.queries.length === 0) {
        // Without one, the pass would search nothing and exit 0 as if it had found nothing.
        return yield* new XConfigInvalid({
          variable: "CDP_X_QUERIES",
          reason: `is unset or holds no query, so there is nothing to search (a JSON array or ';'-separated, e.g. '["@brand","#brand"]'${x.rules.length > 0 ? "; CDP_X_RULES are for cdp serve's filtered stream" : ""})`,
        })
      }
      return yield* Effect.gen(function* () {
        const summaries = yield* xSearchOnce(x, opts.tenant)
        for (const s of summaries) process.stdout.write(`${JSON.stringify(s)}\n`)
        const failed = summaries.filter((s) => s.error !== undefined)
        if (failed.length > 0) return yield* new XQueriesFailed({ failed })
      }).pipe(Effect.provide(pipelineLayer(config)))
    })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

program
  .command("replay")
  .description("re-run archived raw messages through the pipeline (already-landed messages change nothing)")
  .requiredOption("--from <date>", "first day (YYYY-MM-DD) or instant of receipt", dayOnTheCalendar)
  .requiredOption("--to <date>", "last day (inclusive) or instant (exclusive)", dayOnTheCalendar)
  .option("--source <name>", "only this source")
  .option("--tenant <tenant>", "only this tenant")
  .addOption(dataDirOption())
  .addHelpText("after", `
Every accepted raw message is archived as gzip NDJSON batches under DATA_DIR/objects/archive/<tenant>/<source>/<day>/
with a manifest per day. Replay parses them again with the source's own parser, so a fixed connector or a new stage
reaches history: messages that never landed land; ones that did are skipped (replay into a fresh data dir to rebuild).

Examples:
  $ npx cdp replay --from 2024-09-01 --to 2024-09-30
  $ npx cdp replay --from 2024-11-01 --to 2024-11-30 --source sendgrid`)
  .action((opts: { from: string; to: string; source?: string; tenant?: string; dataDir?: string }) => {
    const main = Effect.gen(function* () {
      const { parseReplayRange, replayArchive, replayIncomplete } = yield* Effect.promise(() => import("../ingest/replay.ts"))
      const { directOrServer, followOperation } = yield* Effect.promise(() => import("./server-info.ts"))
      const range = yield* parseReplayRange(opts.from, opts.to)
      // The range is checked before the data dir is opened: a wrong flag touches nothing. While cdp serve holds the
      // data dir, the replay runs in it (POST /v1/operations/replay), through its pipeline.
      const backend = backendConfig(opts.dataDir)
      const only = { ...(opts.source ? { source: opts.source } : {}), ...(opts.tenant ? { tenant: opts.tenant } : {}) }
      const s = yield* directOrServer(backend, replayArchive({ ...range, ...only }).pipe(Effect.provide(pipelineLayer(backend))),
        (server) => followOperation<ReplaySummary>(server, "/v1/operations/replay", { from: opts.from, to: opts.to, ...only }))
      process.stdout.write(
        `replayed ${s.records} archived messages from ${s.batches} batches: ${s.accepted} accepted ` +
          `(${s.landed} landed, ${s.duplicates} already there), ${s.rejected} rejected, in ${s.seconds.toFixed(1)}s\n`)
      for (const c of s.corruptBatches) process.stdout.write(`  corrupt batch skipped: ${c.key}: ${c.reason}\n`)
      if (s.unlistedBatches > 0) process.stdout.write(`  ${s.unlistedBatches} batches were not in their day's manifest (written just before a stop); replayed anyway\n`)
      const incomplete = replayIncomplete(s)
      if (incomplete !== undefined) return yield* Effect.fail(incomplete)
    })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

const dlq = program.command("dlq").description("inspect and re-drive dead letters (refused input)")
const dlqFilterOptions = (command: Command) =>
  command
    .option("--source <name>", "only this source")
    .option("--rule <rule>", "only this rule (e.g. bad_timestamp)")
    .option("--tenant <tenant>", "only this tenant")
    .option("--since <date>", "received on or after this date", dayOnTheCalendar)
    .addOption(dataDirOption())

interface DlqOptions { source?: string; rule?: string; tenant?: string; since?: string; dataDir?: string; limit?: number; all?: boolean; format?: OutputFormat }
const dlqFilter = (opts: DlqOptions) => {
  // Dropped as if not given, an empty one (--rule "$RULE" with RULE unset) listed, or re-drove, every dead letter.
  for (const [flag, value] of [["--source", opts.source], ["--rule", opts.rule]] as const) {
    if (value !== undefined && value.trim() === "") program.error(`cdp: ${flag} must not be empty (leave it out for every ${flag.slice(2)})`)
  }
  const since = opts.since === undefined ? undefined : new Date(opts.since)
  if (since !== undefined && Number.isNaN(since.getTime())) program.error(`cdp: --since "${opts.since}" is not a date`)
  return {
    ...(opts.source ? { source: opts.source } : {}), ...(opts.rule ? { rule: opts.rule } : {}),
    ...(opts.tenant ? { tenant: opts.tenant } : {}), ...(since ? { since } : {}),
    ...(opts.limit ? { limit: opts.limit } : {}), ...(opts.all ? { all: true } : {}),
  }
}

/** The filter as the dead-letter route takes it (strings; `limit` added by the caller where it is a number). */
const dlqParams = (opts: DlqOptions, limit?: number): Record<string, string> => ({
  ...(opts.source ? { source: opts.source } : {}), ...(opts.rule ? { rule: opts.rule } : {}),
  ...(opts.tenant ? { tenant: opts.tenant } : {}), ...(opts.since ? { since: opts.since } : {}),
  ...(limit === undefined ? {} : { limit: String(limit) }),
})

dlqFilterOptions(dlq.command("list").description("dead letters still open (newest first); payloads are not shown"))
  .option("--all", "include dead letters already re-driven")
  .option("--limit <n>", `at most this many (1-${DLQ_LIST_MAX})`, wholeNumberUpTo(DLQ_LIST_MAX), 100)
  .addOption(new Option("--format <format>", "output format").choices(["json", "table"]).default("table"))
  .addHelpText("after", `
Examples:
  $ npx cdp dlq list --source segment --rule bad_timestamp
  $ npx cdp query "SELECT payload, payload_encoding FROM dead_letters WHERE dead_letter_id = '...'"    # the raw payload
    (payload_encoding base64: bytes that are not UTF-8, kept as base64; base64 -d gives them back)`)
  .action((opts: DlqOptions) => {
    const main = Effect.gen(function* () {
      const { listDeadLetters } = yield* Effect.promise(() => import("../ingest/dlq.ts"))
      const filter = dlqFilter(opts)
      const backend = backendConfig(opts.dataDir)
      // While cdp serve holds the data dir, its GET /v1/dead-letters lists them (every tenant unless --tenant).
      const entries = yield* directOrServer(backend, listDeadLetters(filter).pipe(Effect.provide(warehouseLayer(backend))), (server) =>
        Effect.map(callServer<{ deadLetters: Effect.Success<ReturnType<typeof listDeadLetters>> }>(server, "GET",
          `/v1/dead-letters?${new URLSearchParams(dlqParams(opts, filter.limit)).toString()}${opts.all === true ? "&all=true" : ""}`), (r) => r.deadLetters))
      const rows = entries.map((e) => ({
        received_at: e.receivedAt, source: e.source, rule: e.rule, field: e.field, reason: e.reason,
        status: e.status, dead_letter_id: e.deadLetterId, payload_encoding: e.payloadEncoding,
      }))
      process.stdout.write(`${formatRows(rows, opts.format ?? "table")}\n`)
    })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

dlqFilterOptions(dlq.command("retry").description("re-drive open dead letters through their source's parser; what passes now lands"))
  .option("--limit <n>", `at most this many (1-${DLQ_RETRY_MAX})`, wholeNumberUpTo(DLQ_RETRY_MAX), DLQ_RETRY_MAX)
  .addHelpText("after", `
Examples:
  $ npx cdp dlq retry --source calls
  $ npx cdp dlq retry --rule bad_timestamp --since 2024-11-01`)
  .action((opts: DlqOptions) => {
    const main = Effect.gen(function* () {
      const { retryDeadLetters } = yield* Effect.promise(() => import("../ingest/dlq.ts"))
      const filter = dlqFilter(opts)
      const backend = backendConfig(opts.dataDir)
      // Zone-less times are read in their source's timeZone, as when they arrived. While cdp serve holds the data dir,
      // its pipeline re-drives them (POST /v1/dead-letters/retry) with its own settings, so CDP_SOURCE_OPTIONS is read
      // only once the data dir is this command's (inside the pipeline's Layer, which fails first when it is locked).
      const direct = Effect.flatMap(readSetting(SETTINGS.sourceOptions), (sourceOptions) => retryDeadLetters(filter, sourceOptions))
      const s = yield* directOrServer(backend, direct.pipe(Effect.scoped, Effect.provide(pipelineLayer(backend))), (server) =>
        callServer<Effect.Success<ReturnType<typeof retryDeadLetters>>>(server, "POST", "/v1/dead-letters/retry",
          { ...dlqParams(opts), ...(filter.limit === undefined ? {} : { limit: filter.limit }) }))
      process.stdout.write(`retried ${s.retried} dead letters: ${s.landed} landed, ${s.stillRejected} still rejected\n`)
      for (const r of s.results.filter((x) => x.outcome === "still_rejected").slice(0, 20)) {
        process.stdout.write(`  still rejected: ${r.source} ${r.rule}: ${r.reason}\n`)
      }
    })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

const sentiment = program.command("sentiment").description("score texts for sentiment, or rescore history")

sentiment
  .command("score")
  .description("score texts, one per input line, into one JSON result per output line (nothing is stored)")
  .argument("[file]", "a file of texts, one per line; - or nothing for standard input")
  .addOption(new Option("--format <format>", "output format").choices(["json", "table"]).default("json"))
  .option("--tenant <tenant>", "use this tenant's aspects from CDP_ASPECTS_FILE", DEFAULT_TENANT)
  .addHelpText("after", `
Each result: {"status","score","label","evidence":[{token,rule,weight}],"aspects":[...]} (score in [-1, 1];
labels positive / neutral / negative at +-0.05). Non-English text is "unscored" with a reason. Brand names in
CDP_BRAND_TERMS (comma separated) do not count. CDP_ASPECTS_FILE adds aspects: {"*": {"sizing": ["size", "fit"]},
"acme": {"loyalty": ["points", "rewards card"]}} ("*" for every tenant).

Examples:
  $ echo "the jacket is great but delivery was sooo slow" | npx cdp sentiment score
  $ npx cdp sentiment score reviews.txt --format table`)
  .action((file: string | undefined, opts: { format: OutputFormat; tenant: string }) => {
    runCommand(Effect.gen(function* () {
      const { scoreTextLines } = yield* Effect.promise(() => import("./sentiment.ts"))
      yield* scoreTextLines(file, opts.format, opts.tenant)
    }))
  })

sentiment
  .command("evaluate")
  .description("measure the model on your own labelled or rated texts, with the metrics of the shared evaluation sets")
  .argument("<file>", "texts one a line (with --labels), or rated lines: id<TAB>rating<TAB>text or rating<TAB>text (--ratings)")
  .option("--labels <file>", "one label a line for the texts: 0/1/2 or negative/neutral/positive (macro recall, F1 pos/neg, accuracy)")
  .option("--ratings", "the file holds rated texts (Pearson r and weighted F1 at +-0.05)")
  .option("--scale <n>", "ratings are divided by this to fall in [-1, 1]", positiveInt, 4)
  .addOption(new Option("--format <format>", "output format").choices(["json", "table"]).default("table"))
  .option("--tenant <tenant>", "use this tenant's terms and aspects", DEFAULT_TENANT)
  .addHelpText("after", `
Examples:
  $ npx cdp sentiment evaluate tweets.txt --labels labels.txt
  $ npx cdp sentiment evaluate reviews.tsv --ratings --scale 4`)
  .action((file: string, opts: { labels?: string; ratings?: boolean; scale: number; format: OutputFormat; tenant: string }) => {
    runCommand(Effect.gen(function* () {
      const { evaluateFile } = yield* Effect.promise(() => import("./sentiment.ts"))
      yield* evaluateFile(file, opts)
    }))
  })

sentiment
  .command("rescore")
  .description("score stored texts again with the current model (after a model change); safe to repeat")
  .requiredOption("--since <date>", "rescore texts of messages from this date (ISO 8601) on", dayOnTheCalendar)
  .option("--tenant <tenant>", "only this tenant")
  .addOption(dataDirOption())
  .addHelpText("after", `
Examples:
  $ npx cdp sentiment rescore --since 2024-09-01`)
  .action((opts: { since: string; tenant?: string; dataDir?: string }) => {
    const since = new Date(opts.since)
    if (Number.isNaN(since.getTime())) program.error(`cdp: --since ${JSON.stringify(shownText(opts.since, 40))} is not a date (use e.g. 2024-09-01)`)
    const main = Effect.gen(function* () {
      const config = yield* sentimentSettings
      const { rescore } = yield* Effect.promise(() => import("../sentiment/index.ts"))
      const { directOrServer, followOperation } = yield* Effect.promise(() => import("./server-info.ts"))
      const backend = backendConfig(opts.dataDir)
      const tenant = opts.tenant ? { tenant: opts.tenant } : {}
      // While cdp serve holds the data dir, the rescore runs in it (POST /v1/operations/rescore), with its settings.
      const summary = yield* directOrServer(backend, rescore({ since, config, ...tenant }).pipe(Effect.provide(warehouseLayer(backend))),
        (server) => followOperation<RescoreSummary>(server, "/v1/operations/rescore", { since: opts.since, ...tenant }))
      process.stdout.write(`rescored ${summary.texts} texts with model ${summary.model || "(none)"}: ${summary.scored} scored, ${summary.unscored} unscored\n`)
    })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

const listen = program.command("listen").description("social listening for marketers")

/** `cdp listen report --until` at or before `--since` (dates given the wrong way round): the period holds no time. */
class ListenPeriodInvalid extends Data.TaggedError("ListenPeriodInvalid")<{ readonly since: string; readonly until: string }> {
  override get message() {
    return `--until (${this.until}) must be after --since (${this.since})`
  }
}

listen
  .command("report")
  .description("brand mentions, reach, sentiment per day and aspect, top authors, emerging topics, spikes (raises alerts)")
  .option("--since <when>", "start: 7d, 2w, 24h, or a date (2024-09-01)", dayOnTheCalendar, "7d")
  .option("--until <when>", "end (exclusive for times, inclusive for a date); default now", dayOnTheCalendar)
  .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
  .addOption(new Option("--format <format>", "output format").choices(["table", "json", "html"]).default("table"))
  .option("--out <file>", "write the report to a file (html defaults to listen-report.html)", flagParser((value: string) => {
    if (value.trim() === "") throw new Error("must name a file, not an empty value")
    return value
  }))
  .option("--no-alerts", "do not record alerts or call the alert webhook")
  .addOption(dataDirOption())
  .addHelpText("after", `
Spikes: a day whose negative (or total) mentions exceed the trailing median + k * MAD raises an alert row (table
alerts) and a POST to CDP_ALERT_WEBHOOK_URL (counts only, no personal data). Spam and bait are filtered out and
counted. Brand terms (CDP_BRAND_TERMS) do not count as topics or sentiment.

Examples:
  $ npx cdp listen report
  $ npx cdp listen report --since 2024-09-01 --until 2024-12-01 --format html --out report.html`)
  .action((opts: { since: string; until?: string; tenant: string; format: "table" | "json" | "html"; out?: string; alerts: boolean; dataDir?: string }) => {
    const main = Effect.gen(function* () {
      const { InvalidPeriod, listenReport, parseSince, parseUntil, periodTooLong, renderListenHtml, renderListenText, SinceInFuture } = yield* Effect.promise(() => import("../sentiment/index.ts"))
      // Which flag is wrong, named (the period's own words say what is taken).
      const named = (flag: string) => (e: unknown) => e instanceof InvalidPeriod || e instanceof SinceInFuture ? new Error(`${flag}: ${e.message}`) : e as Error
      const since = yield* Effect.try({ try: () => parseSince(opts.since), catch: named("--since") })
      const until = opts.until === undefined ? undefined : yield* Effect.try({ try: () => parseUntil(opts.until!), catch: named("--until") })
      if (until !== undefined && until.getTime() <= since.getTime()) return yield* Effect.fail(new ListenPeriodInvalid({ since: opts.since, until: opts.until! }))
      const tooLong = periodTooLong(since, until)
      if (tooLong !== undefined) return yield* Effect.fail(new Error(`--since: ${tooLong}`))
      const brand = yield* readSetting(SETTINGS.brandTerms)
      const webhookUrl = opts.alerts ? yield* readSetting(SETTINGS.alertWebhookUrl) : undefined
      const webhookPrivateNetwork = opts.alerts ? yield* readSetting(SETTINGS.alertWebhookPrivateNetwork) : false
      // Checked before the report runs: it records its spikes as alerts (and calls the webhook), and would be lost.
      const out = opts.out ?? (opts.format === "html" ? "listen-report.html" : undefined)
      if (out !== undefined) yield* Effect.try({ try: () => checkWritable(out), catch: (e) => FileUnwritable.of(out, e) })
      const backend = backendConfig(opts.dataDir)
      // While cdp serve holds the data dir, its GET /v1/listening/report makes the report (its brand terms and webhook).
      const report = yield* directOrServer(backend, withRelationships(listenReport({
        tenant: opts.tenant, since, ...(until === undefined ? {} : { until }), raiseAlerts: opts.alerts, brand,
        ...(webhookUrl === undefined ? {} : { webhookUrl, webhookPrivateNetwork }),
      })).pipe(
        Effect.provide(warehouseLayer(backend))), (server) => listenReportThroughServer(server, { tenant: opts.tenant, since, until, alerts: opts.alerts }))
      const text = opts.format === "json" ? JSON.stringify(report, null, 2) : opts.format === "html" ? renderListenHtml(report) : renderListenText(report)
      if (out === undefined) {
        process.stdout.write(`${text}\n`)
      } else {
        yield* Effect.try({ try: () => writeFileSync(out, text), catch: (e) => FileUnwritable.of(out, e) })
        process.stdout.write(`wrote ${out}: ${report.mentions.total} mentions, ${report.spikes.length} spikes\n`)
      }
    })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

program
  .command("query")
  .description("run read-only SQL against one tenant's rows (JSON lines by default)")
  .argument("<sql>", "one SELECT / WITH / SHOW / DESCRIBE / EXPLAIN / EXISTS statement; - reads it from stdin")
  .option("--tenant <tenant>", "whose rows the query sees", DEFAULT_TENANT)
  .option("--all-tenants", "see every tenant's rows (logged, with a hash of the SQL)")
  .addOption(new Option("--format <format>", "output format").choices(["json", "table"]).default("json"))
  .addOption(dataDirOption())
  .addHelpText("after", `
Tables: events, dead_letters, texts, sentiment, alerts (see README). JSON columns (properties, traits, context) are
read with JSONExtract*.

Read-only and scoped, enforced by the engine: the statement runs in a read-only context that sees only the tenant's
rows of every table with a tenant column (however the table is named), cannot write, read files or reach the
network, and has limits (time, memory, result size); a query over a limit fails and says which.

Examples:
  $ npx cdp query "SELECT type, count() AS n FROM events GROUP BY type ORDER BY n DESC" --format table
  $ npx cdp query --tenant acme "SELECT profile_id, count() FROM events WHERE timestamp > now() - INTERVAL 30 DAY GROUP BY profile_id"
  $ npx cdp query --all-tenants "SELECT tenant, count() FROM events GROUP BY tenant"
  $ npx cdp query - --format table < report.sql
  $ npx cdp query "SELECT JSONExtractString(properties, 'product_id') AS product, count() FROM events
                   WHERE event = 'Product Viewed' GROUP BY product"`)
  .action((sql: string, opts: { format: OutputFormat; dataDir: string; tenant: string; allTenants?: boolean }, command: Command) => {
    if (opts.allTenants && command.getOptionValueSource("tenant") !== "default") {
      program.error("cdp: give either --tenant or --all-tenants, not both")
    }
    const scope: QueryScope = opts.allTenants ? { allTenants: true } : { tenant: opts.tenant }
    const config = backendConfig(opts.dataDir)
    const statementOf = (text: string) => text.trim().replace(/;+\s*$/, "")
    const print = (rows: ReadonlyArray<Record<string, unknown>>) => {
      const text = formatRows(rows, opts.format)
      if (text !== "") process.stdout.write(`${text}\n`)
    }
    const direct = (statement: string) => Effect.gen(function* () {
      const warehouse = yield* Warehouse
      print(yield* warehouse.analystQuery<Record<string, unknown>>(statement, scope))
    }).pipe(Effect.scoped, Effect.provide(warehouseLayer(config)))
    // "-": the statement is stdin's, read before the engine opens.
    const given = sql === "-" ? readStdinStatement(MAX_QUERY_BYTES, "cdp query") : Effect.succeed(sql)
    // While `cdp serve` holds the data dir, ask it instead.
    const main = Effect.flatMap(Effect.map(given, statementOf), (statement) => direct(statement).pipe(
      Effect.catchTag("DataDirLocked", (locked): Effect.Effect<void, DataDirLocked | ServerQueryFailed> => {
        const server = runningServer(config.dataDir)
        return server === undefined ? Effect.fail(locked) : Effect.map(queryThroughServer(server, statement, scope), print)
      })))
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

const identityFormat = () => new Option("--format <format>", "output format").choices(["json", "table"]).default("table")

/** The identity configuration the pipeline runs with (cli/layers.ts). */
const identityConfig = () => identityConfigOf(settingNow(SETTINGS.identityRules), settingNow(SETTINGS.phoneRegions))

const IDENTIFIER_HELP = `Identifiers: KIND:VALUE with KIND one of ${[...IDENTIFIER_KINDS].join(", ")};
a bare e-mail address, +phone number or @handle; or a profile id (prof_...).`

const profile = program.command("profile").description("unified customer profiles")

profile
  .command("show")
  .description("the profile of any identifier: channels, identifiers with provenance, traits, merges, sentiment, recent events")
  .argument("<identifier>", "whose profile (e.g. email:ann@x.example, +447700900123, user_id:u1, prof_...)")
  .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
  .addOption(identityFormat())
  .option("--events <n>", "recent events to show (0-1000)", flagParser((value: string) => {
    const n = Number(value)
    if (!/^\d+$/.test(value) || n > 1000) throw new Error("must be a whole number from 0 to 1000")
    return n
  }), 20)
  .addOption(dataDirOption())
  .addHelpText("after", `
${IDENTIFIER_HELP}
While cdp serve holds the data dir, the profile is read through its GET /v1/profiles/{identifier}.

Examples:
  $ npx cdp profile show ann@x.example
  $ npx cdp profile show phone:+447700900123 --tenant acme --format json
  $ npx cdp profile show user_id:u1 --events 50`)
  .action((identifier: string, opts: { tenant: string; format: OutputFormat; events: number; dataDir?: string }) => {
    const main = profileShow({ identifier, tenant: opts.tenant, events: opts.events, format: opts.format, backend: backendConfig(opts.dataDir), config: identityConfig(), traitPrecedence: settingNow(SETTINGS.traitPrecedence), policies: settingNow(SETTINGS.consent) })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

profile
  .command("events")
  .description("a profile's cross-channel timeline, newest first, page by page (a keyset cursor: nothing skipped or repeated while events land)")
  .argument("<identifier>", "whose timeline (e.g. email:ann@x.example, user_id:u1, prof_...)")
  .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
  .option("--limit <n>", "events per page (1-1000, default 50)")
  .option("--cursor <cursor>", "the next page's cursor, as the previous page printed it")
  .option("--channel <channels>", "only these channels (comma-separated or repeated: web,email)", collect, [])
  .option("--event <name>", "only this event name (repeat for several)", collect, [])
  .option("--since <time>", "events at or after this ISO 8601 time", dayOnTheCalendar)
  .option("--until <time>", "events before this ISO 8601 time", dayOnTheCalendar)
  .addOption(identityFormat())
  .addOption(dataDirOption())
  .addHelpText("after", `
${IDENTIFIER_HELP}
While cdp serve holds the data dir, the timeline is read through its GET /v1/profiles/{identifier}/events.

Examples:
  $ npx cdp profile events ann@x.example --limit 20
  $ npx cdp profile events user_id:u1 --channel web,email --event "Order Completed" --since 2024-10-01 --format json`)
  .action((identifier: string, opts: {
    tenant: string; limit?: string; cursor?: string; channel: Array<string>; event: Array<string>; since?: string; until?: string
    format: OutputFormat; dataDir?: string
  }) => {
    const params = {
      limit: opts.limit, cursor: opts.cursor, since: opts.since, until: opts.until,
      ...(opts.channel.length === 0 ? {} : { channel: opts.channel }), ...(opts.event.length === 0 ? {} : { event: opts.event }),
    }
    const main = profileEvents({ identifier, tenant: opts.tenant, params, format: opts.format, backend: backendConfig(opts.dataDir), config: identityConfig() })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

const traits = program.command("traits").description("computed traits (CDP_COMPUTED_TRAITS): preview one before saving it")

traits
  .command("preview")
  .description("what a computed-trait definition would show: its value for a sample of profiles and the distribution; saves nothing")
  .requiredOption("--definition <json>", 'one definition: {"name", "kind": count|sum|first|last|most_frequent|latest_sentiment, "events"?, "channels"?, "of"?, "windowDays"?}')
  .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
  .option("--sample <n>", "profiles to show (1-1000)", flagParser((value: string) => {
    const n = Number(value)
    if (!/^\d+$/.test(value) || n < 1 || n > 1000) throw new Error("must be a whole number from 1 to 1000")
    return n
  }), 10)
  .addOption(identityFormat())
  .addOption(dataDirOption())
  .addHelpText("after", `
"of" is what the value is: properties.NAME (a top-level property), event or channel; sum, first, last and
most_frequent need it. "windowDays" counts only the last N days (today included). While cdp serve holds the data
dir, the preview goes through it (POST /v1/traits/preview). Once it looks right, add it to CDP_COMPUTED_TRAITS (a
list per tenant, "*" for every tenant): the next start backfills it and the warehouse keeps it current as events land.

Examples:
  $ npx cdp traits preview --definition '{"name":"orders_30d","kind":"count","events":["Order Completed"],"windowDays":30}'
  $ npx cdp traits preview --definition '{"name":"spend","kind":"sum","events":["Order Completed"],"of":"properties.total"}' --format json
  $ npx cdp traits preview --definition '{"name":"top_channel","kind":"most_frequent","of":"channel"}' --tenant acme`)
  .action((opts: { definition: string; tenant: string; sample: number; format: OutputFormat; dataDir?: string }) => {
    const main = traitsPreview({ definition: opts.definition, tenant: opts.tenant, sample: opts.sample, format: opts.format, backend: backendConfig(opts.dataDir) })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

const identity = program.command("identity").description("explain, rebuild and review identity resolution")

/**
 * A command's identifiers, checked in its own words before anything is opened: commander would name its placeholder
 * ("missing required argument 'b'"), not what to give. Each is declared optional so that this check runs instead.
 */
const identifiersGiven = (command: Command, given: ReadonlyArray<string | undefined>, takes: string, example: string): void => {
  const n = given.filter((x) => x !== undefined).length
  if (n < given.length) command.error(`error: cdp identity ${command.name()} takes ${takes}, got ${n === 0 ? "none" : "one"} (e.g. ${example})`)
}

identity
  .command("explain")
  .description("why two identifiers are one person (the chain of links, each with its message, time, rule and trust) or why not")
  .usage("[options] <a> <b>")
  .argument("[a]", "an identifier")
  .argument("[b]", "another identifier")
  .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
  .addOption(identityFormat())
  .addOption(dataDirOption())
  .addHelpText("after", `
${IDENTIFIER_HELP}

Examples:
  $ npx cdp identity explain email:ann@x.example anonymous_id:3f2c9a
  $ npx cdp identity explain user_id:u1 +447700900123 --format json`)
  .action((a: string | undefined, b: string | undefined, opts: { tenant: string; format: OutputFormat; dataDir?: string }, command: Command) => {
    identifiersGiven(command, [a, b], "two identifiers (A and B)", "cdp identity explain email:ann@x.example user_id:u1")
    if (a === undefined || b === undefined) return
    const main = identityExplain({ first: a, second: b, tenant: opts.tenant, format: opts.format, backend: backendConfig(opts.dataDir), config: identityConfig() })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

identity
  .command("rebuild")
  .description("recompute the identity graph from stored observations with the current rules; reports what moved")
  .option("--tenant <tenant>", "only this tenant (default: every tenant)")
  .addOption(identityFormat())
  .addOption(dataDirOption())
  .addHelpText("after", `
Deterministic and safe to repeat: a second rebuild with the same rules moves nothing. Run it after changing the
identity configuration (CDP_IDENTITY_RULES, CDP_PHONE_REGIONS). While cdp serve holds the data dir, the rebuild runs in
it, with the rules it was started with (restart it after changing them), and its running graph follows.

Examples:
  $ npx cdp identity rebuild
  $ npx cdp identity rebuild --tenant acme --format json`)
  .action((opts: { tenant?: string; format: OutputFormat; dataDir?: string }) => {
    const main = identityRebuild({ tenant: opts.tenant, format: opts.format, config: identityConfig(), backend: backendConfig(opts.dataDir) })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

identity
  .command("suggestions")
  .description("probable duplicate profiles (similar names with similar e-mails or phones), each with its evidence; never merged automatically")
  .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
  .addOption(identityFormat())
  .option("--limit <n>", "at most this many, best first", positiveInt, 50)
  .addOption(dataDirOption())
  .addHelpText("after", `
Names come from traits (name, or first_name and last_name); e-mail addresses and phone numbers from what each
profile's messages were seen with. JSON output is one suggestion a line. While cdp serve holds the data dir, the
list and the decisions go through it (/v1/identity/suggestions).

Examples:
  $ npx cdp identity suggestions
  $ npx cdp identity suggestions --tenant acme --limit 10 --format json`)
  .option("--accept <id>", "merge the two profiles of this suggestion (recorded with the reason, applied by a rebuild)")
  .option("--dismiss <id>", "do not suggest this pair again")
  .option("--reason <text>", "why (kept with the decision)", "")
  .action((opts: { tenant: string; format: OutputFormat; limit: number; dataDir?: string; accept?: string; dismiss?: string; reason: string }) => {
    if (opts.accept !== undefined && opts.dismiss !== undefined) program.error("cdp: give --accept or --dismiss, not both")
    const id = opts.accept ?? opts.dismiss
    const backend = backendConfig(opts.dataDir)
    const main = id === undefined
      ? identitySuggestions({ tenant: opts.tenant, format: opts.format, limit: opts.limit, backend })
      : identitySuggestionDecision({ id, accept: opts.accept !== undefined, tenant: opts.tenant, reason: opts.reason, format: opts.format, config: identityConfig(), backend })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

identity
  .command("split")
  .description("take an identifier out of linking: what only it joined splits off into profiles of their own (a recorded decision)")
  .usage("[options] <identifier>")
  .argument("[identifier]", "KIND:VALUE, e.g. phone:+442079460000")
  .requiredOption("--reason <text>", "why (kept with the decision)")
  .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
  .addOption(identityFormat())
  .addOption(dataDirOption())
  .addHelpText("after", `
The decision is stored in identity_operations and applied at once by a rebuild of the tenant; the split is recorded in
profile_merges. While cdp serve holds the data dir, it goes through the server (POST /v1/identity/split), which
also applies it to the running graph.

Examples:
  $ npx cdp identity split phone:+442079460000 --reason "the shop's switchboard, typed by customers"`)
  .action((identifier: string | undefined, opts: { reason: string; tenant: string; format: OutputFormat; dataDir?: string }, command: Command) => {
    identifiersGiven(command, [identifier], "the identifier to take out of linking (KIND:VALUE)", `cdp identity split phone:+442079460000 --reason "the shop's switchboard"`)
    if (identifier === undefined) return
    const main = identitySplit({ identifier, tenant: opts.tenant, reason: opts.reason, format: opts.format, config: identityConfig(), backend: backendConfig(opts.dataDir) })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

identity
  .command("separate")
  .description("two identifiers are different people: revert the merge that joined them (a recorded decision)")
  .usage("[options] <a> <b>")
  .argument("[a]", "an identifier")
  .argument("[b]", "another identifier")
  .requiredOption("--reason <text>", "why (kept with the decision)")
  .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
  .addOption(identityFormat())
  .addOption(dataDirOption())
  .addHelpText("after", `
No chain of links may join the two afterwards. Stored in identity_operations, applied at once by a rebuild (through
cdp serve's POST /v1/identity/separate while it holds the data dir).

Examples:
  $ npx cdp identity separate user_id:u1 email:family@x.example --reason "a shared family inbox"`)
  .action((a: string | undefined, b: string | undefined, opts: { reason: string; tenant: string; format: OutputFormat; dataDir?: string }, command: Command) => {
    identifiersGiven(command, [a, b], "two identifiers (A and B) to keep apart", `cdp identity separate user_id:u1 email:family@x.example --reason "a shared family inbox"`)
    if (a === undefined || b === undefined) return
    const main = identitySeparate({ first: a, second: b, tenant: opts.tenant, reason: opts.reason, format: opts.format, config: identityConfig(), backend: backendConfig(opts.dataDir) })
    runCommand(main.pipe(Effect.provide(commandLogger)))
  })

registerDsrCommands(program, { dataDirOption, normalise: () => identityConfig().extract.normalise })
registerAudienceCommands(program, { dataDirOption, flagParser })
registerExportCommands(program, { dataDirOption })
registerTokenCommands(program, { dataDirOption })
registerConsentCommands(program, { dataDirOption, identity: identityConfig })
registerRelationsCommands(program, { dataDirOption, identity: identityConfig })
registerWorkerCommand(program, { dataDirOption })
registerRetentionCommands(program, { dataDirOption })

program
  .command("demo")
  .description("land a bundled realistic sample in a fresh data dir and show what landed and what was rejected")
  .option("--data-dir <dir>", "fresh data dir for the demo (wiped first if an earlier demo made it)", dataDirPath, ".cdp-demo")
  .addHelpText("after", `
Examples:
  $ npx cdp demo
  $ npx cdp query "SELECT event, count() FROM events WHERE type = 'track' GROUP BY event" --data-dir .cdp-demo`)
  .action((opts: { dataDir: string }) => {
    runCommand(runDemo(opts.dataDir).pipe(Effect.provide(commandLogger)), {
      whenStopped: `the demo finished: what landed before the interrupt stays in ${opts.dataDir}; ` +
        `cdp demo --data-dir ${shellWord(opts.dataDir)} starts over (it wipes the dir it made)`,
    })
  })

/** `cdp ingest --dry-run`: parses and validates with the same source, lands nothing, needs no data dir. */
/** What cdp ingest says of the times it read without a zone (ImportSummary.zonelessTimes): each zone they were read in. */
const zonelessLines = (counts: Readonly<Record<string, number>>, sourceOptions: Record<string, unknown> | undefined, dry: boolean): string =>
  Object.entries(counts).map(([zone, n]) => {
    const read = `  ${n} ${n === 1 ? "time" : "times"} had no zone and ${dry ? "would be" : n === 1 ? "was" : "were"} read`
    return zone === "UTC" && sourceOptions?.["timeZone"] === undefined
      ? `${read} as UTC (set the source's "timeZone" in CDP_SOURCE_OPTIONS or --source-options)\n`
      : `${read} in ${zone}\n`
  }).join("")

const dryRun = (sourceName: string, path: string, tenant: string, sourceOptions: Record<string, unknown> | undefined) =>
  Effect.gen(function* () {
    const source = FILE_SOURCES.get(sourceName)!
    const file = yield* readableFile(path)
    yield* refuseUnreadableFile(file)
    let accepted = 0
    const rejected: Array<string> = []
    const zoneless: Record<string, number> = {}
    yield* Effect.tryPromise({
      try: async () => {
        for await (const item of source.read(file, { tenant, receivedAtMs: Date.now(), ...(sourceOptions === undefined ? {} : { options: sourceOptions }) })) {
          if (item._tag === "event") {
            accepted++
            countZonelessTimes([item.event], zoneless)
          } else rejected.push(`${item.deadLetter.rejection.rule} ${item.deadLetter.rejection.field}: ${item.deadLetter.rejection.message}`)
        }
      },
      catch: (cause) => FileUnreadable.of(path, cause),
    })
    if (accepted + rejected.length === 0) return yield* Effect.fail(new EmptyInput({ path }))
    for (const line of rejected.slice(0, 50)) process.stdout.write(`  rejected: ${line}\n`)
    if (rejected.length > 50) process.stdout.write(`  ... and ${rejected.length - 50} more\n`)
    process.stdout.write(`${path} (dry run, nothing landed): ${accepted} would be accepted, ${rejected.length} rejected\n`)
    process.stdout.write(zonelessLines(zoneless, sourceOptions, true))
    if (accepted === 0) return yield* Effect.fail(new NothingLanded({ path, rejected: rejected.length, dryRun: true }))
  })

// Every command offers help one way (-h, --help): commander would add a `help [command]` entry to each group too. A
// group run without its command (cdp, cdp dlq) says in one line which commands it has, rather than printing its whole
// help on stderr; an unknown one is named, also when the flags of the command meant follow it (`cdp consent grant ID
// --data-dir D` was "unknown option '--data-dir'", a flag the command meant takes).
const oneWayToHelp = (command: Command): void => {
  command.helpCommand(false)
  if (command.commands.length > 0) {
    command.allowExcessArguments(true).allowUnknownOption(true).action(function (this: Command) {
      const names = this.commands.map((c) => c.name()).join(", ")
      const path = this === program ? "cdp" : `cdp ${this.name()}`
      const first = this.args[0]
      this.error(first === undefined
        ? `error: ${path} needs a command: ${names} (${path} --help describes each)`
        : first.startsWith("-")
          ? `error: unknown option '${first}' (${path} needs a command first: ${names})`
          : `error: unknown command '${first}' (${path} has: ${names})`)
    })
  }
  for (const sub of command.commands) oneWayToHelp(sub)
}
oneWayToHelp(program)
refuseRepeatedFlags(program)

guardStdout()

// What fails before a command's program starts (e.g. a wrong environment variable read while choosing its Layers) is
// still one line and exit 1.
await program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(isUserError(error) ? `cdp: ${userMessage(error)}\n` : `cdp: internal error: ${(error as Error)?.stack ?? String(error)}\n`)
  process.exit(1)
})
