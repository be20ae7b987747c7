// Control characters (C0, DEL and C1) in a message's id and event name: refused at the edge naming the field, as every
// other bad field is, on the collector and in `cdp ingest`, instead of being stored as sent.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { readSegmentFile } from "../../ingest/sources/segment-file.ts"
import { validateSegmentMessage } from "../../ingest/sources/segment.ts"
import { freshDir, post, query, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("control characters at the edge", () => {
  it("a messageId, event or page name holding one is refused, naming the field, the character and where it is", () => {
    for (const [message, field] of [
      [{ type: "track", event: "E", userId: "u", messageId: "m\u00001" }, "/messageId"],
      [{ type: "track", event: "Signed\u0007Up", userId: "u" }, "/event"],
      [{ type: "track", event: "E\u007f", userId: "u" }, "/event"],
      [{ type: "track", event: "E\n", userId: "u" }, "/event"],
      [{ type: "page", name: "\u001bHome", userId: "u" }, "/name"],
      [{ type: "screen", name: "Home\t", anonymousId: "a" }, "/name"],
    ] as const) {
      expect(validateSegmentMessage(message), field).toMatchObject({ rule: "control_character", field })
    }
    expect(validateSegmentMessage({ type: "track", event: "E", userId: "u", messageId: "m\u00001" })).toEqual({
      rule: "control_character", field: "/messageId",
      message: "messageId holds the control character U+0000 at character 2: control characters are not stored (they cannot be shown, " +
        "searched or exported faithfully); remove it",
    })
    // userId and anonymousId were refused already (bad_id: identity would not link them).
    expect(validateSegmentMessage({ type: "track", event: "E", userId: "u\u0001" })).toMatchObject({ rule: "bad_id", field: "/userId" })
    expect(validateSegmentMessage({ type: "track", event: "E", anonymousId: "a\u007f" })).toMatchObject({ rule: "bad_id", field: "/anonymousId" })
    // C1 control characters (U+0080-U+009F: a terminal reads U+009B as an escape sequence's start) likewise.
    for (const [message, field, control] of [
      [{ type: "track", event: "E", userId: "u", messageId: "m\u0085" }, "/messageId", "U+0085 at character 2"],
      [{ type: "track", event: "\u009b31mRed", userId: "u" }, "/event", "U+009B at character 1"],
      [{ type: "page", name: "Home\u0080", userId: "u" }, "/name", "U+0080 at character 5"],
      [{ type: "screen", name: "Ho\u009fme", anonymousId: "a" }, "/name", "U+009F at character 3"],
    ] as const) {
      const refused = validateSegmentMessage(message)
      expect(refused, field).toMatchObject({ rule: "control_character", field })
      expect(refused!.message, field).toContain(`the control character ${control}:`)
    }
    // Other characters are kept as sent (U+00A0, the first after C1, too).
    expect(validateSegmentMessage({ type: "track", event: "Café ☕ \u00a0\u00ff", userId: "u", messageId: "m-é" })).toBeNull()
  })

  it("on the collector, a batch's message holding one is refused alone (400, its field named) and kept as a dead letter", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      const res = yield* post(`${url}/v1/batch`, {
        batch: [
          { type: "track", event: "E", anonymousId: "a1", messageId: "good" },
          { type: "track", event: "E\u0000", anonymousId: "a2", messageId: "bad-event" },
          { type: "track", event: "E", anonymousId: "a3", messageId: "bad\u007fid" },
          { type: "track", event: "E\u0090", anonymousId: "a4", messageId: "c1-event" },
        ],
      })
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({
        accepted: 1,
        rejected: [
          { index: 1, messageId: "bad-event", rule: "control_character", field: "/event" },
          { index: 2, rule: "control_character", field: "/messageId" },
          { index: 3, messageId: "c1-event", rule: "control_character", field: "/event" },
        ],
      })
      expect(yield* query("SELECT message_id FROM events")).toEqual([{ message_id: "good" }])
      expect(yield* query("SELECT rule FROM dead_letters ORDER BY message_id"))
        .toEqual([{ rule: "control_character" }, { rule: "control_character" }, { rule: "control_character" }])
    })))

  it("cdp ingest refuses such a line as a dead letter naming the line and the field; the others land", async () => {
    const file = join(dir, "web.ndjson")
    writeFileSync(file, [
      JSON.stringify({ type: "track", event: "E", userId: "u", messageId: "m1" }),
      JSON.stringify({ type: "track", event: "E\u0008", userId: "u", messageId: "m2" }),
      // DEL may stand raw in JSON text (only U+0000-U+001F must be escaped).
      `{"type":"track","event":"E","userId":"u","messageId":"m3\u007f"}`,
    ].join("\n"))
    const items = []
    for await (const item of readSegmentFile(file, { tenant: "acme", receivedAtMs: Date.UTC(2025, 0, 1) })) items.push(item)
    expect(items.map((i) => (i._tag === "event" ? i.event.messageId : `${i.deadLetter.rejection.rule} ${i.deadLetter.rejection.field}`))).toEqual([
      "m1", "control_character /event", "control_character /messageId",
    ])
    const refused = items[1]!
    expect(refused._tag === "deadLetter" && refused.deadLetter.rejection.message).toMatch(/^line 2: event holds the control character U\+0008 at character 2/)
  })
})
