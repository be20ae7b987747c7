// Test support for the token-guarded API on a real collector (embedded engine): one run of a program against a
// collector on a free port with the test write keys and an admin token, and a GET whose answer must be what
// ingest/openapi.json says its route answers.
import { Effect, Layer, Logger, type Scope } from "effect"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import type { Keys } from "../../consent/keys.ts"
import { Collector } from "../../ingest/collector.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { checkResponse, templateOf } from "./openapi.ts"
import { type PipelineServices, TEST_KEYS } from "./pipeline.ts"

export const ADMIN_TOKEN = "test-admin-token"

export type ApiJson = Record<string, any>

/** What a program run by withCollectorApi may use. */
export type ApiServices = PipelineServices | Collector | Keys | Scope.Scope

/** Runs `program` with a collector on `dataDir` (the URL it listens on) and the pipeline behind it. */
export const withCollectorApi = <A, E>(
  dataDir: string, program: (url: string) => Effect.Effect<A, E, ApiServices>,
) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    return yield* program((yield* Collector).url)
  })).pipe(
    Effect.provide(Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS), adminToken: ADMIN_TOKEN }).pipe(
      Layer.provideMerge(pipelineLayer(backendConfig(dataDir))))),
    Effect.provide(Logger.layer([])),
  ))

/** GET (or another method without a body) of `path`; the answer must match openapi.json for its status. */
export const getChecked = (url: string, path: string, options: { token?: string | null; method?: string } = {}) =>
  Effect.promise(async () => {
    const token = options.token === undefined ? ADMIN_TOKEN : options.token
    const res = await fetch(`${url}${path}`, { method: options.method ?? "GET", headers: token === null ? {} : { authorization: `Bearer ${token}` } })
    const body = (await res.json()) as ApiJson
    checkResponse(templateOf(path), "GET", res.status, body)
    return { status: res.status, body }
  })
