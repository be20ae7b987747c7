// A UTF-8 byte order mark before a JSON body (as some Windows tools write one) is not part of the document: RFC 8259
// lets a reader ignore it, and refusing it answered "Unexpected token '﻿'", a character the sender cannot see.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { freshDir, post, query, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const BOM = Buffer.from([0xef, 0xbb, 0xbf])

describe("collector: a body starting with a byte order mark", () => {
  it("is read without it on single and batch routes", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const single = yield* post(`${url}/v1/track`, new Uint8Array(Buffer.concat([BOM, Buffer.from('{"userId":"u","event":"E","messageId":"bom-1"}')])))
        expect(single).toMatchObject({ status: 200, body: { success: true, accepted: 1 } })
        const batch = yield* post(`${url}/v1/batch`,
          new Uint8Array(Buffer.concat([BOM, Buffer.from('{"batch":[{"type":"track","userId":"u","event":"E","messageId":"bom-2"}]}')])))
        expect(batch).toMatchObject({ status: 200, body: { success: true, accepted: 1 } })
        expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([{ message_id: "bom-1" }, { message_id: "bom-2" }])
      })))

  it("only at the start: one inside the document is still no JSON", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const res = yield* post(`${url}/v1/track`, new Uint8Array(Buffer.concat([Buffer.from(" "), BOM, Buffer.from('{"userId":"u","event":"E"}')])))
        expect(res).toMatchObject({ status: 400, body: { rule: "not_json" } })
      })))
})
