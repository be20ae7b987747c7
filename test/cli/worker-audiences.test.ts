// `cdp worker` keeps audiences current (cdp serve --edge-only lands nothing, so the consumer must): the refresher the
// worker forks, on a consuming pipeline (the in-process bus here; test/integration/kafka-workers.test.ts runs the
// real worker against Kafka), records entries as events land; CDP_AUDIENCE_REFRESH=off leaves it to another worker.
import { Effect, Logger } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import { followAudiences } from "../../cli/worker.ts"
import { ConsentPoliciesRef, DEFAULT_POLICIES } from "../../consent/index.ts"
import { audienceChangesSince, audienceMembers, createAudience } from "../../identity/audiences/index.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { landPeople } from "../identity/audiences/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => {
  delete process.env["CDP_AUDIENCE_REFRESH"]
  removeDir(dir)
})

const onWorkerPipeline = <A, E>(program: Effect.Effect<A, E, any>) =>
  Effect.runPromise(Effect.scoped(program).pipe(
    Effect.provide(pipelineLayer(backendConfig(dir), { consume: true })),
    Effect.provideService(ConsentPoliciesRef, DEFAULT_POLICIES),
    Effect.provide(Logger.layer([])),
  ) as Effect.Effect<A, E>)

describe("cdp worker's audiences", () => {
  it("an audience's members enter as the worker lands their events, with the change recorded and emitted", () =>
    onWorkerPipeline(Effect.gen(function* () {
      expect(yield* followAudiences({ tick: "100 millis" })).toBe(true)
      const audience = yield* createAudience("acme", { name: "Everyone with a city", purpose: "EmailMarketing", condition: { trait: "city", exists: true } }, "test")
      yield* landPeople
      let members = 0
      for (let i = 0; i < 300 && members < 2; i++) {
        yield* Effect.sleep("100 millis")
        members = (yield* audienceMembers("acme", audience.id)).members.length
      }
      expect(members).toBe(2)
      const feed = yield* audienceChangesSince("acme", audience.id, undefined, 10)
      expect(feed.changes.map((c) => c.change)).toEqual(["entered", "entered"])
      // The entries land as Audience Entered events with the profiles (the worker's own pipeline emits them).
      let entered = 0
      for (let i = 0; i < 100 && entered < 2; i++) {
        entered = Number((yield* query<{ n: string }>("SELECT count() AS n FROM events WHERE tenant = 'acme' AND event = 'Audience Entered'"))[0]!.n)
        if (entered < 2) yield* Effect.sleep("100 millis")
      }
      expect(entered).toBe(2)
    })), 120_000)

  it("CDP_AUDIENCE_REFRESH=off: the worker leaves audiences to another one", () =>
    onWorkerPipeline(Effect.gen(function* () {
      process.env["CDP_AUDIENCE_REFRESH"] = "off"
      expect(yield* followAudiences({ tick: "100 millis" })).toBe(false)
      const audience = yield* createAudience("acme", { name: "Everyone with a city", purpose: "EmailMarketing", condition: { trait: "city", exists: true } }, "test")
      yield* landPeople
      yield* Effect.sleep("1500 millis")
      expect((yield* audienceMembers("acme", audience.id)).members).toEqual([])
    })), 120_000)
})
