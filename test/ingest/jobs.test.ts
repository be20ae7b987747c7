// The server's background operations (ingest/jobs.ts): a job runs in the scope it was made in, not in the request
// that started it; it is seen running, then done with what it did or failed with why; the newest of a kind and
// tenant is found; and the scope's end interrupts what still runs.
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { accepted, awaitJob, isRunning, jobView, makeJobs } from "../../ingest/jobs.ts"
import type { QueryReply } from "../../ingest/query-route.ts"

describe("background jobs", () => {
  it("run in their own scope, are seen running, then done with their result or failed with why", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const jobs = yield* makeJobs()
      const gate = yield* Deferred.make<void>()
      const work = Effect.as(Deferred.await(gate), { status: 200, body: { success: true, records: 3 } } satisfies QueryReply)
      const job = yield* jobs.start("replay", "acme", { from: "2024-09-01" }, work)
      expect(isRunning(job)).toBe(true)
      expect(jobView(job)).toMatchObject({ id: job.id, kind: "replay", tenant: "acme", from: "2024-09-01", status: "running", statusUrl: `/v1/operations/${job.id}` })
      expect(accepted(job)).toMatchObject({ status: 202, headers: { location: `/v1/operations/${job.id}` } })
      yield* Deferred.succeed(gate, undefined)
      expect(yield* awaitJob(job)).toEqual({ status: 200, body: { success: true, records: 3 } })
      expect(jobView(jobs.get(job.id)!)).toMatchObject({ status: "done", result: { records: 3 }, finishedAt: expect.any(String) })

      const refused = yield* jobs.start("rescore", undefined, {}, Effect.succeed({ status: 409, body: { success: false, rule: "busy", error: "try later" } }))
      yield* awaitJob(refused)
      expect(jobView(refused)).toMatchObject({ tenant: null, status: "failed", failure: { status: 409, rule: "busy", error: "try later" } })
      expect(jobView(refused)).not.toHaveProperty("result")

      const newer = yield* jobs.start("replay", "acme", {}, Effect.succeed({ status: 200, body: { success: true } }))
      expect(jobs.latest("replay", "acme")?.id).toBe(newer.id)
      expect(jobs.latest("replay", "globex")).toBeUndefined()
      expect(jobs.list().map((j) => j.id)).toEqual([newer.id, refused.id, job.id])
    }))))

  it("the end of the server's scope interrupts what still runs", () =>
    Effect.runPromise(Effect.gen(function* () {
      const scope = yield* Scope.make()
      const jobs = yield* makeJobs().pipe(Scope.provide(scope))
      const job = yield* jobs.start("retention", undefined, {}, Effect.never)
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Fiber.await(job.fiber)
      expect(Exit.hasInterrupts(exit)).toBe(true)
    })))
})
