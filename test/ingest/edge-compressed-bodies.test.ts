// A compressed body cut short is refused whole, naming the cut: what its first part held is not taken for all of it.
import { constants, createDeflate, createGzip, gzipSync } from "node:zlib"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { basicAuth, freshDir, post, query, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** `whole` compressed, and the stream cut right after `head` was flushed: a prefix that decompresses to `head` exactly. */
const cutAfter = (encoding: "gzip" | "deflate", head: string, rest: string) =>
  Effect.promise(async () => {
    const stream = encoding === "gzip" ? createGzip() : createDeflate()
    const chunks: Array<Buffer> = []
    stream.on("data", (c: Buffer) => chunks.push(c))
    stream.write(head)
    await new Promise<void>((resolve) => stream.flush(constants.Z_SYNC_FLUSH, () => resolve()))
    const cut = Buffer.concat(chunks).length
    stream.end(rest)
    await new Promise<void>((resolve) => stream.on("end", () => resolve()))
    return Buffer.concat(chunks).subarray(0, cut)
  })

const callRow = (i: number) => `call_${i},2024-09-02T10:0${i}:00Z,60,inbound,,Priya,orders,resolved,"note ${i}"\n`
const header = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes\n"

describe("collector: compressed bodies", () => {
  it("refuses a gzip or deflate body cut short at an item's end, naming the cut, and lands none of it", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const auth = basicAuth(WRITE_KEY)
        // Before: 200 {accepted: 2}, the third row (past the cut) silently missing.
        const calls = yield* cutAfter("gzip", header + callRow(1) + callRow(2), callRow(3))
        const callsRes = yield* post(`${url}/v1/webhooks/calls`, calls, { authorization: auth, "content-type": "text/csv", "content-encoding": "gzip" })
        expect(callsRes.status).toBe(400)
        expect(callsRes.body).toMatchObject({ success: false, rule: "bad_encoding", error: expect.stringContaining("cut short") })
        // Before: 200 {accepted: 1}, the mail stored without its last paragraph.
        const mail = yield* cutAfter("deflate",
          "From: a@b.example\r\nTo: c@d.example\r\nMessage-ID: <cut@b.example>\r\nDate: Mon, 2 Sep 2024 11:39:49 +0000\r\n" +
            "Subject: hi\r\n\r\nFirst part.\r\n",
          "Second part, which the sender sent too.\r\n")
        const mailRes = yield* post(`${url}/v1/webhooks/email`, mail, { authorization: auth, "content-type": "message/rfc822", "content-encoding": "deflate" })
        expect(mailRes).toMatchObject({ status: 400, body: { rule: "bad_encoding" } })
        const track = yield* post(`${url}/v1/track`, gzipSync('{"userId":"u","event":"e"}').subarray(0, 20),
          { authorization: auth, "content-encoding": "gzip" })
        expect(track).toMatchObject({ status: 400, body: { rule: "bad_encoding", error: expect.stringContaining("gzip") } })
        expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
      })))

  it("still takes a whole gzip body, and two gzip members one after the other", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const body = Buffer.concat([gzipSync(header + callRow(1)), gzipSync(callRow(2))])
        const res = yield* post(`${url}/v1/webhooks/calls`, body, { authorization: basicAuth(WRITE_KEY), "content-type": "text/csv", "content-encoding": "gzip" })
        expect(res).toEqual({ status: 200, body: { success: true, accepted: 2 } })
      })))
})
