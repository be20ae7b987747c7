// POST /v1/query on a real collector (embedded engine): read-only, tenant-scoped, limited, cancelled with its client,
// and never in the way of ingestion or /health.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer, Logger } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import { Collector } from "../../ingest/collector.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { freshDir, OTHER_TENANT_KEY, basicAuth, post, query, removeDir, TEST_KEYS, type PipelineServices } from "../support/pipeline.ts"
import type { Scope } from "effect"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const TOKEN = "test-admin-token"

const withQueryCollector = <A, E>(program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const collector = yield* Collector
    return yield* program(collector.url)
  })).pipe(
    Effect.provide(Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS), adminToken: TOKEN }).pipe(
      Layer.provideMerge(pipelineLayer(backendConfig(dir))))),
    Effect.provide(Logger.layer([])),
  ))

const ask = (url: string, body: unknown, signal?: AbortSignal) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}/v1/query`, {
      method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body),
      ...(signal === undefined ? {} : { signal }),
    })
    return { status: res.status, body: (await res.json()) as { success: boolean; rows?: Array<Record<string, unknown>>; error?: string; rule?: string } }
  })

const seed = (url: string) =>
  Effect.gen(function* () {
    expect((yield* post(`${url}/v1/identify`, { userId: "ann", messageId: "a1", traits: { email: "ann@acme.example" } })).status).toBe(200)
    expect((yield* post(`${url}/v1/identify`, { userId: "gus", messageId: "g1", traits: { email: "gus@globex.example" } },
      { authorization: basicAuth(OTHER_TENANT_KEY) })).status).toBe(200)
  })

/** Analyst queries the engine is running now (seen from the pipeline's own context). */
const runningAnalystQueries = query<{ n: string }>("SELECT count() AS n FROM system.processes WHERE startsWith(query, '/* cdp-analyst')").pipe(
  Effect.map(([r]) => Number(r!.n)))

describe("POST /v1/query", () => {
  it("refuses every write, file, network and settings bypass, and nothing changes", () =>
    withQueryCollector((url) => Effect.gen(function* () {
      yield* seed(url)
      for (const sql of [
        "/* /* */ SELECT */ TRUNCATE TABLE events",
        "/* /* */ SELECT */ CREATE TABLE forged (a Int8) ENGINE = Memory",
        "/* /* */ SELECT */ DETACH TABLE events",
        "/* /* */ SELECT */ INSERT INTO events (tenant, message_id) VALUES ('globex', 'forged')",
        "SELECT $$'$$ AS x; TRUNCATE TABLE events; SELECT '' AS y",
        `/* /* */ SELECT */ INSERT INTO FUNCTION file('${join(dir, "out.csv")}', 'CSV') SELECT 1`,
        `SELECT 1 INTO OUTFILE '${join(dir, "out.txt")}'`,
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        `SELECT * FROM url('${url}/health', 'LineAsString')`,
        "SELECT * FROM merge('default', 'events')",
        "SELECT 1 SETTINGS readonly = 0",
      ]) {
        const res = yield* ask(url, { sql, tenant: "acme" })
        expect(res.status, sql).toBe(400)
        expect(res.body, sql).toMatchObject({ success: false, rule: "bad_query" })
      }
      // Scalar functions that read the host, which readonly=1 lets through.
      for (const [sql, name] of [
        ["SELECT file('/etc/passwd')", "file"],
        [`SELECT file('${join(dir, "admin-token")}') AS token`, "file"],
        ["SELECT replaceAll(file('/proc/self/cmdline'), '\\0', ' ') AS keys", "file"],
        ["SELECT tenant FROM events WHERE position(file('/etc/passwd'), 'root') > 0", "file"],
        ["SELECT hostName(), filesystemAvailable()", "hostName"],
      ]) {
        const res = yield* ask(url, { sql, tenant: "acme" })
        expect(res, sql).toEqual({ status: 400, body: expect.objectContaining({ rule: "bad_query", error: expect.stringContaining(`function ${name}() is not allowed`) }) })
      }
      for (const file of ["out.csv", "out.txt"]) expect(existsSync(join(dir, file)), file).toBe(false)
      expect(yield* query("SELECT tenant, message_id FROM events ORDER BY message_id")).toEqual([
        { tenant: "acme", message_id: "a1" }, { tenant: "globex", message_id: "g1" },
      ])
      expect((yield* Effect.promise(() => fetch(`${url}/health`))).status).toBe(200)
    })))

  it("shows a tenant only its own rows; every tenant needs allTenants", () =>
    withQueryCollector((url) => Effect.gen(function* () {
      yield* seed(url)
      const sql = "SELECT tenant, JSONExtractString(traits, 'email') AS email FROM default.events ORDER BY tenant"
      expect(yield* ask(url, { sql, tenant: "acme" })).toEqual({ status: 200, body: { success: true, rows: [{ tenant: "acme", email: "ann@acme.example" }] } })
      expect((yield* ask(url, { sql })).body.rows).toEqual([])
      expect((yield* ask(url, { sql, allTenants: true })).body.rows).toHaveLength(2)
      expect(yield* ask(url, { sql, tenant: "acme", allTenants: true })).toMatchObject({ status: 400, body: { rule: "bad_scope" } })
      expect(yield* ask(url, { sql, tenant: 7 })).toMatchObject({ status: 400, body: { rule: "bad_tenant", field: "/tenant" } })
    })))

  it("shows a tenant no row or byte counts of other tenants, and still its tables' names", () =>
    withQueryCollector((url) => Effect.gen(function* () {
      yield* seed(url)
      expect(yield* ask(url, { sql: "SELECT name, total_rows FROM system.tables WHERE database = 'default'", tenant: "acme" }))
        .toEqual({ status: 200, body: { success: true, rows: [] } })
      expect((yield* ask(url, { sql: "SELECT sum(data_compressed_bytes) AS b FROM system.columns", tenant: "acme" })).body.rows)
        .toEqual([{ b: "0" }])
      expect((yield* ask(url, { sql: "SHOW TABLES", tenant: "acme" })).body.rows).toContainEqual({ name: "events" })
    })))

  it("answers track and /health while a heavy analyst query runs, and stops that query when its client leaves", () =>
    withQueryCollector((url) => Effect.gen(function* () {
      const client = new AbortController()
      const heavy = Effect.runPromise(ask(url, { sql: "SELECT max(cityHash64(toString(number))) FROM numbers(1e9)", tenant: "acme" }, client.signal)).catch((e: Error) => e.name)
      while ((yield* runningAnalystQueries) === 0) yield* Effect.sleep("50 millis")
      expect((yield* post(`${url}/v1/track`, { userId: "u1", event: "During", messageId: "t1" })).status).toBe(200)
      expect((yield* Effect.promise(() => fetch(`${url}/health`))).status).toBe(200)
      expect(yield* query("SELECT message_id FROM events")).toEqual([{ message_id: "t1" }])
      // The tenant's own next query waits for its turn; another tenant's runs.
      expect(yield* ask(url, { sql: "SELECT 1 AS one", tenant: "acme" })).toMatchObject({ status: 429, body: { rule: "query_busy" } })
      expect(yield* ask(url, { sql: "SELECT 1 AS one", tenant: "globex" })).toEqual({ status: 200, body: { success: true, rows: [{ one: 1 }] } })
      expect(yield* runningAnalystQueries).toBe(1)
      client.abort()
      expect(yield* Effect.promise(() => heavy)).toBe("AbortError")
      // Without the kill the engine would run it for the whole 60 s limit; the test's own timeout bounds this wait.
      while ((yield* runningAnalystQueries) > 0) yield* Effect.sleep("100 millis")
    })), 30_000)

  it("names the limit a query exceeds", () =>
    withQueryCollector((url) => Effect.gen(function* () {
      const res = yield* ask(url, { sql: "SELECT number FROM numbers(2000000)", tenant: "acme" })
      expect(res.status).toBe(422)
      expect(res.body).toMatchObject({ rule: "query_limit" })
      expect(res.body.error).toMatch(/1000000 rows/)
    })))
})

