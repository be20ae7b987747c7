// The Warehouse.server Layer (warehouse/clickhouse-server.ts, @clickhouse/client over HTTP) against a real ClickHouse
// server: Debian's 18.16.1 from deploy/services/up (the only server build installable here). Runs when
// CDP_INTEGRATION=1 (eval "$(deploy/services/up)" first); fails, not skips, when the server is missing.
//
// Tested here, on 18.16.1:
//   - start-up probe: reachable server answers; one-line failures for nothing listening, a wrong password, an unknown
//     database, and a server too old for cdp's schema (when migrations are on);
//   - client settings the server does not know are left out (18.16 lacks input_format_json_read_objects_as_strings);
//   - insert of JSONEachRow rows (MergeTree and ReplacingMergeTree) and select as JSONEachRow through warehouse.query,
//     UInt64 beyond 2^53 exact (quoted), Nullable, Array; ReplacingMergeTree collapses a re-inserted row with FINAL;
//   - error mapping: bad SQL and an unknown table are WarehouseQueryError (codes 62, 60), an unparsable row is
//     WarehouseRejectedRows, query parameters (unknown to 18.16) are refused, not silently dropped;
//   - retries on connection loss: a connection cut before the answer, a port that refuses for a while, the server
//     killed with SIGKILL and restarted mid-query (rows inserted before survive); and the retry is bounded.
// NOT tested on a server (18.16 lacks them): cdp's migrations (DateTime64, JSON functions, Map, LowCardinality, TTL),
// query parameters, lightweight DELETE, insert deduplication tokens, the analyst runner. Those run on the embedded
// engine (ClickHouse 26.x, same client and SQL) in the full suite. The cluster schema is only parsed (test/deploy).
import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { createServer, connect, type Server, type Socket } from "node:net"
import { join } from "node:path"
import { homedir } from "node:os"
import { readFileSync } from "node:fs"
import { Cause, Effect, Exit, Layer, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ClickHouseServerSettings, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"

const server = () => {
  const url = process.env["CDP_CLICKHOUSE_URL"]
  if (url === undefined) {
    throw new Error('CDP_INTEGRATION=1 needs a ClickHouse server: run eval "$(deploy/services/up)" first (sets CDP_CLICKHOUSE_URL and credentials)')
  }
  return {
    url,
    username: process.env["CDP_CLICKHOUSE_USER"] ?? "default",
    password: process.env["CDP_CLICKHOUSE_PASSWORD"] ?? "",
  }
}

/** Plain HTTP to the server, for setting up and checking behind the Layer's back. */
const admin = async (sql: string) => {
  const s = server()
  const response = await fetch(s.url, {
    method: "POST", body: sql,
    headers: { authorization: `Basic ${Buffer.from(`${s.username}:${s.password}`).toString("base64")}` },
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${sql}: ${text}`)
  return text
}

const databases: Array<string> = []
/** A fresh database per test (the server's counterpart of a fresh data dir). */
const freshDatabase = async () => {
  const db = `cdp_it_${randomUUID().replace(/-/g, "").slice(0, 12)}`
  await admin(`CREATE DATABASE ${db}`)
  databases.push(db)
  return db
}

const settingsFor = (database: string, overrides: Partial<ClickHouseServerSettings> = {}): ClickHouseServerSettings => {
  const s = server()
  return { url: s.url, username: s.username, password: Redacted.make(s.password), database, ...overrides }
}

// cdp's migrations need a modern server; on 18.16 the Layer runs with them off.
const layerFor = (settings: ClickHouseServerSettings, migrate = false) => Warehouse.server(settings, { migrate })

const withWarehouse = <A, E>(layer: Layer.Layer<Warehouse, unknown>, f: (w: WarehouseShape) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    return yield* f(yield* Warehouse)
  }).pipe(Effect.provide(layer))) as Effect.Effect<A, never>)

/** The failure of building the Layer (or of `f`), as the error value. */
const failureOf = async <A, E>(layer: Layer.Layer<Warehouse, unknown>, f: (w: WarehouseShape) => Effect.Effect<A, E> = () => Effect.void as never) => {
  const exit = await Effect.runPromiseExit(Effect.scoped(Effect.gen(function* () {
    return yield* f(yield* Warehouse)
  }).pipe(Effect.provide(layer))))
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "None") throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return error.value as { _tag: string; message: string; code?: string }
}

/** A TCP proxy in front of the server whose behaviour a test changes: forward, cut connections, or refuse. */
interface Proxy {
  readonly url: string
  /** Connections accepted so far. */
  connections: number
  /** Cut this many next connections as soon as they send their request (nothing reaches the server). */
  cutNext: number
  /** Drop every open connection (the client's kept-alive ones too), so its next request opens a new one. */
  readonly dropAll: () => Promise<void>
  /** Stop listening and drop every open connection. */
  readonly close: () => Promise<void>
  /** Listen again on the same port. */
  readonly open: () => Promise<void>
}

const startProxy = async (): Promise<Proxy> => {
  const target = new URL(server().url)
  const sockets = new Set<Socket>()
  let listener: Server | undefined
  let port = 0
  const proxy: Proxy = {
    url: "",
    connections: 0,
    cutNext: 0,
    dropAll: async () => {
      for (const s of sockets) s.destroy()
      sockets.clear()
      // Long enough for the client's agent to see its idle sockets close and stop offering them.
      await new Promise((resolve) => setTimeout(resolve, 50))
    },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy()
      sockets.clear()
      if (listener === undefined) return resolve()
      listener.close(() => resolve())
      listener = undefined
    }),
    open: () => new Promise((resolve) => {
      listener = createServer((client) => {
        proxy.connections++
        sockets.add(client)
        client.on("close", () => sockets.delete(client))
        client.on("error", () => {})
        if (proxy.cutNext > 0) {
          proxy.cutNext--
          client.once("data", () => client.resetAndDestroy())
          return
        }
        const upstream = connect(Number(target.port), target.hostname)
        sockets.add(upstream)
        upstream.on("close", () => { sockets.delete(upstream); client.destroy() })
        upstream.on("error", () => client.destroy())
        client.on("close", () => upstream.destroy())
        client.pipe(upstream).pipe(client)
      })
      listener.listen(port, "127.0.0.1", () => {
        port = (listener!.address() as { port: number }).port
        resolve()
      })
    }),
  }
  await proxy.open()
  ;(proxy as { url: string }).url = `http://127.0.0.1:${port}`
  return proxy
}

const FAST_RETRY = { times: 3, baseDelayMs: 50, maxDelayMs: 100 }

describe.runIf(enabled)("Warehouse over HTTP on a real ClickHouse server (18.16)", () => {
  beforeAll(async () => {
    const version = await admin("SELECT version()")
    expect(version.trim()).toMatch(/^\d+\.\d+/)
  })

  afterAll(async () => {
    for (const db of databases) await admin(`DROP DATABASE IF EXISTS ${db}`).catch(() => undefined)
  })

  it("the probe reports the server and its version; health's backend names it without the password", async () => {
    const db = await freshDatabase()
    const { backend, up } = await withWarehouse(layerFor(settingsFor(db)), (w) => Effect.map(w.ping, (up) => ({ backend: w.backend, up })))
    expect(up).toBe(true)
    expect(backend).toEqual({ kind: "server", location: new URL(server().url).origin, database: db, version: (await admin("SELECT version()")).trim() })
    expect(JSON.stringify(backend)).not.toContain(server().password)
  })

  it("inserts JSONEachRow and reads it back exactly: UInt64 beyond 2^53, Nullable, Array, ReplacingMergeTree FINAL", async () => {
    const db = await freshDatabase()
    const rows = await withWarehouse(layerFor(settingsFor(db)), (w) => Effect.gen(function* () {
      yield* w.command(`CREATE TABLE t (tenant String, id String, n UInt64, note Nullable(String), tags Array(String), v UInt32)
        ENGINE = ReplacingMergeTree(v) PARTITION BY tenant ORDER BY (tenant, id)`)
      const batch = Array.from({ length: 10_000 }, (_, i) => ({
        tenant: i % 2 === 0 ? "acme" : "globex", id: `m${i}`, n: i === 0 ? "9007199254740993" : i, note: i % 3 === 0 ? null : `x${i}`,
        tags: [`a${i % 5}`], v: 1,
      }))
      yield* w.insert("t", batch)
      // A redelivered row with a later version: FINAL shows one row per key, the latest.
      yield* w.insert("t", [{ tenant: "acme", id: "m0", n: "9007199254740993", note: "again", tags: [], v: 2 }])
      return {
        count: yield* w.query<{ c: string }>("SELECT count() AS c FROM t FINAL"),
        first: yield* w.query<Record<string, unknown>>("SELECT id, n, note, tags, v FROM t FINAL WHERE tenant = 'acme' AND id = 'm0'"),
        third: yield* w.query<Record<string, unknown>>("SELECT note, tags FROM t WHERE id = 'm3'"),
        perTenant: yield* w.query<{ tenant: string; c: string }>("SELECT tenant, count() AS c FROM t FINAL GROUP BY tenant ORDER BY tenant"),
      }
    }))
    expect(rows.count).toEqual([{ c: "10000" }])
    expect(rows.first).toEqual([{ id: "m0", n: "9007199254740993", note: "again", tags: [], v: 2 }])
    expect(rows.third).toEqual([{ note: null, tags: ["a3"] }])
    expect(rows.perTenant).toEqual([{ tenant: "acme", c: "5000" }, { tenant: "globex", c: "5000" }])
  })

  it("maps errors as the embedded Layer does: bad SQL and unknown tables are the caller's, unparsable rows are rejected rows", async () => {
    const db = await freshDatabase()
    const layer = layerFor(settingsFor(db))
    const syntax = await failureOf(layer, (w) => w.query("SELEC 1"))
    expect(syntax).toMatchObject({ _tag: "WarehouseQueryError", code: "62" })
    const unknown = await failureOf(layer, (w) => w.query("SELECT * FROM no_such_table"))
    expect(unknown).toMatchObject({ _tag: "WarehouseQueryError", code: "60" })
    const rejected = await failureOf(layer, (w) => Effect.gen(function* () {
      yield* w.command("CREATE TABLE r (n UInt32) ENGINE = MergeTree ORDER BY n")
      yield* w.insert("r", [{ n: 1 }, { n: "not a number" }])
    }))
    expect(rejected._tag).toBe("WarehouseRejectedRows")
    expect(rejected.message).toMatch(/parse|Cannot|number/i)
    // Query parameters need 19.x or later: 18.16 refuses them (so they are never silently ignored).
    const params = await failureOf(layer, (w) => w.query("SELECT {n:UInt32} AS n", { params: { n: 1 } }))
    expect(params.message).toMatch(/param_n/)
  })

  it("fails at start in one line naming what is wrong: nothing listening, wrong password, unknown database, too old", async () => {
    const db = await freshDatabase()
    const closed = await startProxy()
    await closed.close()
    const unreachable = await failureOf(layerFor(settingsFor(db, { url: closed.url })))
    expect(unreachable._tag).toBe("WarehouseUnavailable")
    expect(unreachable.message).toMatch(new RegExp(`^cannot reach the ClickHouse server at ${closed.url}: .*ECONNREFUSED`))

    const auth = await failureOf(layerFor(settingsFor(db, { password: Redacted.make("wrong-password") })))
    expect(auth.message).toMatch(new RegExp(`refused user "${server().username}"`))
    expect(auth.message).not.toContain("wrong-password")

    const noDb = await failureOf(layerFor(settingsFor("cdp_it_missing_db")))
    expect(noDb.message).toMatch(/has no database "cdp_it_missing_db"/)

    const tooOld = await failureOf(layerFor(settingsFor(db), true))
    expect(tooOld.message).toMatch(/is 18\.16[\d.]*; cdp's schema needs 23\.3 or later/)
    for (const e of [unreachable, auth, noDb, tooOld]) expect(e.message).not.toContain("\n")
  })

  it("retries an operation whose connection was cut before the answer, and a port that refuses for a while", async () => {
    const db = await freshDatabase()
    const proxy = await startProxy()
    try {
      const result = await withWarehouse(layerFor(settingsFor(db, { url: proxy.url, retry: FAST_RETRY })), (w) => Effect.gen(function* () {
        yield* w.command("CREATE TABLE c (n UInt32) ENGINE = MergeTree ORDER BY n")
        // Cut: the next two connections die as soon as the insert is sent (nothing reaches the server).
        yield* Effect.promise(() => proxy.dropAll())
        const connectionsBefore = proxy.connections
        proxy.cutNext = 2
        yield* w.insert("c", Array.from({ length: 1000 }, (_, n) => ({ n })))
        const insertConnections = proxy.connections - connectionsBefore
        const afterCuts = yield* w.query<{ c: string }>("SELECT count() AS c FROM c")
        // Refuse: nothing listens for 120 ms (kept-alive sockets are dropped too), then the server is back.
        yield* Effect.promise(() => proxy.close())
        setTimeout(() => void proxy.open(), 120)
        const started = Date.now()
        const afterRefusal = yield* w.query<{ c: string }>("SELECT count() AS c FROM c")
        return { insertConnections, afterCuts, afterRefusal, waited: Date.now() - started }
      }))
      // Two cut attempts, then the one that landed; the cut ones never reached the server, so the rows landed once.
      expect(result.insertConnections).toBe(3)
      expect(result.afterCuts).toEqual([{ c: "1000" }])
      expect(result.afterRefusal).toEqual([{ c: "1000" }])
      expect(result.waited).toBeGreaterThanOrEqual(100)
    } finally {
      await proxy.close()
    }
  })

  it("gives up after the bounded number of retries with WarehouseUnavailable", async () => {
    const db = await freshDatabase()
    const proxy = await startProxy()
    try {
      const before = { connections: 0 }
      const error = await failureOf(layerFor(settingsFor(db, { url: proxy.url, retry: FAST_RETRY })), (w) => Effect.gen(function* () {
        yield* Effect.promise(() => proxy.dropAll())
        before.connections = proxy.connections
        proxy.cutNext = 100
        yield* w.query("SELECT 1")
      }))
      expect(error._tag).toBe("WarehouseUnavailable")
      // The first attempt and FAST_RETRY.times retries, each on a new connection.
      expect(proxy.connections - before.connections).toBe(1 + FAST_RETRY.times)
    } finally {
      await proxy.close()
    }
  })

  it("survives the server killed with SIGKILL and restarted mid-query; rows inserted before are still there", async () => {
    const dir = process.env["CDP_SVC_DIR"] ?? join(homedir(), ".cache/cdp/services")
    const script = join(import.meta.dirname, "../../deploy/services/clickhouse.sh")
    const db = await freshDatabase()
    const restartAfterMs = 300
    const result = await withWarehouse(
      layerFor(settingsFor(db, { retry: { times: 8, baseDelayMs: 100, maxDelayMs: 1_000 } })),
      (w) => Effect.gen(function* () {
        yield* w.command("CREATE TABLE k (n UInt32) ENGINE = MergeTree ORDER BY n")
        yield* w.insert("k", Array.from({ length: 500 }, (_, n) => ({ n })))
        const pid = Number(readFileSync(join(dir, "clickhouse.pid"), "utf8"))
        process.kill(-pid, "SIGKILL")
        setTimeout(() => execFileSync(script, ["up"], { env: process.env, stdio: "ignore" }), restartAfterMs)
        const started = Date.now()
        const rows = yield* w.query<{ c: string }>("SELECT count() AS c FROM k")
        return { rows, waited: Date.now() - started }
      }),
    )
    expect(result.rows).toEqual([{ c: "500" }])
    expect(result.waited).toBeGreaterThanOrEqual(restartAfterMs)
  }, 60_000)
})
