// The one place where Layers are chosen from configuration. The defaults need no configuration at all:
// the in-process bus and ClickHouse embedded (chDB) in the data directory.
import { join, resolve } from "node:path"
import { Effect, Layer, Logger, References } from "effect"
import { identityConfigOf, syncComputedTraits, syncTraitPrecedence } from "../identity/index.ts"
import { Keys, loadSecret, makeKeys } from "../consent/index.ts"
import { auditSigner } from "../consent/audit.ts"
import { EventBus } from "../ingest/bus.ts"
import { ObjectStore, type ObjectStoreError } from "../ingest/objectstore.ts"
import type { KafkaBusOptions } from "../ingest/bus-kafka.ts"
import type { S3StoreOptions } from "../ingest/objectstore-s3.ts"
import { Pipeline } from "../ingest/pipeline.ts"
import { type AnalystLimits, type ClickHouseServerSettings, Warehouse } from "../warehouse/warehouse.ts"
import { keepRetention } from "./retention.ts"
import { analystLimitsNow, clickhouseSettingsNow, DEFAULT_DATA_DIR, kafkaSettingsNow, readSetting, s3SettingsNow, sentimentSettings, SETTINGS, settingNow } from "./config.ts"
import { type DataDirUnusable, prepareDataDir } from "./data-dir.ts"

export { DEFAULT_DATA_DIR }

export interface BackendConfig {
  readonly dataDir: string
  /** CDP_WAREHOUSE=clickhouse and the CDP_CLICKHOUSE_* settings: ClickHouse servers instead of the embedded engine. */
  readonly clickhouse?: ClickHouseServerSettings | undefined
  /** CDP_S3_BUCKET and the other CDP_S3_* settings: objects in S3 instead of <data-dir>/objects. */
  readonly s3?: S3StoreOptions | undefined
  /** CDP_BUS=kafka and the CDP_KAFKA_* settings: the bus over Kafka instead of in-process. */
  readonly kafka?: KafkaBusOptions | undefined
  /** The CDP_QUERY_* settings: limits of analysts' queries (unset: DEFAULT_ANALYST_LIMITS). */
  readonly analyst?: AnalystLimits | undefined
}

/** The data dir of a command: its --data-dir flag, else CDP_DATA_DIR, else the default. Throws SettingInvalid. */
export const backendConfig = (dataDir: string | undefined): BackendConfig => ({
  dataDir: resolve(dataDir ?? settingNow(SETTINGS.dataDir)),
  clickhouse: clickhouseSettingsNow(),
  s3: s3SettingsNow(),
  kafka: kafkaSettingsNow(),
  analyst: analystLimitsNow(),
})

/** Creates the data dir private, or makes an existing one private, before anything is written into it. */
export const dataDirLayer = (config: BackendConfig) => Layer.effectDiscard(prepareDataDir(config.dataDir, embeddedWarehouseDir(config.dataDir)))

/** Where the embedded engine keeps its files inside a data directory. */
export const embeddedWarehouseDir = (dataDir: string) => join(dataDir, "clickhouse")

export const warehouseLayer = (config: BackendConfig) =>
  config.clickhouse
    ? Warehouse.server(config.clickhouse, { analyst: config.analyst })
    : Warehouse.embedded(embeddedWarehouseDir(config.dataDir), { analyst: config.analyst }).pipe(Layer.provide(dataDirLayer(config)))

// kafkajs is loaded only by a process that uses Kafka. Encrypted (the default), the bus keeps its data keys in the
// warehouse, wrapped under a key derived from the data dir's secret (ingest/bus-crypto.ts).
export const busLayer = (config: BackendConfig) =>
  config.kafka
    ? Layer.unwrap(Effect.gen(function* () {
      if ((yield* readSetting(SETTINGS.kafkaEncryption)) === "off") {
        return (yield* Effect.promise(() => import("../ingest/bus-kafka.ts"))).kafkaBus(config.kafka!)
      }
      const keys = makeKeys(yield* loadSecret(config.dataDir))
      return (yield* Effect.promise(() => import("../ingest/bus-crypto.ts"))).encryptedKafkaBus(config.kafka!, keys)
    }))
    : EventBus.memory

// The AWS SDK takes 0.2-0.4 s to load: only a process that uses S3 loads it.
const s3Layer = (options: S3StoreOptions) =>
  Layer.unwrap(Effect.map(Effect.promise(() => import("../ingest/objectstore-s3.ts")), (m) => m.s3ObjectStore(options)))

export const objectStoreLayer = (config: BackendConfig): Layer.Layer<ObjectStore, DataDirUnusable | ObjectStoreError> =>
  config.s3
    ? s3Layer(config.s3)
    : ObjectStore.local(join(config.dataDir, "objects")).pipe(Layer.provide(dataDirLayer(config)))

/**
 * Pipeline with the bus, warehouse and object store it runs on (all also exposed, for health and queries). Its
 * settings are read as the layer is built, so a wrong one fails it with SettingInvalid (one line), not a defect.
 */
export const pipelineLayer = (config: BackendConfig, role: { readonly consume?: boolean } = {}) =>
  Layer.unwrap(Effect.gen(function* () {
    const identity = (yield* readSetting(SETTINGS.identity)) === "off" ? false
      : identityConfigOf(yield* readSetting(SETTINGS.identityRules), yield* readSetting(SETTINGS.phoneRegions))
    yield* syncTraitPrecedence(yield* readSetting(SETTINGS.traitPrecedence))
    // A new or changed computed trait is backfilled once from what has landed; the warehouse keeps it current after.
    yield* syncComputedTraits(yield* readSetting(SETTINGS.computedTraits))
    // Now and once a day while the pipeline runs (a server runs for months; archive days expire as they pass).
    // A pass that changed something is audited where this process alone appends to the audit log: objects in the data
    // dir, which one process holds. With S3 the log is shared by every worker and server: there only what an admin
    // applies (`cdp retention apply`, POST /v1/operations/retention) is audited.
    yield* keepRetention(yield* readSetting(SETTINGS.retention), {
      maxTokens: yield* readSetting(SETTINGS.maxTokens), ...(config.s3 === undefined ? { audit: yield* auditSigner(config.dataDir) } : {}),
    })
    // The keyed-hash secret of the data dir: the suppression list of erased people is kept under it.
    const keys = makeKeys(yield* loadSecret(config.dataDir))
    // Keys exposed too: consent's reads resolve restrictions (keyed hashes of identifiers) with them.
    return Layer.merge(
      Pipeline.make({ identity, consent: yield* readSetting(SETTINGS.consent), keys, sentiment: yield* sentimentSettings, consume: role.consume }),
      Layer.succeed(Keys, keys))
  })).pipe(
    Layer.provideMerge(busLayer(config).pipe(Layer.provideMerge(Layer.mergeAll(warehouseLayer(config), objectStoreLayer(config))))),
  )

/** Structured JSON log lines: on stdout for the server, on stderr (warnings only) for one-shot commands. */
export const serverLogger = Logger.layer([Logger.consoleJson])
export const commandLogger = Layer.merge(
  Logger.layer([Logger.withConsoleError(Logger.formatJson)]),
  Layer.succeed(References.MinimumLogLevel, "Warn"),
)
