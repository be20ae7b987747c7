// A mail whose HTML is large is read as text off the event loop: html-to-text wraps lines in time that grows faster
// than the HTML, and a 4.9 MB table posted to /v1/webhooks/email held every tenant's requests 39 s.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseEmailWebhook } from "../../../ingest/sources/email.ts"
import { htmlTextOffLoop } from "../../../ingest/sources/email-html.ts"
import { longestStall } from "../../support/event-loop.ts"
import { basicAuth, freshDir, post, query, removeDir, withCollector, WRITE_KEY } from "../../support/pipeline.ts"
import { context, split } from "./helpers.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const htmlMail = (id: string, html: string) => Buffer.from(
  `From: Ann <ann@x.example>\r\nTo: support@shop.example\r\nMessage-ID: <${id}@x.example>\r\n` +
    `Date: Mon, 2 Sep 2024 11:39:49 +0000\r\nSubject: order\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n`)

/** A table of 66,000 rows: about 1.9 MB, which html-to-text took over a second to wrap on cdp serve's event loop. */
const bigTable = `<p>The parcel arrived broken.</p><table>${"<tr><td>a</td><td>b</td></tr>".repeat(66_000)}</table>`

describe("e-mail: HTML read as text", () => {
  it("reads a large HTML-only mail posted to the webhook without holding the event loop, and lands its text", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const { result, longestMs } = yield* longestStall(post(`${url}/v1/webhooks/email`, htmlMail("table", bigTable),
          { authorization: basicAuth(WRITE_KEY), "content-type": "message/rfc822" }))
        expect(result).toEqual({ status: 200, body: { success: true, accepted: 1 } })
        const [stored] = yield* query<{ text: string }>("SELECT text FROM texts")
        expect(stored!.text).toContain("The parcel arrived broken.")
        expect(stored!.text.split("b").length - 1).toBeGreaterThanOrEqual(66_000)
        // Before: the conversion on this thread, in one piece (over 1,000 ms of CPU).
        expect(longestMs).toBeLessThan(500)
      })), 120_000)

  it("reads a small HTML-only mail as before", async () => {
    const { events } = split(await parseEmailWebhook(htmlMail("small", "<p>Thanks, <b>great</b> coffee!</p>"), context()))
    expect(events[0]!.text.trim()).toBe("Thanks, great coffee!")
  })

  it("refuses a mail whose HTML is not read within the time limit, saying so", async () => {
    const read = await htmlTextOffLoop(htmlMail("slow", bigTable), {}, 1)
    expect(read).toEqual({ refused: expect.stringContaining("could not be read as text within 0.001 s") })
  })
})
