// The server's background operations (ingest/jobs.ts): a job runs in the scope it was made in, not in the request
// that started it; it is seen running, then done with what it did or failed with why; the newest of a kind and
// tenant is found; the scope's end interrupts what still runs; and with a warehouse every state is on record there,
// the interrupted ones too (a server's stop, or its kill: the next server marks what it left running).
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { accepted, awaitJob, isRunning, jobView, makeJobs } from "../../ingest/jobs.ts"
import type { QueryReply } from "../../ingest/query-route.ts"
import { storedOperation, storedOperations, storeOperation } from "../../warehouse/operations.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

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

  it("record every state in the warehouse: done, failed, and interrupted by the server's stop or left running by its kill", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const scope = yield* Scope.make()
      const jobs = yield* makeJobs(warehouse).pipe(Scope.provide(scope))
      const done = yield* jobs.start("replay", "acme", { from: "2024-09-01" }, Effect.succeed({ status: 200, body: { success: true, records: 3 } }), "tok_a")
      yield* awaitJob(done)
      const failed = yield* jobs.start("rescore", undefined, {}, Effect.succeed({ status: 400, body: { success: false, rule: "bad_since", error: "since: no" } }), "tok_b")
      yield* awaitJob(failed)
      const gate = yield* Deferred.make<void>()
      const held = yield* jobs.start("retention", undefined, {}, Effect.as(Deferred.await(gate), { status: 200, body: { success: true } }), "tok_c")
      expect(yield* storedOperation(held.id)).toMatchObject({ status: "running", askedBy: "tok_c" })
      yield* Scope.close(scope, Exit.void)

      expect(yield* storedOperation(done.id)).toMatchObject({
        kind: "replay", tenant: "acme", params: { from: "2024-09-01" }, status: "done", askedBy: "tok_a", outcome: { records: 3 }, finishedAt: expect.any(String),
      })
      expect(yield* storedOperation(failed.id)).toMatchObject({ tenant: undefined, status: "failed", outcome: { status: 400, rule: "bad_since", error: "since: no" } })
      expect(yield* storedOperation(held.id)).toMatchObject({ status: "interrupted", finishedAt: expect.any(String) })

      // A server killed outright leaves its operation running on record: the next server's jobs mark it interrupted.
      const startedAt = new Date().toISOString()
      yield* storeOperation({
        id: "op_left", kind: "replay", tenant: "acme", params: {}, status: "running", startedAt, finishedAt: undefined, askedBy: "tok_a", server: "srv_killed", outcome: {},
      })
      yield* Effect.scoped(makeJobs(warehouse))
      expect(yield* storedOperation("op_left")).toMatchObject({ status: "interrupted", startedAt })
      expect((yield* storedOperations({ tenant: "acme", limit: 10 })).map((o) => o.id)).toEqual(["op_left", done.id])
      expect(yield* storedOperation("op_none")).toBeUndefined()
    })), 60_000)
})
