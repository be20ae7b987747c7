// A webhook body that is a JSON array is read item by item: an item the JSON reader refuses (a number beyond a double,
// half a surrogate pair, an object of more names than the limit) is refused alone, kept whole as a dead letter, and the
// items beside it land, as NDJSON lines and Segment batch messages do. Found by a probe of `cdp serve`: one such item
// refused the whole array, and the sender was told 400 for every item of it.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { JSON_LIMITS, readJsonParts } from "../../../ingest/json.ts"
import { withApi } from "../../support/api.ts"
import { basicAuth, freshDir, query, removeDir, WRITE_KEY } from "../../support/pipeline.ts"

const crowded = `{${Array.from({ length: JSON_LIMITS.maxKeys + 1 }, (_, i) => `"k${i}":1`).join(",")}}`

/** An item's text with one more member, written as raw JSON text (JSON.stringify could not write these). */
const withRaw = (item: object, member: string) => `${JSON.stringify(item).slice(0, -1)},${member}}`

interface Case {
  readonly source: string
  /** A valid item, distinct per id; the id is what lands as the message id. */
  readonly item: (id: string) => object
  readonly messageId: (id: string) => string
  /** How a refusal names the item at 1-based position n. */
  readonly where: (n: number) => string
}

const cases: ReadonlyArray<Case> = [
  {
    source: "sendgrid",
    item: (id) => ({ email: "a@x.example", event: "delivered", sg_event_id: id, sg_message_id: "m", timestamp: 1727776800 }),
    messageId: (id) => id,
    where: (n) => `event ${n}`,
  },
  {
    source: "chat",
    item: (id) => ({ message_id: id, conversation_id: "c-1", visitor_id: "v-1", from: "visitor", at: "2024-10-24T01:31:13Z", text: "hello" }),
    messageId: (id) => id,
    where: (n) => `item ${n}`,
  },
  {
    source: "social",
    item: (id) => ({ id, network: "reddit", author_handle: "h", text: "ok", created_at: "2024-10-01T10:00:00Z" }),
    messageId: (id) => `reddit:${id}`,
    where: (n) => `item ${n}`,
  },
]

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe.each(cases)("a $source webhook body that is a JSON array", ({ source, item, messageId, where }) => {
  const post = (url: string, body: string) => Effect.promise(async () => {
    const res = await fetch(`${url}/v1/webhooks/${source}`, { method: "POST", headers: { authorization: basicAuth(WRITE_KEY) }, body })
    return { status: res.status, body: (await res.json()) as Record<string, any> }
  })

  it("refuses each item the JSON reader refuses alone, keeps it whole as a dead letter, and lands the others", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const bad = [
        withRaw(item("big"), `"n":1e309`),
        withRaw(item("half"), `"s":"\\ud800"`),
        withRaw(item("crowded"), `"x":${crowded}`),
      ]
      const body = `[${JSON.stringify(item("ok-1"))},\n ${bad.join(", ")} ,${JSON.stringify(item("ok-2"))}]`
      const answer = yield* post(url, body)
      expect(answer.status).toBe(400)
      expect(answer.body).toMatchObject({ success: false, accepted: 2 })
      expect(answer.body.rejected.map((r: any) => [r.rule, r.field, r.message.slice(0, where(4).length + 1)])).toEqual([
        ["number_out_of_range", "/n", `${where(2)}:`],
        ["lone_surrogate", "/s", `${where(3)}:`],
        ["too_many_keys", "/x", `${where(4)}:`],
      ])
      const landed = yield* query<{ message_id: string }>(
        "SELECT message_id FROM events WHERE source = {source:String} ORDER BY message_id", { source })
      expect(landed.map((r) => r.message_id)).toEqual([messageId("ok-1"), messageId("ok-2")])
      const letters = yield* query<{ rule: string; payload: string }>(
        "SELECT rule, payload FROM dead_letters WHERE source = {source:String} ORDER BY rule", { source })
      expect(letters).toEqual([
        { rule: "lone_surrogate", payload: bad[1] },
        { rule: "number_out_of_range", payload: bad[0] },
        { rule: "too_many_keys", payload: bad[2] },
      ])
    })), 120_000)

  it("is still refused whole when it is broken as a whole, and nothing of it lands", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const body = `[${JSON.stringify(item("ok-1"))},${withRaw(item("big"), `"n":1e309`)}`
      const answer = yield* post(url, body)
      expect(answer.status).toBe(400)
      expect(answer.body).toMatchObject({ success: false, accepted: 0, rejected: [expect.objectContaining({ rule: "not_json" })] })
      const letters = yield* query<{ payload: string }>("SELECT payload FROM dead_letters WHERE source = {source:String}", { source })
      expect(letters).toEqual([{ payload: body }])
    })), 120_000)
})

describe("the JSON reader of a document in parts", () => {
  it("refuses a part of more names than the limit alone, naming its object, as it does a bad number", () => {
    const read = readJsonParts(`{"batch":[{"a":1},{"x":${crowded}},{"n":1e309}]}`, 2)
    expect(read._tag === "json" && read.problems.map((p) => [p.rule, p.field])).toEqual([
      ["too_many_keys", "/batch/1/x"],
      ["number_out_of_range", "/batch/2/n"],
    ])
    // An object of too many names outside every part is the document's own problem: refused whole.
    expect(readJsonParts(`{"batch":[{"n":1e309}],${crowded.slice(1)}`, 2)).toMatchObject({ _tag: "refused", rejection: { rule: "too_many_keys", field: "" } })
  })
})
