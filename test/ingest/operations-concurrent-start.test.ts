// The same operation asked for several times at once. Found probing cdp serve: six identical POST
// /v1/operations/replay {"from": "1950-01-01", "to": "2050-01-01", "tenant": "default"} sent together were all
// answered 202 and ran side by side (one of a kind per tenant is the rule), each reporting the others' duplicates as
// its own (2,187 archived messages; the six said 2,187, 4,374, ... 13,122 duplicates). A job was put where the next
// request looks for it only after its "running" state was written to the warehouse, so every request sent meanwhile
// found none running.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { awaitJob, makeJobs } from "../../ingest/jobs.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { operationsRoute } from "../../ingest/operations-route.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"
import { ADMIN_PRINCIPAL, routeRequest } from "../support/route-request.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const post = (path: string, body: unknown) => routeRequest("POST", path, body)
const admin = ADMIN_PRINCIPAL

describe("identical operations asked at once", () => {
  it("one starts; the others are 409 naming it", () =>
    withPipeline(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const jobs = yield* makeJobs(warehouse)
      const route = operationsRoute({ warehouse, pipeline: yield* Pipeline, objects: yield* ObjectStore, jobs })
      for (const [path, body] of [
        ["/v1/operations/replay", { from: "1950-01-01", to: "2050-01-01", tenant: "acme" }],
        ["/v1/operations/rescore", { since: "2020-01-01", tenant: "acme" }],
      ] as const) {
        const replies = yield* Effect.all(Array.from({ length: 6 }, () => route(post(path, body), admin)), { concurrency: "unbounded" })
        expect(replies.map((r) => r.status).sort(), path).toEqual([202, 409, 409, 409, 409, 409])
        const started = replies.find((r) => r.status === 202)!.body as { id: string }
        for (const r of replies.filter((r) => r.status === 409)) expect(String((r.body as { error: string }).error)).toContain(started.id)
        yield* Effect.forEach(jobs.list(), awaitJob)
      }
    })), 60_000)
})
