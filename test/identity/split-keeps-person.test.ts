// A split takes one identifier out of linking; what only it joined splits off, what else joins stays. Found probing cdp
// serve: ten identify messages of user_id x1 stating e-mail x1@probe.example, then POST /v1/identity/split
// {"identifier": "user_id:x1"}: the rebuild answered profilesBefore 1, profilesAfter 10 (every message its own
// profile), and GET /v1/profiles/email:x1@probe.example then answered 404 'no profile of tenant "t2" holds prof_...'
// (the e-mail kept its old profile, which no message had any more). Each message was anchored by its removed user id,
// and a message anchored by a value nobody may link through became a profile of its own, its e-mail left behind.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, landBatch, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a split of a user id", () => {
  it("leaves the messages that also state the person's e-mail together, in the profile the e-mail resolves to", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landBatch(url, Array.from({ length: 10 }, (_, i) => ({
        type: "identify", userId: "x1", traits: { email: "x1@probe.example" }, messageId: `m${i}`, timestamp: `2024-10-01T10:00:0${i}Z`,
      })), { identifier: "user_id:x1", events: 10 })
      const split = yield* call(url, "POST", "/v1/identity/split", ADMIN, { identifier: "user_id:x1", reason: "a shared login", tenant: "acme" })
      expect(split.status, JSON.stringify(split.body)).toBe(200)
      expect(split.body.rebuild.tenants[0]).toMatchObject({ profilesBefore: 1, profilesAfter: 1 })
      const events = yield* call(url, "GET", "/v1/profiles/email:x1@probe.example/events?tenant=acme&limit=11", ADMIN)
      expect(events.status, JSON.stringify(events.body)).toBe(200)
      expect(events.body.events).toHaveLength(10)
    })), 60_000)
})
