// A tenant's profile reads take turns, so that many at once hold that tenant's requests, not every tenant's. Seen
// probing cdp serve: tenant acme reading its one big profile (82,500 events; 0.6 s alone) ten times at once with
// GET /v1/profiles/user_id:big made them answer in 4.5-10.5 s, and tenant globex's one-message POST /v1/batch, its
// profile read and audience preview took 9.9-10.3 s meanwhile: every read's statements queued on the embedded
// engine's one connection, where the pipeline lands every tenant's messages. The same with GET
// /v1/consent/user_id:big ten times at once: they answered in 1.8-13.0 s, globex's requests in 9.8-12.9 s; with GET
// /v1/identity/suggestions?limit=100 ten times at once (3.5-16.5 s), globex's batch 16.3 s and reads 11.6 s; with GET
// /v1/relations/summary?from=2026-12-01&to=2026-12-05&limit=1000 ten times (3.5-9.9 s), globex's batch 9.1 s.
import type { IncomingMessage } from "node:http"
import { Context, Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { identityConfigOf } from "../../identity/index.ts"
import { consentRoute } from "../../ingest/consent-route.ts"
import { identityRoute } from "../../ingest/identity-route.ts"
import { makeJobs } from "../../ingest/jobs.ts"
import { profileCacheStats } from "../../ingest/profile-read.ts"
import { profileRoute } from "../../ingest/profile-route.ts"
import { tenantReads } from "../../ingest/query-route.ts"
import { relationsRoute } from "../../ingest/relations-route.ts"
import { Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { landBatch, withApi } from "../support/api.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** Which read (of the test's) a statement belongs to; the document keeper's own statements belong to none. */
const ReadId = Context.Reference<number>("test/ReadId", { defaultValue: () => -1 })

/**
 * A warehouse whose every statement takes 40 ms more, counting for each tenant how many reads have statements under
 * way at once (how many statements one read runs at once is its own affair, and varies with whether its profile's
 * document is built yet). `asRead` marks an effect as one read.
 */
const slowedReads = (warehouse: WarehouseShape) => {
  const running = new Map<string, Map<number, number>>()
  const mostReads = new Map<string, number>()
  let reads = 0
  const slow: WarehouseShape = {
    ...warehouse,
    query: <T,>(sql: string, options?: Parameters<WarehouseShape["query"]>[1]) => Effect.flatMap(Effect.service(ReadId), (id) => {
      const tenant = String(options?.params?.["tenant"] ?? "")
      const under = running.get(tenant) ?? running.set(tenant, new Map()).get(tenant)!
      return Effect.acquireUseRelease(
        Effect.sync(() => {
          if (id < 0) return
          under.set(id, (under.get(id) ?? 0) + 1)
          mostReads.set(tenant, Math.max(mostReads.get(tenant) ?? 0, under.size))
        }),
        () => Effect.andThen(Effect.sleep("40 millis"), warehouse.query<T>(sql, options)),
        () => Effect.sync(() => {
          if (id < 0) return
          const left = under.get(id)! - 1
          if (left === 0) under.delete(id)
          else under.set(id, left)
        }),
      )
    }),
  }
  const asRead = <A, E, R>(read: Effect.Effect<A, E, R>) => Effect.provideService(read, ReadId, reads++)
  return { slow, asRead, mostReads }
}

it("a tenant's profile and consent reads run one at a time, and another tenant's read is answered among them", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    yield* landBatch(url, [{ type: "track", userId: "ann", event: "Order Completed", messageId: "a1" }], { identifier: "user_id:ann", events: 1 })
    const other = yield* Effect.promise(() => fetch(`${url}/v1/batch`, {
      method: "POST", headers: { authorization: basicAuth(OTHER_TENANT_KEY), "content-type": "application/json" },
      body: JSON.stringify({ batch: [{ type: "track", userId: "bob", event: "Order Completed", messageId: "b1" }] }),
    }).then((r) => r.status))
    expect(other).toBe(200)
    const { slow, asRead, mostReads } = slowedReads(yield* Warehouse)
    const read = (path: string) => Effect.gen(function* () {
      const req = { method: "GET", url: path, headers: {} } as IncomingMessage
      const reply = yield* asRead(path.startsWith("/v1/consent/") ? consentRoute(req, { warehouse: slow }) : profileRoute(req, { warehouse: slow }))
      return { status: reply.status, at: performance.now() }
    })
    const acme = ["", "/events", "/identifiers"].flatMap((suffix) =>
      Array.from({ length: 3 }, (_, i) => read(`/v1/profiles/user_id%3Aann${suffix}?tenant=acme&${suffix === "" ? "events" : "limit"}=${5 + i}`)))
      .concat(Array.from({ length: 3 }, (_, i) => read(`/v1/consent/user_id%3Aann?tenant=acme&limit=${5 + i}`)))
    const [acmeReads, globexRead] = yield* Effect.all([
      Effect.all(acme, { concurrency: "unbounded" }),
      Effect.andThen(Effect.sleep("20 millis"), read("/v1/profiles/user_id%3Abob?tenant=globex")),
    ], { concurrency: "unbounded" })
    expect(acmeReads.map((r) => r.status)).toEqual(Array(12).fill(200))
    expect(globexRead.status).toBe(200)
    // Before: all twelve of acme's reads had statements under way at once.
    expect(mostReads.get("acme")).toBe(1)
    expect(globexRead.at).toBeLessThan(Math.max(...acmeReads.map((r) => r.at)))
  })), 60_000)

