// A destination's answer is read up to a bound (ingest/destinations/http.ts): an answer without end (a receiver that
// streams) must not fill the server's memory. Probing cdp serve with a webhook whose receiver answered 200 and then
// streamed without end: the server's memory grew from 0.55 to 1.42 GB within the request's 3 s timeout, and the
// delivery log said "no answer within 3000 ms" though the receiver had answered at once.
import { describe, expect, it } from "vitest"
import { MAX_ANSWER_BYTES, request } from "../../ingest/destinations/http.ts"
import { listen } from "../support/local-server.ts"

describe("a destination's answer", () => {
  it("past the bound is a failed request naming the bound, and no more of it is read", async () => {
    let sent = 0
    const chunk = Buffer.alloc(1 << 20, 97)
    const flood = await listen((req, res) => {
      req.resume()
      res.writeHead(200, { "content-type": "application/json" })
      const pump = () => {
        while (sent < 64 && !res.destroyed) {
          sent++
          if (!res.write(chunk)) return void res.once("drain", pump)
        }
        res.end()
      }
      pump()
    })
    try {
      const answer = request(`${flood.url}/in`, { method: "POST", headers: {}, body: "{}" }, AbortSignal.timeout(30_000))
      await expect(answer).rejects.toThrow(`the answer is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MB, the most cdp reads of one`)
      expect(sent * 1024 * 1024).toBeLessThan(MAX_ANSWER_BYTES + 16 * 1024 * 1024)
    } finally {
      flood.server.closeAllConnections()
      flood.server.close()
    }
  }, 60_000)

  it("within the bound is read whole, as JSON when it is JSON", async () => {
    const body = JSON.stringify({ results: Array.from({ length: 1000 }, (_, i) => ({ id: `r${i}`, status: "ok" })) })
    const ok = await listen((req, res) => { req.resume(); res.writeHead(200, { "content-type": "application/json" }).end(body) })
    try {
      const a = await request(`${ok.url}/in`, { method: "POST", headers: {}, body: "{}" }, AbortSignal.timeout(30_000))
      expect([a.status, a.text.length, (a.json as { results: Array<unknown> }).results.length]).toEqual([200, body.length, 1000])
    } finally {
      ok.server.close()
    }
  }, 60_000)
})
