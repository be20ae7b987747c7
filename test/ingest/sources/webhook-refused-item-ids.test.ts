// A refused item of a webhook JSON array is answered with its id when the id can be read from it, so a sender can tell
// which items to fix and send again: an item the JSON reader refuses (a number beyond a double, an object of too many
// names inside it) as much as one its schema refuses. Before, the reader's refusals were answered with no messageId.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { JSON_LIMITS, readJsonItems, refusedItems } from "../../../ingest/json.ts"
import { withApi } from "../../support/api.ts"
import { basicAuth, freshDir, query, removeDir, WRITE_KEY } from "../../support/pipeline.ts"

const crowded = `{${Array.from({ length: JSON_LIMITS.maxKeys + 1 }, (_, i) => `"k${i}":1`).join(",")}}`
/** An item's text with one more member, written as raw JSON text (JSON.stringify could not write these). */
const withRaw = (item: object, member: string) => `${JSON.stringify(item).slice(0, -1)},${member}}`

const cases = [
  {
    source: "sendgrid",
    item: (id: string) => ({ email: "a@x.example", event: "delivered", sg_event_id: id, sg_message_id: "m", timestamp: 1727776800 }),
    refusedId: (id: string) => id,
    schemaBad: (id: string) => ({ email: "a@x.example", event: "delivered", sg_event_id: id, sg_message_id: "m", timestamp: "soon" }),
  },
  {
    source: "chat",
    // A refused chat item is named by its conversation (a live message's as a transcript's), as schema refusals were.
    item: (id: string) => ({ message_id: id, conversation_id: `c-${id}`, visitor_id: "v-1", from: "visitor", at: "2024-10-24T01:31:13Z", text: "hello" }),
    refusedId: (id: string) => `c-${id}`,
    schemaBad: (id: string) => ({ message_id: id, conversation_id: `c-${id}`, visitor_id: "v-1", from: 5, at: "2024-10-24T01:31:13Z", text: "hello" }),
  },
  {
    source: "social",
    item: (id: string) => ({ id, network: "reddit", author_handle: "h", text: "ok", created_at: "2024-10-01T10:00:00Z" }),
    refusedId: (id: string) => `reddit:${id}`,
    schemaBad: (id: string) => ({ id, network: "reddit", author_handle: "h", text: 5, created_at: "2024-10-01T10:00:00Z" }),
  },
]

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe.each(cases)("a refused item of a $source JSON array", ({ source, item, refusedId, schemaBad }) => {
  it("is answered, and kept as a dead letter, with its id when the id can be read from it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const body = `[${[
        JSON.stringify(item("ok-1")),
        withRaw(item("big"), `"n":1e309`),
        withRaw(item("crowded"), `"x":${crowded}`),
        // The whole item is one object of too many names: nothing of it is read, so no id is answered.
        `${crowded.slice(0, -1)},"id":"lost","sg_event_id":"lost","message_id":"lost"}`,
        // A schema refusal: answered with the id before too, as the reader's now are.
        JSON.stringify(schemaBad("schema")),
      ].join(",")}]`
      const res = yield* Effect.promise(async () => {
        const r = await fetch(`${url}/v1/webhooks/${source}`, { method: "POST", headers: { authorization: basicAuth(WRITE_KEY) }, body })
        return { status: r.status, body: (await r.json()) as { accepted: number; rejected: Array<{ rule: string; messageId?: string }> } }
      })
      expect(res.status).toBe(400)
      expect(res.body.accepted).toBe(1)
      expect(res.body.rejected.map((r) => [r.rule, r.messageId])).toEqual([
        ["number_out_of_range", refusedId("big")],
        ["too_many_keys", refusedId("crowded")],
        ["too_many_keys", undefined],
        [expect.any(String), refusedId("schema")],
      ])
      const letters = yield* query<{ rule: string; message_id: string }>(
        "SELECT rule, message_id FROM dead_letters WHERE source = {source:String} ORDER BY message_id", { source })
      expect(letters.map((l) => l.message_id).sort()).toEqual(["", refusedId("big"), refusedId("crowded"), refusedId("schema")].sort())
    })), 120_000)
})

describe("what can be read of a refused item", () => {
  it("is the item with each refused member as null, its name kept; nothing when the item itself is at fault", () => {
    const read = readJsonItems(`[{"a":1},{"id":"x","n":1e309,"s":"\\ud800","m":{"k":1}},${crowded}]`)
    const refused = read._tag === "json" ? refusedItems(read.problems) : new Map()
    expect(refused.get(1)?.readable).toEqual({ id: "x", n: null, s: null, m: { k: 1 } })
    expect(refused.get(2)).toMatchObject({ rejection: { rule: "too_many_keys", field: "" }, readable: undefined })
  })
})
