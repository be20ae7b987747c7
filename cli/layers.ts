// The one place where Layers are chosen from configuration. The defaults need no configuration at all:
// the in-process bus and ClickHouse embedded (chDB) in the data directory.
import { join, resolve } from "node:path"
import { Layer, Logger, References } from "effect"
import { EventBus } from "../ingest/bus.ts"
import { ObjectStore } from "../ingest/objectstore.ts"
import { Pipeline } from "../ingest/pipeline.ts"
import { Warehouse } from "../warehouse/warehouse.ts"

export interface BackendConfig {
  readonly dataDir: string
  /** CDP_CLICKHOUSE_URL: a ClickHouse server instead of the embedded engine. */
  readonly clickhouseUrl?: string | undefined
}

export const DEFAULT_DATA_DIR = ".cdp-data"

export const backendConfig = (dataDir: string | undefined): BackendConfig => ({
  dataDir: resolve(dataDir ?? process.env["CDP_DATA_DIR"] ?? DEFAULT_DATA_DIR),
  clickhouseUrl: process.env["CDP_CLICKHOUSE_URL"] || undefined,
})

/** Where the embedded engine keeps its files inside a data directory. */
export const embeddedWarehouseDir = (dataDir: string) => join(dataDir, "clickhouse")

export const warehouseLayer = (config: BackendConfig) =>
  config.clickhouseUrl ? Warehouse.server(config.clickhouseUrl) : Warehouse.embedded(embeddedWarehouseDir(config.dataDir))

export const busLayer = (_config: BackendConfig) => EventBus.memory

export const objectStoreLayer = (config: BackendConfig) => ObjectStore.local(join(config.dataDir, "objects"))

/** Pipeline with the bus, warehouse and object store it runs on (all also exposed, for health and queries). */
export const pipelineLayer = (config: BackendConfig) =>
  Pipeline.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(busLayer(config), warehouseLayer(config), objectStoreLayer(config))),
  )

/** Structured JSON log lines: on stdout for the server, on stderr (warnings only) for one-shot commands. */
export const serverLogger = Logger.layer([Logger.consoleJson])
export const commandLogger = Layer.merge(
  Logger.layer([Logger.withConsoleError(Logger.formatJson)]),
  Layer.succeed(References.MinimumLogLevel, "Warn"),
)
