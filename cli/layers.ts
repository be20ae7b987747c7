// The one place where Layers are chosen from configuration. The defaults need no configuration at all:
// the in-process bus and ClickHouse embedded (chDB) in the data directory.
import { join, resolve } from "node:path"
import { Effect, Layer, Logger, References } from "effect"
import { identityConfigOf, syncTraitPrecedence } from "../identity/index.ts"
import { loadSecret, makeKeys } from "../consent/index.ts"
import { EventBus } from "../ingest/bus.ts"
import { ObjectStore, type ObjectStoreError } from "../ingest/objectstore.ts"
import type { S3StoreOptions } from "../ingest/objectstore-s3.ts"
import { Pipeline } from "../ingest/pipeline.ts"
import { Warehouse } from "../warehouse/warehouse.ts"
import { applyStoredRetention } from "./retention.ts"
import { DEFAULT_DATA_DIR, readSetting, s3SettingsNow, sentimentSettings, SETTINGS, settingNow } from "./config.ts"
import { type DataDirUnusable, prepareDataDir } from "./data-dir.ts"

export { DEFAULT_DATA_DIR }

export interface BackendConfig {
  readonly dataDir: string
  /** CDP_CLICKHOUSE_URL: a ClickHouse server instead of the embedded engine. */
  readonly clickhouseUrl?: string | undefined
  /** CDP_S3_BUCKET and the other CDP_S3_* settings: objects in S3 instead of <data-dir>/objects. */
  readonly s3?: S3StoreOptions | undefined
}

/** The data dir of a command: its --data-dir flag, else CDP_DATA_DIR, else the default. Throws SettingInvalid. */
export const backendConfig = (dataDir: string | undefined): BackendConfig => ({
  dataDir: resolve(dataDir ?? settingNow(SETTINGS.dataDir)),
  clickhouseUrl: settingNow(SETTINGS.clickhouseUrl),
  s3: s3SettingsNow(),
})

/** Creates the data dir private, or makes an existing one private, before anything is written into it. */
export const dataDirLayer = (config: BackendConfig) => Layer.effectDiscard(prepareDataDir(config.dataDir))

/** Where the embedded engine keeps its files inside a data directory. */
export const embeddedWarehouseDir = (dataDir: string) => join(dataDir, "clickhouse")

export const warehouseLayer = (config: BackendConfig) =>
  config.clickhouseUrl
    ? Warehouse.server(config.clickhouseUrl)
    : Warehouse.embedded(embeddedWarehouseDir(config.dataDir)).pipe(Layer.provide(dataDirLayer(config)))

export const busLayer = (_config: BackendConfig) => EventBus.memory

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
export const pipelineLayer = (config: BackendConfig) =>
  Layer.unwrap(Effect.gen(function* () {
    const identity = (yield* readSetting(SETTINGS.identity)) === "off" ? false
      : identityConfigOf(yield* readSetting(SETTINGS.identityRules), yield* readSetting(SETTINGS.phoneRegions))
    yield* syncTraitPrecedence(yield* readSetting(SETTINGS.traitPrecedence))
    yield* applyStoredRetention(yield* readSetting(SETTINGS.retention))
    // The keyed-hash secret of the data dir: the suppression list of erased people is kept under it.
    const keys = makeKeys(yield* loadSecret(config.dataDir))
    return Pipeline.make({ identity, consent: yield* readSetting(SETTINGS.consent), keys, sentiment: yield* sentimentSettings })
  })).pipe(
    Layer.provideMerge(Layer.mergeAll(busLayer(config), warehouseLayer(config), objectStoreLayer(config))),
  )

/** Structured JSON log lines: on stdout for the server, on stderr (warnings only) for one-shot commands. */
export const serverLogger = Logger.layer([Logger.consoleJson])
export const commandLogger = Layer.merge(
  Logger.layer([Logger.withConsoleError(Logger.formatJson)]),
  Layer.succeed(References.MinimumLogLevel, "Warn"),
)
