// Edge input limits on JSON: nesting, sizes, numbers and broken characters are refused with the rule and the field,
// the refused input is kept whole as a dead letter, a batch keeps its good messages; nothing is changed silently.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { JSON_LIMITS, readJson, readJsonParts } from "../../ingest/json.ts"
import { basicAuth, freshDir, post, query, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** A value nested `levels` objects deep: {"a":{"a":...{}}}. */
const nested = (levels: number): string => `${'{"a":'.repeat(levels)}{}${"}".repeat(levels)}`

/** An array nested `levels` deep: [[...]]. */
const brackets = (levels: number): string => `${"[".repeat(levels)}${"]".repeat(levels)}`

describe("readJson", () => {
  it("reads nesting up to the limit and refuses one level more, naming the rule and the pointer", () => {
    expect(readJson(nested(JSON_LIMITS.maxDepth - 1))._tag).toBe("json")
    const refused = readJson(nested(JSON_LIMITS.maxDepth))
    expect(refused).toMatchObject({ _tag: "refused", rejection: { rule: "too_deep", field: "/a".repeat(JSON_LIMITS.maxDepth) } })
    if (refused._tag === "refused") expect(refused.rejection.message).toContain(`more than ${JSON_LIMITS.maxDepth} levels`)
  })

  it("refuses 100,000 levels of nesting without overflowing the stack", () => {
    const deep = `{"text":"hi","x":${brackets(100_000)}}`
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

  it("keeps numbers whose shortest decimal is the number as written: integers to 2^53, decimals, zeros, other spellings", () => {
    const text = '{"a":9007199254740991,"b":9007199254740992,"c":-9007199254740992,"d":0.1,"e":1.5e300,"f":0e10,"g":-0.0,' +
      '"h":123456789012345,"i":3.14,"j":1e300,"k":1.50,"l":1E2,"m":100e-2,"n":5e-324,"o":1e-320,"p":-2.5e-7,"q":0.30000000000000004}'
    expect(readJson(text)).toEqual({ _tag: "json", value: JSON.parse(text) })
  })

  it("refuses numbers not written as bare integers that would be stored as another number, and advises a string", () => {
    const changed: ReadonlyArray<readonly [string, string]> = [
      ["9007199254740993e0", "9007199254740992"], ["9007199254740993.0", "9007199254740992"],
      ["90071992547409930e-1", "9007199254740992"], ["12345678901234567890.0", "12345678901234567000"],
      ["1.00000000000000000001", "1"], ["123456789012345678901234567890e-20", "1234567890.1234567"],
      ["-0.1000000000000000000001", "-0.1"], ["1.23456789012345e-320", "1.2347e-320"],
    ]
    for (const [literal, stored] of changed) {
      const read = readJson(`{"p":{"v":[${literal}]}}`)
      expect(read, literal).toMatchObject({ _tag: "refused", rejection: { rule: "number_too_precise", field: "/p/v/0" } })
      if (read._tag === "refused") {
        expect(read.rejection.message).toBe(
          `/p/v/0: ${literal} has more digits than a number keeps and would be stored as ${stored}; send it as a string to keep every digit`)
      }
    }
  })

  it("refuses a bare integer whose digits would be written differently downstream, even when the double is exact", () => {
    // 2^64 is a double exactly, but JSON.stringify writes it as 18446744073709552000: the stored text would change.
    expect(readJson('{"c":-18446744073709551616}')).toMatchObject({
      _tag: "refused", rejection: { rule: "integer_too_large", message: expect.stringContaining("-18446744073709552000") },
    })
  })

  it("decides numbers with huge exponents or 200,000 digits exactly, without BigInt", () => {
    expect(readJson(`{"v":0.${"0".repeat(200_000)}1e200001}`)).toEqual({ _tag: "json", value: { v: 1 } })
    expect(readJson(`{"v":1${"0".repeat(200_000)}1e-200001}`)).toMatchObject({ _tag: "refused", rejection: { rule: "number_too_precise" } })
    expect(readJson('{"v":1e99999999999999999999}')).toMatchObject({ _tag: "refused", rejection: { rule: "number_out_of_range" } })
  })

  it("refuses a string holding half of a UTF-16 surrogate pair (escaped or not), naming the field; keeps whole pairs", () => {
    const lone: ReadonlyArray<readonly [string, string, string]> = [
      [String.raw`{"userId":"u9","event":"lone \ud83d again"}`, "/event", "\\ud83d"],
      [String.raw`{"e":["ok",{"t":"\ude00 low first"}]}`, "/e/1/t", "\\ude00"],
      [String.raw`{"e":"cut at the end \uD83D"}`, "/e", "\\ud83d"],
      [String.raw`{"e":"\ud83d\ud83d\ude00 two highs"}`, "/e", "\\ud83d"],
      [String.raw`{"e":"\ud83d\n"}`, "/e", "\\ud83d"],
      ['{"e":"raw \ud83d unit"}', "/e", "\\ud83d"],
      [String.raw`{"traits":{"na\ud800me":1}}`, "/traits/na\uFFFDme", "\\ud800"],
    ]
    for (const [text, field, written] of lone) {
      const read = readJson(text)
      expect(read, text).toMatchObject({ _tag: "refused", rejection: { rule: "lone_surrogate", field } })
      if (read._tag === "refused") expect(read.rejection.message).toContain(`${written}, half of a UTF-16 surrogate pair`)
    }
    const pairs = [String.raw`{"e":"\ud83d\ude00 \uD83D\uDE00"}`, '{"e":"raw 😀"}', '{"e":"raw \ud83d\\ude00 mixed"}', String.raw`{"e":"\\ud83d is text"}`]
    for (const text of pairs) expect(readJson(text), text).toEqual({ _tag: "json", value: JSON.parse(text) })
  })

  it("refuses text that is not JSON, or larger than the limit", () => {
    expect(readJson("{not json")).toMatchObject({ _tag: "refused", rejection: { rule: "not_json" } })
    expect(readJson(`"${"x".repeat(100)}"`, { maxBytes: 50 })).toMatchObject({ _tag: "refused", rejection: { rule: "too_large" } })
  })
})

describe("readJsonParts", () => {
  it("reports each bad part once with its pointer and text as written, instead of refusing the document", () => {
    const deep = brackets(JSON_LIMITS.maxDepth + 1)
    const text = String.raw`{"batch":[{"a":1}, {"b":1e400,"c":1e400} ,{"d":"\ud800"},${deep},{"k":[1,{"x":1.00000000000000000001}]}],"sentAt":"x"}`
    expect(readJsonParts(text, 2)).toMatchObject({ _tag: "json", problems: [
      { rule: "number_out_of_range", field: "/batch/1/b", partText: '{"b":1e400,"c":1e400}' },
      { rule: "lone_surrogate", field: "/batch/2/d", partText: String.raw`{"d":"\ud800"}` },
      { rule: "too_deep", field: `/batch/3${"/0".repeat(JSON_LIMITS.maxDepth)}`, partText: deep },
      { rule: "number_too_precise", field: "/batch/4/k/1/x", partText: '{"k":[1,{"x":1.00000000000000000001}]}' },
    ] })
  })

  it("counts a part's nesting from the part, as if it had come alone", () => {
    expect(readJsonParts(`{"batch":[${brackets(JSON_LIMITS.maxDepth)}]}`, 2)).toMatchObject({ _tag: "json", problems: [] })
  })

  it("refuses the whole document for a problem outside the parts, text that is not JSON, or nesting past the hard cap", () => {
    expect(readJsonParts('{"sentAt":1e400,"batch":[]}', 2)).toMatchObject({ _tag: "refused", rejection: { rule: "number_out_of_range", field: "/sentAt" } })
    expect(readJsonParts('{"batch":[1e400', 2)).toMatchObject({ _tag: "refused", rejection: { rule: "not_json" } })
    expect(readJsonParts(`{"batch":[${brackets(JSON_LIMITS.maxDocumentDepth - 2)}]}`, 2)).toMatchObject({ _tag: "json", problems: [{ rule: "too_deep" }] })
    expect(readJsonParts(`{"batch":[${brackets(JSON_LIMITS.maxDocumentDepth - 1)}]}`, 2)).toMatchObject({
      _tag: "refused", rejection: { rule: "too_deep", message: expect.stringContaining(`more than ${JSON_LIMITS.maxDocumentDepth} levels deep: too deep to read`) },
    })
  })
})

const message = (id: string, properties = "{}") =>
  `{"type":"track","event":"E","userId":"u","messageId":"${id}","timestamp":"2024-01-01T00:00:00.000Z","properties":${properties}}`

describe("collector: nesting, numbers and broken characters", () => {
  it("answers 400 too_deep (not 500) on single and batch Segment routes, and keeps the body whole as a dead letter", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        // 100,000 levels does not fit the 32 KB message limit; 10,000 does, and answered 500 before.
        const deep = `{"userId":"u","event":"E","messageId":"deep","properties":{"x":${brackets(10_000)}}}`
        const single = yield* post(`${url}/v1/track`, deep)
        expect(single.status).toBe(400)
        expect(single.body).toMatchObject({ success: false, rule: "too_deep", accepted: 0 })
        expect(single.body["field"]).toMatch(/^\/properties\/x(\/0)+$/)
        // Past the hard cap a batch is refused whole, unparsed.
        const batchBody = `{"batch":[${deep.replace("{", '{"type":"track",')}]}`
        const batch = yield* post(`${url}/v1/batch`, batchBody)
        expect(batch.status).toBe(400)
        expect(batch.body).toMatchObject({ rule: "too_deep", accepted: 0, error: expect.stringContaining(`more than ${JSON_LIMITS.maxDocumentDepth} levels`) })
        const dead = yield* query<{ rule: string; payload: string }>("SELECT rule, payload FROM dead_letters ORDER BY length(payload)")
        expect(dead).toEqual([{ rule: "too_deep", payload: deep }, { rule: "too_deep", payload: batchBody }])
        expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
      })))

  it("a batch keeps its good messages and refuses alone each one nested too deep or holding a number it cannot keep", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const deep = message("deep", `{"x":${brackets(9_000)}}`)
        const shallowDeep = message("deep2", `{"x":${brackets(150)}}`)
        const inf = message("inf", '{"v":1e400}')
        const precise = message("precise", '{"v":1.00000000000000000001}')
        const body = `{"batch":[${message("good-1")},${deep},${inf},${shallowDeep},${precise},${message("good-2", '{"v":0.1}')}]}`
        const res = yield* post(`${url}/v1/batch`, body)
        expect(res.status).toBe(400)
        expect(res.body).toMatchObject({ success: false, accepted: 2 })
        const rejected = res.body["rejected"] as ReadonlyArray<Record<string, unknown>>
        expect(rejected.map((r) => [r["index"], r["rule"], r["messageId"]])).toEqual([
          [1, "too_deep", "deep"], [2, "number_out_of_range", "inf"], [3, "too_deep", "deep2"], [4, "number_too_precise", "precise"],
        ])
        expect(rejected[1]).toMatchObject({ field: "/properties/v", message: "/properties/v: 1e400 is beyond the largest number that can be stored (about 1.8e308)" })
        expect(rejected[2]!["field"]).toBe(`/properties/x${"/0".repeat(JSON_LIMITS.maxDepth - 2)}`)
        expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([{ message_id: "good-1" }, { message_id: "good-2" }])
        // Each refused message is its own dead letter, kept as written (1e400 is not turned into null).
        const dead = yield* query<{ message_id: string; rule: string; field: string; payload: string }>(
          "SELECT message_id, rule, field, payload FROM dead_letters ORDER BY message_id")
        expect(dead).toEqual([
          { message_id: "deep", rule: "too_deep", field: expect.stringMatching(/^\/properties\/x(\/0)+$/), payload: deep },
          { message_id: "deep2", rule: "too_deep", field: expect.stringMatching(/^\/properties\/x(\/0)+$/), payload: shallowDeep },
          { message_id: "inf", rule: "number_out_of_range", field: "/properties/v", payload: inf },
          { message_id: "precise", rule: "number_too_precise", field: "/properties/v", payload: precise },
        ])
      })))

  it("answers 400 too_deep on chat and social webhooks for a post nested 100,000 levels, and lands the others", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const deepField = brackets(100_000)
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
        const inf = yield* post(`${url}/v1/import`, `{"batch":[${message("inf", '{"v":1e400}')}]}`)
        expect(inf.status).toBe(400)
        expect(inf.body).toMatchObject({ accepted: 0, rejected: [{ index: 0, rule: "number_out_of_range", field: "/properties/v" }] })
        const big = yield* post(`${url}/v1/track`, message("big", '{"order":{"id":9007199254740993}}'))
        expect(big.body).toMatchObject({ rule: "integer_too_large", field: "/properties/order/id" })
        const exponent = yield* post(`${url}/v1/track`, message("exponent", '{"order":{"id":9007199254740993e0}}'))
        expect(exponent.body).toMatchObject({ rule: "number_too_precise", field: "/properties/order/id" })
        const exact = yield* post(`${url}/v1/track`, message("exact", '{"id":9007199254740992,"s":"9007199254740993","f":0.1}'))
        expect(exact.status).toBe(200)
        const rows = yield* query<{ message_id: string; properties: string }>("SELECT message_id, toString(properties) AS properties FROM events")
        expect(rows.map((r) => r.message_id)).toEqual(["exact"])
        expect(rows[0]!.properties).toContain("9007199254740993")
      })))

  it("refuses a message with half a surrogate pair on /v1/track (400, dead letter) and the next message lands", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const cut = String.raw`{"userId":"u9","event":"lone \ud83d again","messageId":"cut"}`
        const res = yield* post(`${url}/v1/track`, cut)
        expect(res.status).toBe(400)
        expect(res.body).toMatchObject({ success: false, rule: "lone_surrogate", field: "/event", accepted: 0 })
        const next = yield* post(`${url}/v1/track`, message("next"))
        expect(next.status).toBe(200)
        expect(yield* query("SELECT message_id FROM events")).toEqual([{ message_id: "next" }])
        expect(yield* query("SELECT rule, field, payload FROM dead_letters")).toEqual([{ rule: "lone_surrogate", field: "/event", payload: cut }])
      })))

  it("a batch of 40 messages cut in the middle of an emoji lands its good messages; none of the cut ones reaches the warehouse", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const cut = (i: number) => String.raw`{"type":"track","userId":"u","event":"lone \ud83d again","messageId":"cut-${i}"}`
        const items = Array.from({ length: 40 }, (_, i) => cut(i))
        items.splice(20, 0, message("good-1"), message("good-2", String.raw`{"emoji":"\ud83d\ude00"}`))
        const res = yield* post(`${url}/v1/batch`, `{"batch":[${items.join(",")}]}`)
        expect(res.status).toBe(400)
        expect(res.body).toMatchObject({ accepted: 2 })
        expect((res.body["rejected"] as ReadonlyArray<{ rule: string; field: string }>).every((r) => r.rule === "lone_surrogate" && r.field === "/event")).toBe(true)
        expect(yield* query("SELECT message_id, JSONExtractString(properties, 'emoji') AS emoji FROM events ORDER BY message_id")).toEqual([
          { message_id: "good-1", emoji: "" }, { message_id: "good-2", emoji: "😀" },
        ])
        // Refused at the edge, so no row was refused by the warehouse (no isolation, no retries).
        expect(yield* query("SELECT rule, count() AS n FROM dead_letters GROUP BY rule")).toEqual([{ rule: "lone_surrogate", n: "40" }])
      })))
})