it("a tenant's suggestion lists and relationship reads run one at a time too, beside another tenant's", () =>
  withApi(dir, () => Effect.gen(function* () {
    const { slow, asRead, mostReads } = slowedReads(yield* Warehouse)
    const identity = yield* identityRoute({ warehouse: slow, config: identityConfigOf(), reload: Effect.void })
    const relations = relationsRoute({ warehouse: slow, jobs: yield* makeJobs(slow) })
    const get = (path: string) => {
      const req = { method: "GET", url: path, headers: {} } as IncomingMessage
      return Effect.map(asRead(path.startsWith("/v1/identity/") ? identity(req) : relations(req)), (reply) => reply.status)
    }
    const paths = (tenant: string) => [
      `/v1/identity/suggestions?tenant=${tenant}`,
      `/v1/relations/summary?tenant=${tenant}&from=2026-12-01&to=2026-12-05`,
      `/v1/relations/report?tenant=${tenant}&from=2026-11-01&to=2026-12-05`,
    ]
    const statuses = yield* Effect.all([...paths("acme"), ...paths("acme"), ...paths("globex")].map(get), { concurrency: "unbounded" })
    expect(statuses).toEqual(Array(9).fill(200))
    // Before: acme's six reads had statements under way at once.
    expect(mostReads.get("acme")).toBe(1)
    expect(mostReads.get("globex")).toBe(1)
  })), 60_000)

it("a profile answer already in the cache does not wait for the tenant's turn, and reads waiting for it are answered from the one before", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    yield* landBatch(url, [{ type: "track", userId: "ann", event: "Order Completed", messageId: "a1" }], { identifier: "user_id:ann", events: 1 })
    const warehouse = yield* Warehouse
    const read = (path: string) => Effect.map(profileRoute({ method: "GET", url: path, headers: {} } as IncomingMessage, { warehouse }),
      (reply) => ({ status: reply.status, at: performance.now() }))
    // Five reads at once of a profile not yet read: one reads the warehouse, the others get its answer.
    const before = profileCacheStats(warehouse)
    const first = yield* Effect.all(Array.from({ length: 5 }, () => read("/v1/profiles/user_id%3Aann?tenant=acme")), { concurrency: "unbounded" })
    expect(first.map((r) => r.status)).toEqual(Array(5).fill(200))
    const after = profileCacheStats(warehouse)
    expect(after.misses - before.misses).toBe(1)
    expect(after.hits - before.hits).toBe(4)
    // acme's turn held for a second by some other read: the kept answer comes at once, a new one waits.
    const [, cached, uncached] = yield* Effect.all([
      tenantReads("acme")(Effect.sleep("1 second")),
      Effect.andThen(Effect.sleep("20 millis"), read("/v1/profiles/user_id%3Aann?tenant=acme")),
      Effect.andThen(Effect.sleep("20 millis"), read("/v1/profiles/user_id%3Aann?tenant=acme&events=3")),
    ], { concurrency: "unbounded" })
    expect(cached.status).toBe(200)
    expect(uncached.status).toBe(200)
    expect(uncached.at - cached.at).toBeGreaterThan(500)
  })), 60_000)
