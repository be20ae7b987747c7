// On the in-process bus readiness judges whether the pipeline moves, not how old one tenant's backlog is. Tenants take
// turns (ingest/bus.ts), so a tenant with many calls queued, or sharing the turns with other flooding tenants, may
// have records waiting past the 30 s limit while calls keep completing: before, /health then answered 503 and every
// sender of every tenant was refused `not_ready`, also a tenant with nothing queued. A pipeline where no call completes
// for the limit (a blocked handler) while records wait behind the call is still not ready; one long call alone is not.
import { Deferred, Effect, Layer, Logger, References } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import { EventBus, type Topic } from "../../ingest/bus.ts"
import { Collector } from "../../ingest/collector.ts"
import type { HealthOptions } from "../../ingest/health.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, post, removeDir, TEST_KEYS } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withHealthCollector = <A, E>(
  health: HealthOptions,
  program: (url: string, bus: EventBus["Service"]) => Effect.Effect<A, E, import("effect").Scope.Scope>,
) => {
  const layer = Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS), health }).pipe(
    Layer.provideMerge(pipelineLayer(backendConfig(dir))))
  return Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    return yield* program((yield* Collector).url, yield* EventBus)
  })).pipe(Effect.provide(layer), Effect.provide(Logger.layer([Logger.make((l) => {
    logged.push(JSON.stringify([l.message, l.fiber.getRef(References.CurrentLogAnnotations)]))
  })]))))
}
let logged: Array<string> = []
beforeEach(() => { logged = [] })

const getHealth = (url: string) =>
  Effect.promise(() => fetch(`${url}/health`).then(async (r) => {
    const answer = { status: r.status, body: (await r.json()) as Record<string, any> }
    checkResponse("/health", "GET", answer.status, answer.body)
    return answer
  }))

/** A topic whose records are their tenant's name, handed on one a call (maxBatch 1), so each publish is one turn. */
const probe: Topic<string> = { name: "probe", key: (t) => t, tenant: (t) => t }

/** globex's one message, through the collector: its events land through the real pipeline. */
const globexTrack = (id: string) => (url: string) =>
  post(`${url}/v1/track`, { userId: "g1", event: "Viewed", messageId: id }, { authorization: basicAuth(OTHER_TENANT_KEY) })

const LIMIT_MS = 1_000

