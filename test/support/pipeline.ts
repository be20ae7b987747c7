// Test support: a real pipeline (in-process bus, embedded ClickHouse in a fresh temp dir) and collector.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Logger, type Scope } from "effect"
import { afterEach, beforeEach } from "vitest"
import { pipelineLayer } from "../../cli/layers.ts"
import { EventBus } from "../../ingest/bus.ts"
import { Collector } from "../../ingest/collector.ts"
import type { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { type WriteKeyEntry, writeKeys } from "../../ingest/writekeys.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { seededBackendConfig, seedWarehouse } from "./warehouse-template.ts"

const quiet = Logger.layer([])

/**
 * Runs `program` with `layer`'s services (a data dir's warehouse, object store, keys), everything it opened closed when
 * it ends, its logs silenced: a test that reads logs provides its own logger inside `program`.
 */
export const runWith = <A, E, ROut, LE>(layer: Layer.Layer<ROut, LE>, program: Effect.Effect<A, E, ROut | Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(layer), Effect.provide(quiet)) as Effect.Effect<A, E | LE>)

/**
 * Runs a program on an embedded warehouse in `dir`/clickhouse (a fresh one a copy of the run's migrated template:
 * warehouse-template.ts), closed when it ends, its logs silenced (runWith).
 */
export const withEmbeddedWarehouse = <A, E>(dir: string, program: Effect.Effect<A, E, Warehouse | Scope.Scope>) => {
  seedWarehouse(join(dir, "clickhouse"))
  return runWith(Layer.fresh(Warehouse.embedded(join(dir, "clickhouse"))), program)
}

export const freshDir = (prefix = "cdp-test-") => mkdtempSync(join(tmpdir(), prefix))

export const removeDir = (dir: string) => rmSync(dir, { recursive: true, force: true })

/**
 * Fresh temp dirs for each test of the file, by name: made before each test, removed after it (as a test's one dir is
 * with freshDir/removeDir), for tests that copy one data dir's archive to another and replay it there. Read them in
 * the tests (`dirs.a`), not when the file loads.
 */
export const freshDirsPerTest = <K extends string>(...names: ReadonlyArray<K>): Readonly<Record<K, string>> => {
  const dirs = {} as Record<K, string>
  beforeEach(() => { for (const name of names) dirs[name] = freshDir() })
  afterEach(() => { for (const name of names) removeDir(dirs[name]) })
  return dirs
}

export type PipelineServices = Pipeline | Warehouse | EventBus | ObjectStore

/** Runs `program` against a real pipeline on `dataDir`, closing everything (drained) afterwards. */
export const withPipeline = <A, E>(dataDir: string, program: Effect.Effect<A, E, PipelineServices | Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(pipelineLayer(seededBackendConfig(dataDir))), Effect.provide(quiet)))

export const WRITE_KEY = "wk_test_key"
export const OTHER_TENANT_KEY = "wk_other_key"

export const TEST_KEYS: ReadonlyArray<WriteKeyEntry> = [{ writeKey: WRITE_KEY, tenant: "acme" }, { writeKey: OTHER_TENANT_KEY, tenant: "globex" }]

/** Runs `program` with a collector on a free port, given its URL. */
export const withCollector = <A, E>(
  dataDir: string,
  program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Scope.Scope>,
  entries: ReadonlyArray<WriteKeyEntry> = TEST_KEYS,
) => {
  const keys = writeKeys(entries)
  const layer = Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: keys }).pipe(
    Layer.provideMerge(pipelineLayer(seededBackendConfig(dataDir))),
  )
  return Effect.runPromise(
    Effect.scoped(Effect.gen(function* () {
      const collector = yield* Collector
      return yield* program(collector.url)
    })).pipe(Effect.provide(layer), Effect.provide(quiet)),
  )
}

export const query = <T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    return yield* warehouse.query<T>(sql, params === undefined ? {} : { params })
  })

export const basicAuth = (key: string) => `Basic ${Buffer.from(`${key}:`).toString("base64")}`

export const post = (url: string, body: unknown, headers: Record<string, string> = { authorization: basicAuth(WRITE_KEY) }) =>
  Effect.promise(async () => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  })
