// TCF strings at the edge: one that cannot be decoded is refused as bad_consent (as every consent statement the
// readers cannot read is), not landed as if no choice was made.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { validateSegmentMessage } from "../../ingest/sources/segment.ts"
import { freshDir, post, query, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const track = (context: Record<string, unknown>, properties: Record<string, unknown> = {}) =>
  ({ type: "track", event: "E", anonymousId: "a1", messageId: "m1", context, properties })

describe("TCF strings at the edge", () => {
  it("a TCF string that does not decode is refused bad_consent, naming the field", () => {
    for (const [context, field] of [
      [{ consent: { tcf: "not-a-tc-string" } }, "/context/consent/tcf"],
      [{ consent: { tcString: "CP" } }, "/context/consent/tcString"],
      [{ gdpr_consent: "%%%" }, "/context/gdpr_consent"],
    ] as const) {
      const r = validateSegmentMessage(track(context))
      expect(r, field).toMatchObject({ rule: "bad_consent", field })
      expect(r!.message, field).toMatch(/is not a TCF consent string that can be decoded/)
    }
    expect(validateSegmentMessage(track({}, { gdpr_consent: "nope" }))).toMatchObject({ rule: "bad_consent", field: "/properties/gdpr_consent" })
    // A blank string says nothing, as before.
    expect(validateSegmentMessage(track({ consent: { tcf: " " } }))).toBeNull()
  })

  it("on the collector, a batch's message with an undecodable TCF string is refused alone and kept as a dead letter; the others land", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      const res = yield* post(`${url}/v1/batch`, {
        batch: [
          { type: "track", event: "E", anonymousId: "a1", messageId: "good" },
          { type: "track", event: "E", anonymousId: "a2", messageId: "bad-tcf", context: { consent: { tcf: "garbage" } } },
        ],
      })
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({ accepted: 1, rejected: [{ index: 1, messageId: "bad-tcf", rule: "bad_consent", field: "/context/consent/tcf" }] })
      expect(yield* query("SELECT message_id FROM events")).toEqual([{ message_id: "good" }])
      expect(yield* query("SELECT message_id, rule FROM dead_letters")).toEqual([{ message_id: "bad-tcf", rule: "bad_consent" }])
    })))
})
