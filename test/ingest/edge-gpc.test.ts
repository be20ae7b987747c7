// Sec-GPC: 1 (Global Privacy Control) is read however the request carries it: sent twice, or joined by a proxy
// ("1, 1"), it is still the browser's opt-out, not silently dropped.
import { request } from "node:http"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { basicAuth, freshDir, post, query, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** A POST whose headers may repeat (fetch joins them into one). */
const postRaw = (url: string, body: string, headers: Record<string, string | Array<string>>) =>
  Effect.promise(() => new Promise<number>((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
      res.resume()
      res.on("end", () => resolve(res.statusCode ?? 0))
    })
    req.on("error", reject)
    req.end(body)
  }))

describe("collector: Sec-GPC", () => {
  it("sent twice or joined as '1, 1' still marks the messages gpc; other values do not", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const auth = basicAuth(WRITE_KEY)
        expect(yield* postRaw(`${url}/v1/track`, '{"anonymousId":"a","event":"E","messageId":"twice"}', { authorization: auth, "sec-gpc": ["1", "1"] })).toBe(200)
        expect((yield* post(`${url}/v1/track`, { anonymousId: "a", event: "E", messageId: "joined" }, { authorization: auth, "sec-gpc": "1, 1" })).status).toBe(200)
        expect((yield* post(`${url}/v1/track`, { anonymousId: "a", event: "E", messageId: "zero" }, { authorization: auth, "sec-gpc": "0" })).status).toBe(200)
        const rows = yield* query<{ message_id: string; gpc: string }>("SELECT message_id, JSONExtractRaw(context, 'gpc') AS gpc FROM events ORDER BY message_id")
        expect(rows).toEqual([{ message_id: "joined", gpc: "true" }, { message_id: "twice", gpc: "true" }, { message_id: "zero", gpc: "" }])
      })))
})
