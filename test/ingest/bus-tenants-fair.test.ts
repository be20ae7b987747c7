// The in-process bus hands its consumer what queued up while the previous batch was handled as one batch (group
// commit), answered as one: another tenant's one-message batch published behind one tenant's flood (up to its 10,000
// pending messages) waited for all of it to land (seen on cdp serve: globex's one-message batches took 3.2-4.6 s at
// p50 beside acme's flood, 0.1-0.3 s without). The batch is handled tenant by tenant, the smallest first.
import { Deferred, Effect, Fiber, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { EventBus, type Topic } from "../../ingest/bus.ts"

interface Rec { readonly tenant: string; readonly n: number }
const topic: Topic<Rec> = { name: "fair-test", key: (r) => `${r.tenant}/${r.n}`, tenant: (r) => r.tenant }
const records = (tenant: string, from: number, count: number): Array<Rec> => Array.from({ length: count }, (_, i) => ({ tenant, n: from + i }))

describe("the in-process bus between tenants", () => {
  it("hands one tenant's message on before the 8,000 of another tenant queued ahead of it, each tenant's in order", async () => {
    const { batches } = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const bus = yield* EventBus
      const gate = yield* Deferred.make<void>()
      const batches: Array<ReadonlyArray<Rec>> = []
      yield* bus.consume(topic, (batch) => Effect.gen(function* () {
        batches.push(batch)
        // The first batch waits until everything else is published: the rest queues up behind it.
        if (batches.length === 1) yield* Deferred.await(gate)
      }))
      const first = yield* Effect.forkChild(bus.publish(topic, records("acme", 0, 1000)))
      yield* Effect.sleep("50 millis")
      const later: Array<Fiber.Fiber<void, unknown>> = []
      for (let i = 1; i <= 8; i++) later.push(yield* Effect.forkChild(bus.publish(topic, records("acme", i * 1000, 1000))))
      later.push(yield* Effect.forkChild(bus.publish(topic, records("globex", 0, 1))))
      yield* Effect.sleep("50 millis")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      for (const f of later) yield* Fiber.join(f)
      return { batches }
    }).pipe(Effect.provide(Layer.fresh(EventBus.memory)))))
    const all = batches.flat()
    expect(all).toHaveLength(9001)
    // Each tenant's records in the order published.
    expect(all.filter((r) => r.tenant === "acme").map((r) => r.n)).toEqual(Array.from({ length: 9000 }, (_, i) => i))
    const globexBatch = batches.findIndex((b) => b.some((r) => r.tenant === "globex"))
    const acmeUpTo = batches.slice(0, globexBatch + 1).flat().filter((r) => r.tenant === "acme").length
    expect(acmeUpTo, `${acmeUpTo} of acme's messages were handled before or with globex's one`).toBeLessThanOrEqual(3000)
  })
})
