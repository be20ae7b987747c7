// A JSON object naming one key twice is refused where JSON enters (the edge's one reader, ingest/json.ts): JSON.parse
// keeps the last, other readers the first, so what was sent would depend on who reads it.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { readJson, readJsonParts } from "../../ingest/json.ts"
import { freshDir, post, query, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("readJson: duplicate keys", () => {
  it("refuses a key named twice in one object, at any depth, naming the key and its pointer", () => {
    expect(readJson('{"userId":"a","userId":"b"}')).toMatchObject({
      _tag: "refused", rejection: { rule: "duplicate_key", field: "/userId", message: expect.stringContaining('"userId"') },
    })
    expect(readJson('{"userId":"a","traits":{"email":"x@y","plan":1,"email":"z@y"}}')).toMatchObject({
      _tag: "refused", rejection: { rule: "duplicate_key", field: "/traits/email" },
    })
    expect(readJson('{"context":{"ip":"1","a":[{"k":1},{"k":2,"x":{"k":1, "k" :2}}]}}')).toMatchObject({
      _tag: "refused", rejection: { rule: "duplicate_key", field: "/context/a/1/x/k" },
    })
  })

  it("sees through escapes: \\u0075serId is userId", () => {
    expect(readJson(String.raw`{"userId":"a","\u0075serId":"b"}`)).toMatchObject({
      _tag: "refused", rejection: { rule: "duplicate_key", field: "/userId" },
    })
    expect(readJson(String.raw`{"a\/b":1,"a/b":2}`)).toMatchObject({ _tag: "refused", rejection: { rule: "duplicate_key", field: "/a~1b" } })
  })

  it("keeps the same key in sibling and nested objects, and a key equal to a value", () => {
    const text = '{"a":{"k":1},"b":{"k":2},"k":{"k":{"k":"k"}},"l":[{"k":1},{"k":1}],"m":"m"}'
    expect(readJson(text)).toEqual({ _tag: "json", value: JSON.parse(text) })
  })

  it("in a document of parts, refuses the part alone; outside the parts, the document", () => {
    expect(readJsonParts('{"batch":[{"a":1},{"a":1,"a":2},{"a":3}]}', 2)).toMatchObject({
      _tag: "json", problems: [{ rule: "duplicate_key", field: "/batch/1/a", partText: '{"a":1,"a":2}' }],
    })
    expect(readJsonParts('{"batch":[],"batch":[{"a":1}]}', 2)).toMatchObject({ _tag: "refused", rejection: { rule: "duplicate_key", field: "/batch" } })
  })
})

const message = (id: string, extra = "") =>
  `{"type":"track","event":"E","userId":"u","messageId":"${id}","timestamp":"2024-01-01T00:00:00.000Z"${extra}}`

describe("collector: duplicate keys", () => {
  it("answers 400 duplicate_key on a single message, naming the key and where, and lands nothing", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const top = yield* post(`${url}/v1/identify`, '{"userId":"a","userId":"b","messageId":"m1"}')
        expect(top.status).toBe(400)
        expect(top.body).toMatchObject({ success: false, rule: "duplicate_key", field: "/userId", accepted: 0 })
        expect(top.body["error"]).toMatch(/^\/userId: .*"userId"/)
        const deep = yield* post(`${url}/v1/track`, message("m2", ',"context":{"consent":{"categoryPreferences":{"Advertising":false,"Advertising":true}}}'))
        expect(deep.status).toBe(400)
        expect(deep.body).toMatchObject({ rule: "duplicate_key", field: "/context/consent/categoryPreferences/Advertising" })
        expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
        expect(yield* query("SELECT rule FROM dead_letters")).toEqual([{ rule: "duplicate_key" }, { rule: "duplicate_key" }])
      })))

  it("in a batch refuses the message alone, naming its index, and lands the others; a duplicate of the batch's own refuses it whole", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const twice = message("twice", ',"traits":{"plan":"a","plan":"b"}')
        const res = yield* post(`${url}/v1/batch`, `{"batch":[${message("good-1")},${twice},${message("good-2")}]}`)
        expect(res.status).toBe(400)
        expect(res.body).toMatchObject({
          accepted: 2, rejected: [{ index: 1, messageId: "twice", rule: "duplicate_key", field: "/traits/plan" }],
        })
        expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([{ message_id: "good-1" }, { message_id: "good-2" }])
        expect(yield* query("SELECT message_id, payload FROM dead_letters")).toEqual([{ message_id: "twice", payload: twice }])
        const whole = yield* post(`${url}/v1/batch`, `{"context":{"ip":"1"},"batch":[${message("good-3")}],"context":{"ip":"2"}}`)
        expect(whole.status).toBe(400)
        expect(whole.body).toMatchObject({ rule: "duplicate_key", field: "/context", accepted: 0 })
      })))
})
