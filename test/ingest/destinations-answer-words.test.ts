// What a destination answers goes to the delivery log (export_deliveries, read with exports:read, the marketer's):
// its e-mail addresses and phone numbers are masked there, so a receiver that echoes what it was sent does not put
// the records' contact details in the log ("the destination's words, never a record's values"). Probing cdp serve
// with a webhook receiver answering 400 with the first record it was sent: GET /v1/exports/{d}/history showed a
// marketer the record's identifiers and traits in "detail".
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type DestinationConfig, parseDestinations, syncDestination } from "../../ingest/destinations/index.ts"
import { answerDetail, request } from "../../ingest/destinations/http.ts"
import { deliveryHistory } from "../../warehouse/exports.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"
import { listen } from "../support/local-server.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a destination's answer in the delivery log", () => {
  it("holds no e-mail address or phone number of what the receiver echoed back", async () => {
    const echo = await listen((req, res) => {
      let body = ""
      req.on("data", (c: Buffer) => { body += c.toString() })
      req.on("end", () => {
        const record = (JSON.parse(body) as { records: Array<{ traits?: Record<string, unknown> }> }).records[0]
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: "bad record", got: record?.traits }))
      })
    })
    try {
      const config: DestinationConfig = parseDestinations(JSON.stringify({ acme: [{
        name: "hook", type: "webhook", purpose: "CrmSync", url: `${echo.url}/in`, secret: "0123456789abcdef-secret", maxAttempts: 1,
      }] }))[0]!
      const details = await withConsent(dir, Effect.gen(function* () {
        yield* submit([web("m-1", 1, { type: "identify", userId: "u1", traits: { email: "ann@mail.example", phone: "+44 20 7946 0958", plan: "pro" }, context: prefs({ CrmSync: true }) })])
        const r = yield* syncDestination(config)
        expect([r.upserted, r.deadLettered]).toEqual([0, 1])
        return (yield* deliveryHistory("acme", "hook", 10)).map((d) => d.detail)
      }))
      expect(details.length).toBeGreaterThan(0)
      for (const detail of details) {
        expect(detail).toContain("HTTP 400")
        expect(detail).toContain("bad record")
        expect(detail).not.toContain("ann@mail.example")
        expect(detail).not.toContain("7946 0958")
      }
    } finally {
      echo.server.close()
    }
  }, 60_000)

  it("holds no control character of the receiver's words: a terminal showing cdp export history runs no escape sequence", async () => {
    // Clear the screen, retitle the terminal, move the cursor, a bell, a fake line of the table: as a hostile receiver may answer.
    const hostile = "bad record\u001b[2J\u001b]0;owned\u0007\r\n\u009b31mnext\u007f\u0000 line"
    const receiver = await listen((req, res) => { req.resume(); res.writeHead(400, { "content-type": "text/plain" }).end(hostile) })
    try {
      const a = await request(`${receiver.url}/in`, { method: "POST", headers: {}, body: "{}" }, AbortSignal.timeout(5000))
      const detail = answerDetail(a, a.text)
      expect(detail).toMatch(/^HTTP 400: bad record/)
      expect(detail).toContain("next")
      expect(detail).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/)
    } finally {
      receiver.server.close()
    }
  })
})
