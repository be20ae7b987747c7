// The API's reads (profile, its pages, consent) run on the embedded engine's reads connection (apiReads), so they
// neither wait for the pipeline's landing nor hold it. Seen probing cdp serve: while one tenant flooded and read
// heavily, another tenant's one-message batch waited 16-19 s; profile reads' p99 rose from ~14 ms to ~78 ms while
// batches landed.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { callApi, landBatch, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { HELD_SECONDS, holding, holdSql } from "../support/held-connection.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

it("profile and consent reads are answered while a slow statement holds the pipeline's connection, and see what landed", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    yield* landBatch(url, [{ type: "track", userId: "ann", event: "Order Completed", messageId: "a1" }], { identifier: "user_id:ann", events: 1 })
    const w = yield* Warehouse
    // Unbounded, so on the pipeline's connection, as a landing batch's statements are: the engine's sleep.
    const slow = yield* holding(w.query(holdSql()))
    const timed = (path: string) => Effect.gen(function* () {
      const started = performance.now()
      const reply = yield* callApi(url, "GET", path, TEST_ADMIN_TOKEN)
      return { status: reply.status, body: reply.body, ms: performance.now() - started }
    })
    const profile = yield* timed("/v1/profiles/user_id%3Aann?tenant=acme")
    const consent = yield* timed("/v1/consent/user_id%3Aann?tenant=acme")
    const identifiers = yield* timed("/v1/profiles/user_id%3Aann/identifiers?tenant=acme")
    // Before: each waited for what was left of the sleep, so the last was answered after it ended.
    const answeredWhileHeld = slow.stillHeld()
    yield* slow.ended
    console.log(`beside a ${HELD_SECONDS} s statement on the pipeline's connection: profile ${profile.ms.toFixed(0)} ms, consent ${consent.ms.toFixed(0)} ms, identifiers ${identifiers.ms.toFixed(0)} ms`)
    expect([profile.status, consent.status, identifiers.status]).toEqual([200, 200, 200])
    expect(answeredWhileHeld, "the reads were answered only once the pipeline's statement had ended").toBe(true)
    // What lands next is seen by the next read (the cached answer is dropped by the write, the miss reads it).
    yield* landBatch(url, [{ type: "track", userId: "ann", event: "Order Refunded", messageId: "a2" }], { identifier: "user_id:ann", events: 2 })
    const again = yield* callApi(url, "GET", "/v1/profiles/user_id%3Aann?tenant=acme", TEST_ADMIN_TOKEN)
    expect((again.body.recentEvents as Array<{ event: string }>).map((e) => e.event).sort()).toEqual(["Order Completed", "Order Refunded"])
  })), 60_000)

it("the dead-letter list is answered while a slow statement holds the pipeline's connection", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    const w = yield* Warehouse
    const slow = yield* holding(w.query(holdSql()))
    const list = yield* callApi(url, "GET", "/v1/dead-letters?limit=10", TEST_ADMIN_TOKEN)
    // Before: it waited for what was left of the sleep.
    const answeredWhileHeld = slow.stillHeld()
    yield* slow.ended
    expect(list.status).toBe(200)
    expect(list.body.deadLetters).toEqual([])
    expect(answeredWhileHeld, "the list was answered only once the pipeline's statement had ended").toBe(true)
  })), 60_000)

it("audience, DSR, operations, token and listening reads and the audit log are answered while a slow statement holds the pipeline's connection", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    const w = yield* Warehouse
    const slow = yield* holding(w.query(holdSql()))
    const paths = [
      "/v1/audiences?tenant=acme", "/v1/audit?limit=5", "/v1/dsr?limit=5", "/v1/operations?limit=5", "/v1/tokens?limit=5",
      "/v1/listening/report?tenant=acme&since=7d",
    ]
    // All at once: before, each waited for what was left of the sleep, but the audit log (the object store's).
    const replies = yield* Effect.forEach(paths, (path) => Effect.gen(function* () {
      const started = performance.now()
      const reply = yield* callApi(url, "GET", path, TEST_ADMIN_TOKEN)
      return { path, status: reply.status, ms: Math.round(performance.now() - started), whileHeld: slow.stillHeld() }
    }), { concurrency: "unbounded" })
    yield* slow.ended
    console.log(`beside a ${HELD_SECONDS} s statement on the pipeline's connection: ${replies.map((r) => `${r.path} ${r.ms} ms`).join(", ")}`)
    expect(replies.map((r) => [r.path, r.status])).toEqual(paths.map((p) => [p, 200]))
    // Each answered while the statement still held the pipeline's connection.
    expect(replies.map((r) => [r.path, r.whileHeld])).toEqual(paths.map((p) => [p, true]))
  })), 60_000)
