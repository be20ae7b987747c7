// The in-process bus takes tenants in turns: one handler call holds one tenant's publish calls up to TENANT_TURN
// records (one larger call alone), and the tenant served least recently goes next. Before, a handler call held
// everything of a tenant that had queued up (up to its 10,000 pending messages), so another tenant's message published
// while it was handled waited for all of it (seen on cdp serve: globex's one-message batches beside acme's flood of
// 1,000-message batches from 10 senders, p50 1.0 s and p90 2.3 s to 200, against 65 / 130 ms alone).
import { Deferred, Effect, Exit, Fiber, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { EventBus, TENANT_TURN, TENANTS_AT_ONCE, type Topic } from "../../ingest/bus.ts"

interface Rec { readonly tenant: string; readonly n: number }
const topic: Topic<Rec> = { name: "turns-test", key: (r) => `${r.tenant}/${r.n}`, tenant: (r) => r.tenant }
const records = (tenant: string, from: number, count: number): Array<Rec> => Array.from({ length: count }, (_, i) => ({ tenant, n: from + i }))
const run = <A>(program: Effect.Effect<A, unknown, EventBus | import("effect").Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(Layer.fresh(EventBus.memory))))

/** Records of `tenant` handed to the handler before the call that held `other`'s first record. */
const handledBefore = (batches: ReadonlyArray<ReadonlyArray<Rec>>, tenant: string, other: string) => {
  const at = batches.findIndex((b) => b.some((r) => r.tenant === other))
  return batches.slice(0, at).flat().filter((r) => r.tenant === tenant).length
}