it("a tenant whose queued records are old while calls keep completing makes no other tenant's post 503; /health warns, the log names the tenant", () =>
  withHealthCollector({ maxBacklogAgeMs: LIMIT_MS }, (url, bus) =>
    Effect.gen(function* () {
      // Each call takes 40 ms and completes: the pipeline moves, but acme's 80 calls queue for over 3 s.
      let calls = 0
      yield* bus.consume(probe, () => Effect.sleep("40 millis").pipe(Effect.andThen(Effect.sync(() => { calls++ }))), { maxBatch: 1 })
      for (let i = 0; i < 80; i++) yield* Effect.forkChild(bus.publish(probe, ["acme"]))
      // Wait until acme's oldest record has waited past the limit (with calls still to go).
      for (;;) {
        const b = (yield* bus.backlog)["probe"]
        if (b !== undefined && b.pending > 10 && b.oldestAgeMs > LIMIT_MS + 200) break
        expect(b === undefined || b.pending > 10).toBe(true)
        yield* Effect.sleep("50 millis")
      }
      const before = calls
      const health = yield* getHealth(url)
      const landed = yield* globexTrack("g-1")(url)
      expect(calls).toBeGreaterThan(before)
      expect(landed).toMatchObject({ status: 200 })
      expect(health.status).toBe(200)
      expect(health.body).toMatchObject({ ready: true, reasons: [] })
      // Honest: the old backlog is shown as a warning that refuses no sender; which tenant's is not told to whoever asks.
      expect(health.body.warnings.join("\n")).toMatch(/^topic probe: the oldest of \d+ records has waited \d+ s \(limit 1 s\) while its consumer's calls keep completing/)
      expect(JSON.stringify(health.body)).not.toContain("acme")
      expect(health.body.backends.bus.state).toBe("degraded")
      expect(logged.filter((l) => l.includes("wait past the backlog limit while the pipeline moves"))).toEqual([
        expect.stringMatching(/"topic":"probe","tenant":"acme"/),
      ])
      expect(health.body.backends.bus.oldestPendingSeconds).toBeGreaterThan(LIMIT_MS / 1000)
    })), 30_000)

it("a pipeline where no call completes for the limit (a blocked handler) is not ready: /health 503 and senders refused", () =>
  withHealthCollector({ maxBacklogAgeMs: LIMIT_MS }, (url, bus) =>
    Effect.gen(function* () {
      // Eight records wait; the first three calls complete, then one call blocks until released, four more behind it.
      const go = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      let calls = 0
      yield* bus.consume(probe, () => Effect.suspend(() => Deferred.await(++calls <= 3 ? go : release)), { maxBatch: 1 })
      // Released however the test ends, so the bus can drain when the scope closes.
      yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
      for (let i = 0; i < 8; i++) yield* Effect.forkChild(bus.publish(probe, ["acme"]))
      while ((yield* bus.pending)["probe"] !== 8) yield* Effect.sleep("10 millis")
      yield* Deferred.succeed(go, undefined)
      yield* Effect.sleep(`${LIMIT_MS / 2} millis`)
      expect((yield* getHealth(url)).status).toBe(200)
      yield* Effect.sleep(`${LIMIT_MS / 2 + 500} millis`)
      const health = yield* getHealth(url)
      expect(health.status).toBe(503)
      expect(health.body.reasons).toEqual([expect.stringMatching(/^topic probe: no call of its consumer has completed for \d+ s while the oldest of 5 records has waited \d+ s \(limit 1 s\)$/)])
      expect(health.body.backends.bus.state).toBe("degraded")
      const refused = yield* globexTrack("g-2")(url)
      expect(refused).toMatchObject({ status: 503, body: { rule: "not_ready", error: expect.stringMatching(/topic probe/) } })
      yield* Deferred.succeed(release, undefined)
      for (let i = 0; i < 100 && (yield* bus.backlog)["probe"]!.pending > 0; i++) yield* Effect.sleep("50 millis")
      expect((yield* getHealth(url)).status).toBe(200)
      expect((yield* globexTrack("g-2")(url)).status).toBe(200)
    })), 30_000)

it("one call running past the limit with nothing queued behind it refuses no sender; a record left waiting behind it past the limit does", () =>
  withHealthCollector({ maxBacklogAgeMs: LIMIT_MS }, (url, bus) =>
    Effect.gen(function* () {
      // One long call (a slow statement, a big import call): it ends when released.
      const release = yield* Deferred.make<void>()
      let calls = 0
      yield* bus.consume(probe, () => Effect.suspend(() => ++calls === 1 ? Deferred.await(release) : Effect.void), { maxBatch: 1 })
      yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
      yield* Effect.forkChild(bus.publish(probe, ["acme"]))
      yield* Effect.sleep(`${LIMIT_MS * 2} millis`)
      // Before, readiness judged the call's own records: every tenant's post was refused not_ready after the limit.
      const during = yield* getHealth(url)
      expect(during.status).toBe(200)
      expect(during.body).toMatchObject({ ready: true, reasons: [] })
      expect(yield* globexTrack("g-3")(url)).toMatchObject({ status: 200 })
      // A record queued behind the call waits past the limit: now the pipeline does not move for it, and senders are told.
      yield* Effect.forkChild(bus.publish(probe, ["acme"]))
      yield* Effect.sleep(`${LIMIT_MS + 500} millis`)
      const behind = yield* getHealth(url)
      expect(behind.status).toBe(503)
      expect(behind.body.reasons).toEqual([expect.stringMatching(/^topic probe: no call of its consumer has completed for \d+ s while the oldest of 2 records has waited \d+ s \(limit 1 s\)$/)])
      expect(yield* globexTrack("g-4")(url)).toMatchObject({ status: 503, body: { rule: "not_ready" } })
      yield* Deferred.succeed(release, undefined)
      for (let i = 0; i < 100 && (yield* bus.backlog)["probe"]!.pending > 0; i++) yield* Effect.sleep("50 millis")
      expect((yield* getHealth(url)).status).toBe(200)
      expect(calls).toBe(2)
    })), 30_000)
