// A batch's own fields (context, integrations, sentAt), which every message of it takes, are refused whole when they
// are of the wrong type: ignoring them would land the messages without what the sender said about all of them.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { processSegmentRequest } from "../../ingest/segment-api.ts"
import { freshDir, post, query, removeDir, withCollector } from "../support/pipeline.ts"

const message = `{"type":"track","event":"E","userId":"u","messageId":"m1","timestamp":"2024-01-01T00:00:00.000Z"}`
const batch = (fields: string) => processSegmentRequest({
  route: "batch", body: `{"batch":[${message}]${fields}}`, tenant: "t", receivedAtMs: Date.parse("2024-01-01T00:00:05Z"),
})

describe("batch-level fields", () => {
  it("refuses a context, integrations or sentAt of the wrong type, naming the field and the type expected", () => {
    const cases: ReadonlyArray<readonly [string, string, string, RegExp]> = [
      [',"context":"x"', "/context", "batch_context_not_object", /context must be an object.*got a string/],
      [',"context":[1]', "/context", "batch_context_not_object", /context must be an object.*got an? array/],
      [',"integrations":true', "/integrations", "batch_integrations_not_object", /integrations must be an object/],
      [',"sentAt":12', "/sentAt", "bad_timestamp", /sentAt must be an ISO-8601 date-time string/],
      [',"sentAt":"yesterday"', "/sentAt", "bad_timestamp", /sentAt must be an ISO-8601 date-time string.*"yesterday"/],
      [',"sentAt":"9999-01-01T00:00:00Z"', "/sentAt", "bad_timestamp", /outside the range the warehouse stores/],
    ]
    for (const [fields, field, rule, words] of cases) {
      const result = batch(fields)
      expect(result.requestError, fields).toMatchObject({ rule, field })
      expect(result.requestError!.message, fields).toMatch(words)
      expect(result.events, fields).toEqual([])
      expect(result.deadLetters.map((d) => d.rejection.rule), fields).toEqual([rule])
    }
  })

  it("takes the batch's fields when they are of the right type, and null as saying nothing", () => {
    const good = batch(',"context":{"ip":"1.2.3.4"},"integrations":{"All":true},"sentAt":"2024-01-01T00:00:01Z"')
    expect(good.requestError).toBeUndefined()
    expect(good.events[0]!.context).toMatchObject({ ip: "1.2.3.4" })
    const nulls = batch(',"context":null,"integrations":null,"sentAt":null')
    expect(nulls.requestError).toBeUndefined()
    expect(nulls.events).toHaveLength(1)
  })
})

describe("a batch's consent", () => {
  it("reaches each message beside the message's own consent: a refusal for all is not lost to a message's other signal", () => {
    const body = JSON.stringify({
      context: { ip: "1.2.3.4", consent: { categoryPreferences: { Advertising: false, Analytics: true } } },
      batch: [
        { type: "track", event: "E", anonymousId: "a1", messageId: "m1", context: { consent: { usPrivacy: "1YNN" } } },
        { type: "track", event: "E", anonymousId: "a1", messageId: "m2", context: { consent: { categoryPreferences: { Analytics: false } } } },
        { type: "track", event: "E", anonymousId: "a1", messageId: "m3", context: { consent: null } },
      ],
    })
    const result = processSegmentRequest({ route: "batch", body, tenant: "t", receivedAtMs: Date.parse("2024-01-01T00:00:05Z") })
    expect(result.rejected).toEqual([])
    expect(result.events.map((e) => e.context["consent"])).toEqual([
      { categoryPreferences: { Advertising: false, Analytics: true }, usPrivacy: "1YNN" },
      // The message's own choice wins where both say something.
      { categoryPreferences: { Advertising: false, Analytics: false } },
      { categoryPreferences: { Advertising: false, Analytics: true } },
    ])
    expect(result.events[0]!.context["ip"]).toBe("1.2.3.4")
    // Sec-GPC: 1 on the request rides as the batch's context: a message's own gpc false does not undo it.
    const gpc = processSegmentRequest({
      route: "track", body: '{"event":"E","anonymousId":"a1","context":{"gpc":false}}', tenant: "t", receivedAtMs: Date.now(), gpc: true,
    })
    expect(gpc.events[0]!.context["gpc"]).toBe(true)
  })
})

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("collector: batch-level fields", () => {
  it("answers 400 naming the batch's context of the wrong type, and lands none of its messages", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const res = yield* post(`${url}/v1/batch`, `{"batch":[${message}],"context":"x"}`)
        expect(res.status).toBe(400)
        expect(res.body).toMatchObject({ success: false, rule: "batch_context_not_object", field: "/context", accepted: 0 })
        expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
      })))
})
