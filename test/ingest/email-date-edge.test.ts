// A mail whose Date header lies outside the warehouse's calendar is refused at the edge, naming the header: before,
// year 99999 was answered 200 "accepted" and then dead-lettered by identity, and year 0000 landed as 2000-01-01.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { basicAuth, freshDir, post, query, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const mail = (date: string, id: string) =>
  `From: Ann <ann@example.com>\r\nTo: support@example.com\r\nSubject: hi\r\nMessage-ID: <${id}@example.com>\r\nDate: ${date}\r\n\r\nHello.\r\n`

describe("collector: the e-mail webhook and the Date header", () => {
  it("refuses a Date in year 0000 or 99999 with bad_timestamp naming /headers/date, lands nothing, and takes a good one", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        for (const [date, id] of [["Sat, 1 Jan 0000 00:00:00 +0000", "y0"], ["Mon, 1 Jan 99999 00:00:00 +0000", "y99999"]] as const) {
          const res = yield* post(`${url}/v1/webhooks/email`, mail(date, id), { authorization: basicAuth(WRITE_KEY), "content-type": "message/rfc822" })
          expect(res.status, date).toBe(400)
          expect(JSON.stringify(res.body)).toContain("bad_timestamp")
          expect(JSON.stringify(res.body)).toContain("/headers/date")
        }
        const ok = yield* post(`${url}/v1/webhooks/email`, mail("Mon, 2 Sep 2024 11:39:49 +0000", "good"), { authorization: basicAuth(WRITE_KEY), "content-type": "message/rfc822" })
        expect(ok).toEqual({ status: 200, body: { success: true, accepted: 1 } })
        expect(yield* query<{ message_id: string }>("SELECT message_id FROM events")).toEqual([{ message_id: "good@example.com" }])
      })))
})
