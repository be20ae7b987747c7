// Test support: a real collector to call (withApi), and one call to its API with a Bearer token (or none), its status
// and JSON body.
import { Effect, Layer, Logger, type Scope } from "effect"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import type { Keys } from "../../consent/keys.ts"
import { defaultIdentityConfig } from "../../identity/index.ts"
import { Collector, type CollectorOptions } from "../../ingest/collector.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { type PipelineServices, TEST_KEYS } from "./pipeline.ts"

export type ApiBody = Record<string, any>

export const callApi = (url: string, method: string, path: string, token: string | null, body?: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    })
    return { status: res.status, body: (await res.json()) as ApiBody }
  })

/** The admin token of the collectors withApi starts. */
export const TEST_ADMIN_TOKEN = "test-admin-token"

/**
 * Runs `program` against a real collector on a free port over a fresh pipeline in `dir` (embedded engine, identity
 * on, the test write keys, TEST_ADMIN_TOKEN), with `options` added to the collector's (e.g. destinations).
 */
export const withApi = <A, E>(
  dir: string,
  program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Keys | Scope.Scope>,
  options: Partial<CollectorOptions> = {},
) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    return yield* program((yield* Collector).url)
  })).pipe(
    Effect.provide(Collector.layer({
      port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS), adminToken: TEST_ADMIN_TOKEN, dataDir: dir, identity: defaultIdentityConfig(), ...options,
    }).pipe(Layer.provideMerge(pipelineLayer(backendConfig(dir))))),
    Effect.provide(Logger.layer([])),
  ))
