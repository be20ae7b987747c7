// An object of very many names is refused before it is parsed: found by probing `cdp serve`, where one chat webhook
// post of 10 MB holding an object of 850,000 names held the collector's thread about 11 s (JSON.parse alone 3-3.5 s,
// the reader's scan of the names as long again), and another tenant's one event, sent meanwhile, was answered after it.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { JSON_LIMITS, readJson } from "../../ingest/json.ts"
import { withApi } from "../support/api.ts"
import { basicAuth, freshDir, query, removeDir, WRITE_KEY } from "../support/pipeline.ts"

const names = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":1`).join(",")}}`

describe("readJson and the names of one object", () => {
  it(`takes ${JSON_LIMITS.maxKeys} names in one object and refuses one more as too_many_keys, naming the object`, () => {
    expect(readJson(names(JSON_LIMITS.maxKeys))._tag).toBe("json")
    expect(readJson(`{"a":[1,2],"b":${names(JSON_LIMITS.maxKeys + 1)}}`)).toMatchObject({
      _tag: "refused", rejection: { rule: "too_many_keys", field: "/b" },
    })
    // Names are counted per object: many objects, each under the limit, and long arrays are read.
    const many = `[${Array.from({ length: 3 }, () => names(JSON_LIMITS.maxKeys)).join(",")}]`
    expect(readJson(many)._tag).toBe("json")
    expect(readJson(`[${Array.from({ length: 50_000 }, (_, i) => i).join(",")}]`)._tag).toBe("json")
    // Commas inside strings and nested values are no names of the object.
    expect(readJson(`{"a":"${",".repeat(20_000)}","b":[${"0,".repeat(20_000)}0]}`)._tag).toBe("json")
  })

  it("tells text of several values (NDJSON) as not JSON, so readers read it line by line", () => {
    expect(readJson(`${names(JSON_LIMITS.maxKeys + 1)}\n{"a":1}`)).toMatchObject({ _tag: "refused", rejection: { rule: "not_json" } })
    expect(readJson(`{"a":1}\n${names(JSON_LIMITS.maxKeys + 1)}`)).toMatchObject({ _tag: "refused", rejection: { rule: "not_json" } })
  })
})

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a webhook post holding an object of 850,000 names", () => {
  it("is refused 400 too_many_keys naming the object, kept as a dead letter, and the chat lines beside it land", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const conversation = (id: string) => ({
        conversation_id: id, visitor_id: `v-${id}`, started_at: "2026-11-01T10:00:00Z",
        messages: [{ from: "visitor", text: "hello", at: "2026-11-01T10:00:01Z" }],
      })
      const crowded = JSON.stringify(conversation("c-crowded")).slice(0, -1) + `,"x":${names(850_000)}}`
      const post = (body: string) => Effect.promise(async () => {
        const res = await fetch(`${url}/v1/webhooks/chat`, { method: "POST", headers: { authorization: basicAuth(WRITE_KEY) }, body })
        return { status: res.status, body: (await res.json()) as Record<string, any> }
      })
      const alone = yield* post(crowded)
      expect(alone.status).toBe(400)
      expect(alone.body.rejected).toEqual([expect.objectContaining({ rule: "too_many_keys", field: "/x" })])
      // NDJSON: the crowded line is refused alone.
      const lines = yield* post(`${JSON.stringify(conversation("c-ok"))}\n${crowded}\n`)
      expect(lines.status).toBe(400)
      expect(lines.body.accepted).toBe(1)
      expect(lines.body.rejected).toEqual([expect.objectContaining({ rule: "too_many_keys" })])
      const letters = yield* query("SELECT rule, length(payload) > 10000000 AS whole FROM dead_letters WHERE source = 'chat' ORDER BY rule")
      expect(letters).toEqual([{ rule: "too_many_keys", whole: 1 }, { rule: "too_many_keys", whole: 1 }])
    })), 120_000)
})
