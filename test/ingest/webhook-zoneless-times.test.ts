// A webhook post whose items have times written without a zone is told how many, and in which zone they were read
// (the source's "timeZone", else UTC), as cdp ingest's summary tells: nothing read in a guessed zone goes unsaid.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, post, query, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const HEADER = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes"
const row = (id: string, startedAt: string) => `${id},${startedAt},60,inbound,+1 415 555 0134,Riley,Billing,resolved,"Thanks, all good"`
const postCalls = (url: string, rows: ReadonlyArray<string>) =>
  Effect.tap(post(`${url}/v1/webhooks/calls`, `${[HEADER, ...rows].join("\r\n")}\r\n`, { authorization: basicAuth(WRITE_KEY), "content-type": "text/csv" }),
    (r) => Effect.sync(() => checkResponse("/v1/webhooks/calls", "POST", r.status, r.body)))

describe("a webhook post with times written without a zone", () => {
  it("says how many were read as UTC; a post whose times all have a zone says nothing of it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const mixed = yield* postCalls(url, [row("CA1", "2024-09-16T09:28:50"), row("CA2", "2024-09-16 10:00:00"), row("CA3", "2024-09-16T11:00:00Z")])
      expect(mixed.status).toBe(200)
      expect(mixed.body).toEqual({ success: true, accepted: 3, zonelessTimes: { UTC: 2 } })
      const zoned = yield* postCalls(url, [row("CA4", "2024-09-16T12:00:00+02:00")])
      expect(zoned.body).toEqual({ success: true, accepted: 1 })
      // With a refused row beside them, the accepted ones are still counted.
      const partly = yield* postCalls(url, [row("CA5", "2024-09-16T13:00:00"), row("CA6", "not a time")])
      expect(partly.status).toBe(400)
      expect(partly.body).toMatchObject({ accepted: 1, zonelessTimes: { UTC: 1 } })
    })), 60_000)

  it("names the source's zone when one is set, and stores the time read in it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const res = yield* postCalls(url, [row("CB1", "2024-07-01T09:00:00")])
      expect(res.body).toEqual({ success: true, accepted: 1, zonelessTimes: { "Europe/Berlin": 1 } })
      for (let i = 0; i < 100; i++) {
        const rows = yield* query<{ t: string }>("SELECT toString(timestamp) AS t FROM events WHERE message_id LIKE '%CB1%'")
        if (rows.length > 0) {
          expect(rows[0]!.t).toBe("2024-07-01 07:00:00.000")
          return
        }
        yield* Effect.sleep("50 millis")
      }
      throw new Error("the call did not land")
    }), { sourceOptions: { calls: { timeZone: "Europe/Berlin" } } }), 60_000)
})
