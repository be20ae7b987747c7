// One tenant's background operation does not refuse another tenant's. Found probing cdp serve: while an admin's replay
// of tenant acme ran (POST /v1/operations/replay {"from", "to", "tenant": "acme"}, 60,000 archived messages), a token
// bound to tenant beta asking for its own replay got 409 operation_running "a replay is running already for another
// tenant; ask again when it ends": acme's work held beta's for as long as it ran. Operations of the same tenant, or one
// over every tenant, still run one at a time.
import { Deferred, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { makeJobs, refuseIfRunning } from "../../ingest/jobs.ts"
import type { QueryReply } from "../../ingest/query-route.ts"

const done: QueryReply = { status: 200, body: { success: true } }

describe("operations of a kind at once", () => {
  it("another tenant's runs beside a tenant's; the same tenant's, or every tenant's, is refused 409 naming what runs", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const jobs = yield* makeJobs()
      const gate = yield* Deferred.make<void>()
      const acme = yield* jobs.start("replay", "acme", {}, Effect.as(Deferred.await(gate), done))

      expect(refuseIfRunning(jobs, "replay", "replay", "beta", "beta")).toBeUndefined()
      expect(refuseIfRunning(jobs, "replay", "replay", undefined, "beta")).toBeUndefined()
      expect(refuseIfRunning(jobs, "rescore", "rescore", "acme", "acme")).toBeUndefined()

      const same = refuseIfRunning(jobs, "replay", "replay", "acme", "acme")
      expect(same).toMatchObject({ status: 409, body: { rule: "operation_running" } })
      expect(String((same!.body as { error: string }).error)).toContain(acme.id)
      // Every tenant's replay would replay acme's archive too.
      const all = refuseIfRunning(jobs, "replay", "replay", undefined, undefined)
      expect(all).toMatchObject({ status: 409, body: { rule: "operation_running" } })
      expect(String((all!.body as { error: string }).error)).toContain(`tenant "acme"`)

      // One over every tenant holds each tenant's, and a bound token is told it covers its tenant.
      yield* Deferred.succeed(gate, undefined)
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
      const gate2 = yield* Deferred.make<void>()
      yield* jobs.start("replay", undefined, {}, Effect.as(Deferred.await(gate2), done))
      const held = refuseIfRunning(jobs, "replay", "replay", "beta", "beta")
      expect(held).toMatchObject({ status: 409, body: { rule: "operation_running" } })
      expect(String((held!.body as { error: string }).error)).toContain("for every tenant")
      yield* Deferred.succeed(gate2, undefined)
    }))))
})