describe("the in-process bus takes tenants in turns", () => {
  it("hands on a publish larger than a turn whole, in one call, and another tenant's message published meanwhile next", async () => {
    const { batches } = await run(Effect.gen(function* () {
      const bus = yield* EventBus
      const gate = yield* Deferred.make<void>()
      const batches: Array<ReadonlyArray<Rec>> = []
      yield* bus.consume(topic, (batch) => Effect.gen(function* () {
        batches.push(batch)
        if (batches.length === 1) yield* Deferred.await(gate)
      }))
      // acme's 1,000 is handled while its 10,000 and 1,000 more queue up, and globex's one.
      const acme = [yield* Effect.forkChild(bus.publish(topic, records("acme", 0, 1000)))]
      yield* Effect.sleep("50 millis")
      acme.push(yield* Effect.forkChild(bus.publish(topic, records("acme", 1000, 10_000))))
      yield* Effect.sleep("20 millis")
      acme.push(yield* Effect.forkChild(bus.publish(topic, records("acme", 11_000, 1000))))
      yield* Effect.sleep("20 millis")
      const globex = yield* Effect.forkChild(bus.publish(topic, records("globex", 0, 1)))
      yield* Effect.sleep("50 millis")
      yield* Deferred.succeed(gate, undefined)
      for (const f of acme) yield* Fiber.join(f)
      yield* Fiber.join(globex)
      return { batches }
    }))
    // One call per publish of acme (its 10,000 is not cut: a stage's outcome may depend on what one call holds), globex's
    // one handed on after the call in progress.
    expect(batches.map((b) => `${b[0]!.tenant} ${b.length}`)).toEqual(["acme 1000", "globex 1", "acme 10000", "acme 1000"])
    expect(batches.flat().filter((r) => r.tenant === "acme").map((r) => r.n)).toEqual(Array.from({ length: 12_000 }, (_, i) => i))
  })

  it("hands on another tenant's message published while a tenant's queued backlog is being handled, before the backlog drains", async () => {
    const { batches } = await run(Effect.gen(function* () {
      const bus = yield* EventBus
      const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const batches: Array<ReadonlyArray<Rec>> = []
      yield* bus.consume(topic, (batch) => Effect.gen(function* () {
        batches.push(batch)
        // The first call holds back acme's next eight publishes; the second (acme's backlog) is handled while
        // globex publishes.
        if (batches.length <= 2) yield* Deferred.await(gates[batches.length - 1]!)
      }))
      const acme: Array<Fiber.Fiber<void, unknown>> = [yield* Effect.forkChild(bus.publish(topic, records("acme", 0, 1000)))]
      yield* Effect.sleep("50 millis")
      for (let i = 1; i <= 8; i++) acme.push(yield* Effect.forkChild(bus.publish(topic, records("acme", i * 1000, 1000))))
      yield* Effect.sleep("50 millis")
      yield* Deferred.succeed(gates[0]!, undefined)
      yield* Effect.sleep("50 millis")
      const globex = yield* Effect.forkChild(bus.publish(topic, records("globex", 0, 1)))
      yield* Effect.sleep("50 millis")
      yield* Deferred.succeed(gates[1]!, undefined)
      for (const f of acme) yield* Fiber.join(f)
      yield* Fiber.join(globex)
      return { batches }
    }))
    const all = batches.flat()
    expect(all).toHaveLength(9001)
    expect(all.filter((r) => r.tenant === "acme").map((r) => r.n)).toEqual(Array.from({ length: 9000 }, (_, i) => i))
    for (const b of batches) expect(b.length).toBeLessThanOrEqual(TENANT_TURN)
    const before = handledBefore(batches, "acme", "globex")
    expect(before, `${before} of acme's 9,000 messages were handled before globex's one`).toBeLessThanOrEqual(1000 + TENANT_TURN)
  })

  it("with tenants side by side, another tenant's publish is handled while a tenant's call is still running, each tenant's calls one at a time and in order", async () => {
    const { order, acmeAtOnce, batches } = await run(Effect.gen(function* () {
      const bus = yield* EventBus
      const gate = yield* Deferred.make<void>()
      const order: Array<string> = []
      const batches: Array<ReadonlyArray<Rec>> = []
      let acmeRunning = 0
      let acmeAtOnce = 0
      yield* bus.consume(topic, (batch) => Effect.gen(function* () {
        batches.push(batch)
        if (batch[0]!.tenant !== "acme") return
        acmeAtOnce = Math.max(acmeAtOnce, ++acmeRunning)
        // acme's first call is held until globex's publish has been answered (or a generous wait has passed).
        if (batch[0]!.n === 0) {
          order.push("acme's first call running")
          yield* Deferred.await(gate)
          order.push("acme's first call ended")
        }
        acmeRunning--
      }), { tenantsAtOnce: TENANTS_AT_ONCE })
      const acme = [yield* Effect.forkChild(bus.publish(topic, records("acme", 0, TENANT_TURN)))]
      yield* Effect.sleep("50 millis")
      for (let i = 1; i <= 3; i++) acme.push(yield* Effect.forkChild(bus.publish(topic, records("acme", i * TENANT_TURN, TENANT_TURN))))
      const globex = yield* Effect.forkChild(bus.publish(topic, records("globex", 0, 1)))
      // Before: globex's publish waited for acme's call, so this wait ran out and acme's call ended first.
      const answered = yield* Fiber.join(globex).pipe(Effect.timeoutOption("10 seconds"))
      if (answered._tag === "Some") order.push("globex answered")
      yield* Deferred.succeed(gate, undefined)
      for (const f of acme) yield* Fiber.join(f)
      yield* Fiber.join(globex)
      return { order, acmeAtOnce, batches }
    }))
    expect(order).toEqual(["acme's first call running", "globex answered", "acme's first call ended"])
    expect(acmeAtOnce, "acme's calls overlapped").toBe(1)
    expect(batches.flat().filter((r) => r.tenant === "acme").map((r) => r.n)).toEqual(Array.from({ length: 4 * TENANT_TURN }, (_, i) => i))
  })

  it("with tenants side by side, a tenant's failing calls are still reported while another tenant's succeed", async () => {
    const { failing, acmeLanded } = await run(Effect.gen(function* () {
      const bus = yield* EventBus
      let acmeFails = true
      let acmeLanded = 0
      yield* bus.consume(topic, (batch) => Effect.suspend(() => batch[0]!.tenant !== "acme" ? Effect.void
        : acmeFails ? Effect.fail(new Error("outage of acme's store")) : Effect.sync(() => { acmeLanded += batch.length })), { tenantsAtOnce: TENANTS_AT_ONCE })
      const acme = yield* Effect.forkChild(bus.publish(topic, records("acme", 0, 10)))
      yield* Effect.sleep("50 millis")
      yield* bus.publish(topic, records("globex", 0, 1))
      const failing = (yield* bus.backlog)[topic.name]?.failing
      acmeFails = false
      yield* Fiber.join(acme)
      return { failing, acmeLanded }
    }))
    expect(failing).toMatchObject({ error: expect.stringContaining("outage of acme's store") })
    expect(acmeLanded).toBe(10)
  })

  it("fails only the publish whose records the handler dies on, once, and hands on the rest", async () => {
    const { outcomes, handled } = await run(Effect.gen(function* () {
      const bus = yield* EventBus
      const handled: Array<Rec> = []
      // Published before the consumer starts: acme's two calls are handed on together, and the handler dies on them.
      const poisoned = yield* Effect.forkChild(bus.publish(topic, records("acme", 0, 1000)))
      const after = yield* Effect.forkChild(bus.publish(topic, records("acme", 1000, 10)))
      const other = yield* Effect.forkChild(bus.publish(topic, records("globex", 0, 3)))
      yield* Effect.sleep("20 millis")
      yield* bus.consume(topic, (batch) =>
        batch.some((r) => r.tenant === "acme" && r.n === 400)
          ? Effect.die(new Error("poison"))
          : Effect.sync(() => { handled.push(...batch) }))
      const outcomes = [yield* Fiber.await(poisoned), yield* Fiber.await(after), yield* Fiber.await(other)]
      return { outcomes: outcomes.map(Exit.isSuccess), handled }
    }))
    expect(outcomes).toEqual([false, true, true])
    // The poisoned publish's records were not taken, the one behind it was, once.
    expect(handled.filter((r) => r.tenant === "acme").map((r) => r.n)).toEqual(Array.from({ length: 10 }, (_, i) => 1000 + i))
    expect(handled.filter((r) => r.tenant === "globex")).toHaveLength(3)
  })
})
