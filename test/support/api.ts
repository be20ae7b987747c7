// Test support: a real collector to call (withApi), and one call to its API with a Bearer token (or none), its status
// and JSON body.
import { Effect, Layer, Logger, type Scope } from "effect"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import type { Keys } from "../../consent/keys.ts"
import { defaultIdentityConfig } from "../../identity/index.ts"
import { Collector, type CollectorOptions } from "../../ingest/collector.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { checkResponse } from "./openapi.ts"
import { basicAuth, type PipelineServices, TEST_KEYS, WRITE_KEY } from "./pipeline.ts"

export type ApiBody = Record<string, any>

export const callApi = (url: string, method: string, path: string, token: string | null, body?: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    })
    return { status: res.status, headers: Object.fromEntries(res.headers), body: (await res.json()) as ApiBody }
  })

/**
 * Follows an operation a POST started (ingest/jobs.ts) at `path` (by default the statusUrl its 202 named), each answer
 * checked against openapi.json, until it is no longer running (at most 60 s); its last answer.
 */
export const followOperation = (url: string, started: { status: number; body: ApiBody }, token: string, path = started.body.statusUrl as string) =>
  Effect.gen(function* () {
    let op = started
    for (let i = 0; i < 600 && op.body.status === "running"; i++) {
      yield* Effect.sleep(100)
      op = yield* callApi(url, "GET", path, token)
      checkResponse(path.startsWith("/v1/operations/") ? "/v1/operations/{id}" : path.split("?", 1)[0]!, "GET", op.status, op.body)
      if (op.status !== 200) throw new Error(`GET ${path} answered ${op.status}: ${JSON.stringify(op.body)}`)
    }
    return op
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

/**
 * Sends `batch` with the test write key (tenant acme) and waits until `identifier`'s timeline shows `events` events
 * (what landed is then readable), or fails after 10 s.
 */
export const landBatch = (url: string, batch: ReadonlyArray<Record<string, unknown>>, until: { readonly identifier: string; readonly events: number }) =>
  Effect.gen(function* () {
    const res = yield* Effect.promise(async () => {
      const r = await fetch(`${url}/v1/batch`, {
        method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }, body: JSON.stringify({ batch }),
      })
      return { status: r.status, text: await r.text() }
    })
    if (res.status !== 200) throw new Error(`the seed batch was answered ${res.status}: ${res.text}`)
    for (let i = 0; i < 200; i++) {
      const r = yield* callApi(url, "GET", `/v1/profiles/${until.identifier}/events?tenant=acme&limit=${until.events + 1}`, TEST_ADMIN_TOKEN)
      if (r.status === 200 && (r.body.events as Array<unknown>).length === until.events) return
      yield* Effect.sleep("50 millis")
    }
    throw new Error("the seed did not land in 10 s")
  })

/** A new API token made with the admin token (`request` as POST /v1/tokens takes it). */
export const createToken = (url: string, request: Record<string, unknown>) =>
  Effect.map(callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, request), (r) => {
    if (r.status !== 201) throw new Error(`POST /v1/tokens answered ${r.status}: ${JSON.stringify(r.body)}`)
    return r.body.token as string
  })
