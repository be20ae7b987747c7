// The identity stage takes tenants side by side: a batch of one tenant, held inside its identity step (over the real
// embedded engine, gated), holds back no other tenant's batch; what reads or replaces every tenant's graph still waits.
import { Deferred, Effect, Fiber, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type Observation, resolveGraph } from "../../identity/graph.ts"
import { defaultIdentityConfig, type IdentityStage, makeIdentityStage } from "../../identity/stage.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { loadObservations } from "../../warehouse/identity.ts"
import { type QueryOptions, Warehouse, WarehouseUnavailable } from "../../warehouse/warehouse.ts"
import { eventOn } from "../support/events.ts"
import { type Gate, gatedWarehouse } from "../support/gated-warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { changedKeys, devsetSample, difference, interleave, keyOf, landBatches, landStreams, randomBatches, wholeHistory } from "./batching-harness.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withWarehouse = <A, E>(program: Effect.Effect<A, E, Warehouse | Scope.Scope>) => withEmbeddedWarehouse(dir, program)

const profiles = (outcomes: ReadonlyArray<{ _tag: string }>) =>
  outcomes.map((o) => (o._tag === "ok" ? (o as unknown as { value: CanonicalEvent }).value.profileId : o._tag))

/** Where acme's batch is held: reading back its stored messages (half-way through resolving), or storing its rows. */
const holds: ReadonlyArray<readonly [string, Gate]> = [
  ["reading back its stored messages, half-way through resolving", { query: (sql) => sql.includes("FROM identity_sightings") }],
  ["storing its rows", { insert: (table) => table === "identity_observations" }],
]

/** acme's login, globex's login, then acme's batch held by `gate` while globex's next batch runs (10 s at most). */
const heldBeside = (gate: Gate, done: () => void = () => {}) =>
  Effect.gen(function* () {
    const gated = yield* gatedWarehouse(gate)
    const identity = yield* makeIdentityStage(defaultIdentityConfig()).pipe(Effect.provideService(Warehouse, gated.warehouse))
    const [ann] = profiles(yield* identity.stage([eventOn("a-login", 1, { type: "identify", anonymousId: "a1", userId: "ua" })]))
    const [bob] = profiles(yield* identity.stage([eventOn("b-login", 1, { tenant: "globex", type: "identify", anonymousId: "b1", userId: "ub" })]))
    gated.arm()
    // A second user id on acme's browser: the part is resolved again from what is stored (a read back), then stored.
    const held = yield* Effect.forkChild(identity.stage([eventOn("a-alias", 2, { type: "identify", anonymousId: "a1", userId: "ua2" })]).pipe(Effect.tap(() => Effect.sync(done))))
    yield* Deferred.await(gated.reached).pipe(Effect.timeout("30 seconds"))
    return { identity, gated, held, ann, bob }
  })

