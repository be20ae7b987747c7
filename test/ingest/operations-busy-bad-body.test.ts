// A wrong operation body while one of its kind runs. Found probing cdp serve: while a replay ran, POST
// /v1/operations/replay {"from": "2026-01-01", "to": "2025-01-01"} (a reversed range), a month 13 or a source "../etc"
// were answered 409 operation_running "a replay is running already ... ask again when it ends": the sender waited,
// asked again, and only then learnt the body itself was wrong. A body is checked before what runs is.
import { Deferred, Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { makeJobs } from "../../ingest/jobs.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { operationsRoute } from "../../ingest/operations-route.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import type { QueryReply } from "../../ingest/query-route.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"
import { ADMIN_PRINCIPAL, routeRequest } from "../support/route-request.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const post = (path: string, body: unknown) => routeRequest("POST", path, body)
const admin = ADMIN_PRINCIPAL

describe("an operation's body while one of its kind runs", () => {
  it("a wrong body is 400 naming the field, not 409 to ask again later", () =>
    withPipeline(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const jobs = yield* makeJobs(warehouse)
      const route = operationsRoute({ warehouse, pipeline: yield* Pipeline, objects: yield* ObjectStore, jobs })
      const gate = yield* Deferred.make<void>()
      const done: QueryReply = { status: 200, body: { success: true } }
      yield* jobs.start("replay", undefined, {}, Effect.as(Deferred.await(gate), done))
      yield* jobs.start("rescore", undefined, {}, Effect.as(Deferred.await(gate), done))

      const cases: ReadonlyArray<readonly [string, Record<string, unknown>, string, string]> = [
        ["/v1/operations/replay", { from: "2026-01-01", to: "2025-01-01" }, "bad_range", "/to"],
        ["/v1/operations/replay", { from: "2026-01-01", to: "2026-13-01" }, "bad_range", "/to"],
        ["/v1/operations/replay", { from: "2026-01-01", to: "2026-02-01", source: "../etc" }, "unknown_source", "/source"],
        ["/v1/operations/rescore", { since: "soon" }, "bad_since", "/since"],
      ]
      for (const [path, body, rule, field] of cases) {
        const reply = yield* route(post(path, body), admin)
        expect(reply, `${path} ${JSON.stringify(body)}`).toMatchObject({ status: 400, body: { rule, field } })
      }
      // A right one is still told what runs.
      const busy = yield* route(post("/v1/operations/replay", { from: "2025-01-01", to: "2026-01-01" }), admin)
      expect(busy).toMatchObject({ status: 409, body: { rule: "operation_running" } })
      yield* Deferred.succeed(gate, undefined)
    })), 60_000)
})
