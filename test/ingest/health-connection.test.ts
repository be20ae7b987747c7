// GET /health answers while the pipeline's connection is busy. Seen probing cdp serve: while one tenant's portability
// request ran its searches on the pipeline's connection, /health took 29 s to answer (its warehouse ping waited behind
// them), which a load balancer's or Kubernetes' probe (a second or a few) takes for a dead server. A pipeline that no
// longer lands is told by the backlog's age, which /health reports without asking the pipeline's connection.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { callApi, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { HELD_SECONDS, holding, holdSql } from "../support/held-connection.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

it("/health answers ready, the warehouse up, while a slow statement holds the pipeline's connection", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    const w = yield* Warehouse
    // Unbounded, so on the pipeline's connection, as a landing batch's or a data-subject request's statements are.
    const slow = yield* holding(w.query(holdSql()))
    const started = performance.now()
    const health = yield* callApi(url, "GET", "/health", null)
    const ms = performance.now() - started
    // Before: it waited for the rest of the sleep.
    const answeredWhileHeld = slow.stillHeld()
    yield* slow.ended
    console.log(`/health beside a ${HELD_SECONDS} s statement on the pipeline's connection: ${ms.toFixed(0)} ms`)
    expect(health.status).toBe(200)
    expect(health.body).toMatchObject({ ready: true, backends: { warehouse: { state: "up" } } })
    expect(answeredWhileHeld, "/health was answered only once the pipeline's statement had ended").toBe(true)
  })), 60_000)
