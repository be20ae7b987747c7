// Segment's live API says how many accepted messages had a time written without a zone, and the zone they were read
// in (the segment source's "timeZone", else UTC), as a webhook post's answer and cdp ingest's summary say.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, post, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const track = (messageId: string, timestamp: string, fields: Record<string, unknown> = {}) =>
  ({ type: "track", event: "Viewed", userId: "u1", messageId, timestamp, ...fields })

const send = (url: string, route: string, body: unknown) =>
  Effect.tap(post(`${url}${route}`, JSON.stringify(body), { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }),
    (r) => Effect.sync(() => checkResponse(route, "POST", r.status, r.body)))

describe("Segment's answer names the messages whose time had no zone", () => {
  it("a batch: how many were read as UTC; all zoned: nothing said; beside a refused message: still counted", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const mixed = yield* send(url, "/v1/batch", { batch: [track("a1", "2024-07-01T12:00:00"), track("a2", "2024-07-01 13:00:00"), track("a3", "2024-07-01T12:00:00Z")] })
      expect([mixed.status, mixed.body]).toEqual([200, { success: true, accepted: 3, zonelessTimes: { UTC: 2 } }])
      const zoned = yield* send(url, "/v1/batch", { batch: [track("b1", "2024-07-01T12:00:00+02:00")] })
      expect([zoned.status, zoned.body]).toEqual([200, { success: true, accepted: 1 }])
      const partly = yield* send(url, "/v1/batch", { batch: [track("c1", "2024-07-01T12:00:00"), track("c2", "2024-07-01T12:00:00", { userId: undefined })] })
      expect(partly.status).toBe(400)
      expect(partly.body).toMatchObject({ success: false, accepted: 1, zonelessTimes: { UTC: 1 } })
      expect(partly.body["rejected"]).toHaveLength(1)
    })), 60_000)

  it("a single message on /v1/track names the segment source's zone when one is set", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const res = yield* send(url, "/v1/track", track("d1", "2024-07-01T12:00:00"))
      expect([res.status, res.body]).toEqual([200, { success: true, accepted: 1, zonelessTimes: { "Europe/Berlin": 1 } }])
    }), { sourceOptions: { segment: { timeZone: "Europe/Berlin" } } }), 60_000)
})
