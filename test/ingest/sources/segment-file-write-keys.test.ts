// A Segment NDJSON file's refused lines are dead-lettered without the write key a sender repeats in each message
// (analytics.js does): found probing cdp ingest, a line over 32 KB was kept whole, its "writeKey" readable by anyone
// who may list dead letters, while the HTTP API already blanked it.
import { describe, expect, it } from "vitest"
import { readSegmentFile } from "../../../ingest/sources/segment-file.ts"
import { collect, context, tempFile } from "./helpers.ts"

describe("a Segment file's refused lines", () => {
  it("keep no write key in their payload, whatever made them refused", async () => {
    const base = { type: "track", event: "Viewed", userId: "u1", writeKey: "wk_secret_123" }
    const lines = [
      JSON.stringify({ ...base, messageId: "big", properties: { blob: "x".repeat(40_000) } }),
      JSON.stringify({ ...base, messageId: "no-type", type: undefined }),
      `{"writeKey": "wk_secret_123", "userId": `,
    ]
    const { deadLetters } = await collect(readSegmentFile(tempFile("w.ndjson", lines.join("\n")), context()))
    expect(deadLetters.map((d) => d.rejection.rule)).toEqual(["too_large", "missing_type", "not_json"])
    for (const d of deadLetters) {
      expect(d.payload).not.toContain("wk_secret_123")
      expect(d.payload).toContain('"writeKey":"[redacted]"')
    }
  })
})
