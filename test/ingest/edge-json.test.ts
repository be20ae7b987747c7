// Edge input limits on JSON: nesting, sizes and numbers are refused with the rule and the field, and the refused
// input is kept whole as a dead letter; nothing is changed silently.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { JSON_LIMITS, readJson } from "../../ingest/json.ts"
import { basicAuth, freshDir, post, query, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** A value nested `levels` objects deep: {"a":{"a":...{}}}. */
const nested = (levels: number): string => `${'{"a":'.repeat(levels)}{}${"}".repeat(levels)}`

describe("readJson", () => {
  it("reads nesting up to the limit and refuses one level more, naming the rule and the pointer", () => {
    expect(readJson(nested(JSON_LIMITS.maxDepth - 1))._tag).toBe("json")
    const refused = readJson(nested(JSON_LIMITS.maxDepth))
    expect(refused).toMatchObject({ _tag: "refused", rejection: { rule: "too_deep", field: "/a".repeat(JSON_LIMITS.maxDepth) } })
    if (refused._tag === "refused") expect(refused.rejection.message).toContain(`more than ${JSON_LIMITS.maxDepth} levels`)
  })

  it("refuses 100,000 levels of nesting without overflowing the stack", () => {
    const deep = `{"text":"hi","x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`
    expect(readJson(deep)).toMatchObject({ _tag: "refused", rejection: { rule: "too_deep" } })
  })

  it("is not fooled by brackets inside strings", () => {
    const text = JSON.stringify({ s: "[".repeat(1000) + '\\"{{{', t: "]]]" })
    expect(readJson(text)).toEqual({ _tag: "json", value: JSON.parse(text) })
  })

  it("refuses numbers JSON.parse would change, with the JSON pointer (escaped) of the field", () => {
    expect(readJson('{"x":{"a/b":[1,2,{"k~":1e400}]}}')).toMatchObject({
      _tag: "refused", rejection: { rule: "number_out_of_range", field: "/x/a~1b/2/k~0" },
    })
    expect(readJson('{"n":-1e400}')).toMatchObject({ _tag: "refused", rejection: { rule: "number_out_of_range", field: "/n" } })
    expect(readJson('{"n":1e-400}')).toMatchObject({ _tag: "refused", rejection: { rule: "number_out_of_range", field: "/n" } })
    const big = readJson('{"ids":[1,9007199254740993]}')
    expect(big).toMatchObject({ _tag: "refused", rejection: { rule: "integer_too_large", field: "/ids/1" } })
    if (big._tag === "refused") expect(big.rejection.message).toContain("9007199254740992")
  })

  it("keeps numbers that survive exactly: safe integers, exact large integers, decimals, zeros", () => {
    const text = '{"a":9007199254740991,"b":9007199254740992,"c":-18446744073709551616,"d":0.1,"e":1.5e300,"f":0e10,"g":-0.0,"h":123456789012345}'
    expect(readJson(text)).toEqual({ _tag: "json", value: JSON.parse(text) })
  })

  it("refuses text that is not JSON, or larger than the limit", () => {
    expect(readJson("{not json")).toMatchObject({ _tag: "refused", rejection: { rule: "not_json" } })
    expect(readJson(`"${"x".repeat(100)}"`, { maxBytes: 50 })).toMatchObject({ _tag: "refused", rejection: { rule: "too_large" } })
  })
})

describe("collector: nesting and numbers", () => {
  it("answers 400 too_deep (not 500) on single and batch Segment routes, and keeps the body whole as a dead letter", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        // 100,000 levels does not fit the 32 KB message limit; 10,000 does, and answered 500 before.
        const deep = `{"userId":"u","event":"E","messageId":"deep","properties":{"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}}`
        const single = yield* post(`${url}/v1/track`, deep)
        expect(single.status).toBe(400)
        expect(single.body).toMatchObject({ success: false, rule: "too_deep", accepted: 0 })
        expect(single.body["field"]).toMatch(/^\/properties\/x(\/0)+$/)
        const batchBody = `{"batch":[${deep.replace("{", '{"type":"track",')}]}`
        const batch = yield* post(`${url}/v1/batch`, batchBody)
        expect(batch.status).toBe(400)
        expect(batch.body).toMatchObject({ rule: "too_deep", error: expect.stringContaining(`more than ${JSON_LIMITS.maxDepth} levels`) })
        const dead = yield* query<{ rule: string; payload: string }>("SELECT rule, payload FROM dead_letters ORDER BY length(payload)")
        expect(dead).toEqual([{ rule: "too_deep", payload: deep }, { rule: "too_deep", payload: batchBody }])
        expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
      })))

  it("answers 400 too_deep on chat and social webhooks for a post nested 100,000 levels, and lands the others", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const deepField = `${"[".repeat(100_000)}${"]".repeat(100_000)}`
        const chat = `{"conversation_id":"c1","visitor_id":"v1","from":"visitor","at":"2024-09-02T11:39:49Z","text":"hi","x":${deepField}}`
        const headers = { authorization: basicAuth(WRITE_KEY) }
        const chatRes = yield* post(`${url}/v1/webhooks/chat`, chat, headers)
        expect(chatRes.status).toBe(400)
        expect(chatRes.body).toMatchObject({ accepted: 0, rejected: [{ rule: "too_deep" }] })
        const ok = '{"id":"p1","network":"forum","author_handle":"h","text":"fine","created_at":"2024-09-02T11:39:49Z"}'
        const bad = `{"id":"p2","network":"forum","author_handle":"h","text":"deep","created_at":"2024-09-02T11:39:49Z","x":${deepField}}`
        const social = yield* post(`${url}/v1/webhooks/social`, `${ok}\n${bad}\n`, headers)
        expect(social.status).toBe(400)
        expect(social.body).toMatchObject({ accepted: 1, rejected: [{ rule: "too_deep", field: expect.stringMatching(/^\/x\/0/) }] })
        const dead = yield* query<{ source: string; rule: string; payload: string }>("SELECT source, rule, payload FROM dead_letters ORDER BY source")
        expect(dead).toEqual([{ source: "chat", rule: "too_deep", payload: chat }, { source: "social", rule: "too_deep", payload: bad }])
        expect(yield* query("SELECT message_id FROM events")).toEqual([{ message_id: "forum:p1" }])
      })))

  it("refuses 1e400 and integers beyond 2^53 with the field's pointer instead of storing null or another number", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const m = (id: string, properties: string) =>
          `{"type":"track","event":"E","userId":"u","messageId":"${id}","timestamp":"2024-01-01T00:00:00.000Z","properties":${properties}}`
        const inf = yield* post(`${url}/v1/import`, `{"batch":[${m("inf", '{"v":1e400}')}]}`)
        expect(inf.status).toBe(400)
        expect(inf.body).toMatchObject({ rule: "number_out_of_range", field: "/batch/0/properties/v" })
        const big = yield* post(`${url}/v1/track`, m("big", '{"order":{"id":9007199254740993}}'))
        expect(big.body).toMatchObject({ rule: "integer_too_large", field: "/properties/order/id" })
        const exact = yield* post(`${url}/v1/track`, m("exact", '{"id":9007199254740992,"s":"9007199254740993"}'))
        expect(exact.status).toBe(200)
        const rows = yield* query<{ message_id: string; properties: string }>("SELECT message_id, toString(properties) AS properties FROM events")
        expect(rows.map((r) => r.message_id)).toEqual(["exact"])
        expect(rows[0]!.properties).toContain("9007199254740993")
      })))
})
