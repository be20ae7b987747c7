// `cdp dlq retry` reads a dead letter's zone-less times as they would have been read when it arrived: in its source's
// configured "timeZone" (CDP_SOURCE_OPTIONS). A dead letter keeps no meta (an archived item records its zone there), so
// the retry reads it with the deployment's source options. Before, every retry read such a time as UTC.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { retryDeadLetters } from "../../ingest/dlq.ts"
import type { DeadLetter } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const RECEIVED_AT = "2025-01-15T10:00:00.000Z"

const letter = (source: string, payload: string): DeadLetter => ({
  tenant: "acme", source, receivedAt: RECEIVED_AT, messageId: "", payload,
  rejection: { rule: "older_rule", field: "", message: "refused by an older connector" },
})

// Each written 2024-07-01 12:00 without a zone: 10:00Z in Europe/Berlin (summer), 16:00Z in America/New_York.
const social = letter("social", JSON.stringify({ id: "p1", network: "reddit", author_handle: "hiker", text: "Love it", created_at: "2024-07-01T12:00:00" }))
const chat = letter("chat", JSON.stringify({ conversation_id: "c1", visitor_id: "anon-1", from: "visitor", at: "2024-07-01T12:00:00", text: "Hello", message_id: "m1" }))
const segment = letter("segment", JSON.stringify({ type: "track", event: "A", userId: "u1", messageId: "s1", timestamp: "2024-07-01T12:00:00" }))
// A whole request refused as one (a batch body) is processed as one again.
const segmentBatch = letter("segment", JSON.stringify({ batch: [{ type: "track", event: "B", userId: "u1", messageId: "s2", timestamp: "2024-07-01T12:00:00" }] }))
// A calls export with its own column names: its header and the row, as the connector dead-letters a row.
const calls = letter("calls", "Call Ref,Start,duration_s,direction,phone,agent,queue,outcome,notes\r\nCA1,2024-07-01 12:00:00,60,inbound,,Riley,Billing,resolved,Fine.\r\n")

const OPTIONS = {
  social: { timeZone: "Europe/Berlin" },
  chat: { timeZone: "Europe/Berlin" },
  segment: { timeZone: "Europe/Berlin" },
  calls: { timeZone: "America/New_York", columns: { call_id: "Call Ref", started_at: "Start" } },
}

type Row = { message_id: string; t: string; zone: string }
const rows = () =>
  query<Row>(
    "SELECT message_id, formatDateTime(timestamp, '%Y-%m-%dT%H:%i:%S', 'UTC') AS t, JSONExtractString(extra, 'zoneless_time_read_in') AS zone FROM events ORDER BY message_id",
  )

const submit = (deadLetters: ReadonlyArray<DeadLetter>) => Effect.gen(function* () {
  yield* (yield* Pipeline).submit([], deadLetters)
})

describe("dead-letter retry and the source's timeZone", () => {
  it("reads a zone-less time in the zone its source is configured with, and marks it so (social, chat, Segment message and batch, calls with its columns)", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* submit([social, chat, segment, segmentBatch, calls])
      const summary = yield* retryDeadLetters({}, OPTIONS)
      expect(summary.results.filter((r) => r.outcome !== "landed")).toEqual([])
      expect(summary).toMatchObject({ retried: 5, landed: 5, stillRejected: 0 })
      expect(yield* rows()).toEqual([
        { message_id: "CA1", t: "2024-07-01T16:00:00", zone: "America/New_York" },
        { message_id: "m1", t: "2024-07-01T10:00:00", zone: "Europe/Berlin" },
        { message_id: "reddit:p1", t: "2024-07-01T10:00:00", zone: "Europe/Berlin" },
        { message_id: "s1", t: "2024-07-01T10:00:00", zone: "Europe/Berlin" },
        { message_id: "s2", t: "2024-07-01T10:00:00", zone: "Europe/Berlin" },
      ])
    })))

  it("without a configured zone such a time is read as UTC and marked so, as before", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* submit([social])
      expect(yield* retryDeadLetters()).toMatchObject({ landed: 1 })
      expect(yield* rows()).toEqual([{ message_id: "reddit:p1", t: "2024-07-01T12:00:00", zone: "UTC" }])
    })))

  it("POST /v1/dead-letters/retry on cdp serve reads it in the zone the server is configured with", async () => {
    const landed = await withApi(dir, (url) => Effect.gen(function* () {
      yield* submit([social])
      const res = yield* callApi(url, "POST", "/v1/dead-letters/retry", TEST_ADMIN_TOKEN, {})
      expect([res.status, res.body.landed]).toEqual([200, 1])
      return yield* rows()
    }), { sourceOptions: { social: { timeZone: "Europe/Berlin" } } })
    expect(landed).toEqual([{ message_id: "reddit:p1", t: "2024-07-01T10:00:00", zone: "Europe/Berlin" }])
  })
})
