// The analyst query limits are settings (CDP_QUERY_*, read in cli/config.ts): a value reaches the limit a query runs
// under, and a wrong one is one line naming the variable, exit 1, before any query runs.
import { Effect, Layer, Logger } from "effect"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import { Collector } from "../../ingest/collector.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir, TEST_KEYS } from "../support/pipeline.ts"

const TOKEN = "test-admin-token"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => { vi.unstubAllEnvs(); removeDir(dir) })

/** POST /v1/query once, on a collector built from the environment as `cdp serve` builds it. */
const askOnce = (sql: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const collector = yield* Collector
    return yield* Effect.promise(async () => {
      const res = await fetch(`${collector.url}/v1/query`, {
        method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ sql, tenant: "acme" }),
      })
      return { status: res.status, body: (await res.json()) as { rule?: string; error?: string; rows?: unknown[] } }
    })
  })).pipe(
    Effect.provide(Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS), adminToken: TOKEN }).pipe(
      Layer.provideMerge(pipelineLayer(backendConfig(dir))))),
    Effect.provide(Logger.layer([])),
  ))

describe("analyst query limits from the environment", () => {
  it("CDP_QUERY_MAX_ROWS is the result limit a query runs under: over it is 422 naming the limit", async () => {
    vi.stubEnv("CDP_QUERY_MAX_ROWS", "5")
    const over = await askOnce("SELECT number FROM numbers(10)")
    expect(over.status).toBe(422)
    expect(over.body.rule).toBe("query_limit")
    expect(over.body.error).toMatch(/\(5 rows, /)
  })

  it("unset, the default limit holds (the same query answers)", async () => {
    vi.stubEnv("CDP_QUERY_MAX_ROWS", undefined)
    expect(await askOnce("SELECT number FROM numbers(10)")).toMatchObject({ status: 200 })
  })

  it.each([
    ["CDP_QUERY_MAX_ROWS", "0"],
    ["CDP_QUERY_MAX_SECONDS", "ten"],
    ["CDP_QUERY_SLOTS", "1.5"],
    ["CDP_QUERY_SLOTS_PER_TENANT", "-1"],
    ["CDP_QUERY_MAX_READ_BYTES", "1GB"],
  ])("%s=%s is refused in one line naming it, exit 1", (variable, value) => {
    const r = runCdp(["query", "SELECT 1", "--data-dir", dir], { env: { [variable]: value } })
    expectOneLineError(r, `${variable} must be a whole number`)
    expect(r.stdout).toBe("")
  })
})