describe("identity stage, tenants side by side", () => {
  it.each(holds)("a batch of globex completes while one of acme is held %s, and both resolve as a full resolution does", async (_, gate) => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { identity, gated, held, ann, bob } = yield* heldBeside(gate)
      const beside = yield* identity.stage([eventOn("b-view", 2, { tenant: "globex", anonymousId: "b1" })]).pipe(Effect.timeoutOption("10 seconds"))
      const acmeDoneBefore = held.pollUnsafe() !== undefined
      yield* gated.release
      const acme = profiles(yield* Fiber.join(held))
      const stored = yield* loadObservations()
      return { ann, bob, beside: beside._tag === "Some" ? profiles(beside.value) : undefined, acmeDoneBefore, acme, stored }
    }))
    expect(result.acmeDoneBefore, "acme's batch was not held").toBe(false)
    expect(result.beside, "globex's batch waited for acme's").toEqual([result.bob])
    const full = resolveGraph("acme", result.stored.filter((o) => o.tenant === "acme") as ReadonlyArray<Observation>)
    expect(result.acme).toEqual([full.profileOf.get(full.anchorOf.get("a-alias")!)])
    expect(full.profileOf.get(full.anchorOf.get("a-login")!)).toBe(result.ann)
  }, 90_000)

  it("a reload of every tenant waits for a batch in progress, and batches after it wait for the reload", async () => {
    const order: Array<string> = []
    await withWarehouse(Effect.gen(function* () {
      const { identity, gated, held } = yield* heldBeside(holds[0]![1], () => order.push("acme"))
      const reload = yield* Effect.forkChild(identity.reload.pipe(Effect.tap(() => Effect.sync(() => order.push("reload")))))
      // Another tenant's batch after the reload asked for its turn: it goes after the reload, not beside acme's.
      yield* Effect.sleep("200 millis")
      const later = yield* Effect.forkChild(identity.stage([eventOn("b-view", 2, { tenant: "globex", anonymousId: "b1" })])
        .pipe(Effect.tap(() => Effect.sync(() => order.push("globex")))))
      yield* Effect.sleep("1 second")
      order.push("released")
      yield* gated.release
      yield* Fiber.join(held)
      yield* Fiber.join(reload)
      yield* Fiber.join(later)
    }))
    expect(order).toEqual(["released", "acme", "reload", "globex"])
  }, 90_000)

  it("a tenant whose resolution failed half-way has its own graph loaded again before its own next batch, beside other tenants' batches", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const real = yield* Warehouse
      // Once armed, the next read back of stored messages fails (the engine unreachable for a moment); every read is noted.
      let failNext = false
      const reads: Array<string> = []
      const failing = {
        ...real,
        query: <T>(sql: string, options?: QueryOptions) => {
          reads.push(sql)
          if (!failNext || !sql.includes("FROM identity_sightings")) return real.query<T>(sql, options)
          failNext = false
          return Effect.fail(new WarehouseUnavailable({ backend: "embedded", message: "test: the read back failed" }))
        },
      }
      // Once armed, the next read of stored observations (acme's graph loaded again) waits until released.
      const gated = yield* gatedWarehouse({ query: (sql) => sql.includes("FROM identity_observations") }).pipe(Effect.provideService(Warehouse, failing))
      const identity = yield* makeIdentityStage(defaultIdentityConfig()).pipe(Effect.provideService(Warehouse, gated.warehouse))
      yield* identity.stage([eventOn("a-login", 1, { type: "identify", anonymousId: "a1", userId: "ua" })])
      const [bob] = profiles(yield* identity.stage([eventOn("b-login", 1, { tenant: "globex", type: "identify", anonymousId: "b1", userId: "ub" })]))
      failNext = true
      const alias = [eventOn("a-alias", 2, { type: "identify", anonymousId: "a1", userId: "ua2" })]
      const failed = yield* Effect.exit(identity.stage(alias))
      reads.length = 0
      const globex = profiles(yield* identity.stage([eventOn("b-view", 2, { tenant: "globex", anonymousId: "b1" })]))
      const globexReads = [...reads]
      reads.length = 0
      gated.arm()
      const held = yield* Effect.forkChild(identity.stage(alias))
      const reached = yield* Deferred.await(gated.reached).pipe(Effect.timeoutOption("30 seconds"))
      // While acme's graph loads, globex's batch goes on.
      const beside = yield* identity.stage([eventOn("b-view2", 3, { tenant: "globex", anonymousId: "b1" })]).pipe(Effect.timeoutOption("10 seconds"))
      yield* gated.release
      const acme = profiles(yield* Fiber.join(held))
      const acmeReads = [...reads]
      const stored = yield* loadObservations()
      return { bob, failed: failed._tag, globex, globexReads, reached: reached._tag, beside: beside._tag === "Some" ? profiles(beside.value) : undefined, acme, acmeReads, stored }
    }))
    expect(result.failed).toBe("Failure")
    expect(result.globex).toEqual([result.bob])
    const loadsGraph = (sql: string) => sql.includes("FROM identity_snapshots") || sql.includes("FROM identity_observations")
    expect(result.globexReads.filter(loadsGraph), "globex's batch loaded the graph again for acme's failure").toEqual([])
    expect(result.reached, "acme's next batch did not read stored observations").toBe("Some")
    expect(result.beside, "globex's batch waited for acme's graph to load").toEqual([result.bob])
    expect(result.acmeReads.filter((sql) => sql.includes("FROM identity_snapshots")), "acme's next batch loaded every tenant's graph").toEqual([])
    const full = resolveGraph("acme", result.stored.filter((o) => o.tenant === "acme") as ReadonlyArray<Observation>)
    expect(result.acme).toEqual([full.profileOf.get(full.anchorOf.get("a-alias")!)])
  }, 90_000)

  const reloads: ReadonlyArray<readonly [string, (identity: IdentityStage) => Effect.Effect<void, unknown>]> = [
    ["every tenant", (identity) => identity.reload],
    ["acme", (identity) => identity.reloadTenant("acme")],
  ]
  it.each(reloads)("a reload of %s stores first the rows a failed store left, so the next batch finds them in the graph and they are stored once", async (_, reload) => {
    const result = await withWarehouse(Effect.gen(function* () {
      const real = yield* Warehouse
      // Once armed, the next insert of observations fails (the engine unreachable for a moment): the batch's rows stay pending.
      let failNext = false
      const warehouse = {
        ...real,
        insert: (table: string, rows: Parameters<typeof real.insert>[1]) => {
          if (!failNext || table !== "identity_observations") return real.insert(table, rows)
          failNext = false
          return Effect.fail(new WarehouseUnavailable({ backend: "embedded", message: "test: the store failed" }))
        },
      }
      const identity = yield* makeIdentityStage(defaultIdentityConfig()).pipe(Effect.provideService(Warehouse, warehouse))
      const [ann] = profiles(yield* identity.stage([eventOn("a-login", 1, { type: "identify", anonymousId: "a1", userId: "ua" })]))
      failNext = true
      // Ann logs in on a second browser: resolved (a2 joins her profile), not stored.
      const failed = yield* Effect.exit(identity.stage([eventOn("a-login2", 2, { type: "identify", anonymousId: "a2", userId: "ua" })]))
      yield* reload(identity)
      const [view] = profiles(yield* identity.stage([eventOn("a-view", 3, { anonymousId: "a2" })]))
      const rows = yield* real.query<{ n: string }>("SELECT count() AS n FROM identity_observations WHERE message_id = 'a-login2'")
      return { ann, failed: failed._tag, view, copies: Number(rows[0]!.n), stored: yield* loadObservations() }
    }))
    expect(result.failed).toBe("Failure")
    const full = resolveGraph("acme", result.stored.filter((o) => o.tenant === "acme") as ReadonlyArray<Observation>)
    expect(full.profileOf.get(full.anchorOf.get("a-login2")!), "the unstored login is not Ann's in a full resolution").toBe(result.ann)
    expect(result.view, "the second browser's view is not in Ann's profile").toBe(result.ann)
    expect(result.copies, "the unstored login's observation was not stored exactly once").toBe(1)
  }, 90_000)

  it("three tenants' copies of the dev set's first 40 people fed side by side end where each whole history does, and read as one tenant's alone", async () => {
    const sample = await devsetSample(40)
    const tenants = ["acme", "globex", "initech"]
    const streams = tenants.map((tenant) => sample.map((e): CanonicalEvent => ({ ...e, tenant })))
    const whole = wholeHistory(streams.flat())
    const alone = await landBatches([sample])
    const r = await landStreams(streams.map((events, i) => randomBatches(events, 21 + i, 30)))
    expect(r.current.size).toBe(streams.flat().length)
    expect(difference(whole, r.current)).toEqual({ otherPart: 0, otherId: 0, examples: [] })
    // A tenant's identifiers and links as acme's alone read them: its keys without the tenant, its profile ids as acme's
    // (a profile id is made with its tenant; each message's whole-history profile pairs them).
    for (const tenant of tenants) {
      const asAcme = new Map(sample.map((e) => [whole.get(keyOf(tenant, e.messageId))!, whole.get(keyOf("acme", e.messageId))!]))
      const own = (m: ReadonlyMap<string, string>, t: string) => new Map([...m].filter(([k]) => k.startsWith(`${t}/`))
        .map(([k, v]) => [k.slice(t.length + 1), v.replace(/prof_[A-Za-z0-9_-]+/g, (p) => asAcme.get(p) ?? p)]))
      expect(changedKeys(own(alone.nodes, "acme"), own(r.nodes, tenant)), tenant).toEqual({ count: 0, examples: [] })
      expect(changedKeys(own(alone.links, "acme"), own(r.links, tenant)), tenant).toEqual({ count: 0, examples: [] })
    }
  }, 180_000)

  it("batches holding two tenants at once, fed from three streams side by side, take each tenant's turn in order and end where the whole history does", async () => {
    const sample = await devsetSample(40)
    const events = interleave([sample, sample.map((e): CanonicalEvent => ({ ...e, tenant: "globex" }))], 5)
    // Each stream's batches hold both tenants' messages (a Kafka consumer's batch holds several tenants'); a tenant's
    // batches of different streams wait for each other, in any order (the result is the same whatever the order).
    const streams: Array<Array<ReadonlyArray<CanonicalEvent>>> = [[], [], []]
    randomBatches(events, 31, 30).forEach((batch, i) => streams[i % 3]!.push(batch))
    const r = await landStreams(streams)
    expect(r.current.size).toBe(events.length)
    expect(difference(wholeHistory(events), r.current)).toEqual({ otherPart: 0, otherId: 0, examples: [] })
  }, 180_000)
})
