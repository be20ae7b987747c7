// Segment's live API reads times written without a zone in the segment source's "timeZone" (CDP_SOURCE_OPTIONS), as
// `cdp ingest --source segment` of a file does: the same message lands at the same instant both ways.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { readSegmentFile } from "../../ingest/sources/segment-file.ts"
import { basicAuth, freshDir, query, removeDir, WRITE_KEY } from "../support/pipeline.ts"
import { withApi } from "../support/api.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ZONE = "Europe/Berlin"
const messages = [
  { type: "track", event: "A", userId: "u1", messageId: "s1", timestamp: "2024-07-01T12:00:00" },
  { type: "track", event: "B", userId: "u1", messageId: "s2", timestamp: "2024-07-01T12:00:00Z" },
]

const post = (url: string, path: string, body: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}${path}`, {
      method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }, body: JSON.stringify(body),
    })
    return { status: res.status, text: await res.text() }
  })

type Row = { message_id: string; t: string; zone: string }
const landed = (count: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < 200; i++) {
      const rows = yield* query<Row>(
        "SELECT message_id, formatDateTime(timestamp, '%Y-%m-%dT%H:%i:%S.000Z', 'UTC') AS t, JSONExtractString(extra, 'zoneless_time_read_in') AS zone FROM events ORDER BY message_id",
      )
      if (rows.length === count) return rows
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.die(new Error(`${count} events did not land in 10 s`))
  })

const fromFile = async () => {
  const path = join(dir, "messages.ndjson")
  writeFileSync(path, messages.map((m) => JSON.stringify(m)).join("\n"))
  const rows: Array<Row> = []
  for await (const item of readSegmentFile(path, { tenant: "acme", receivedAtMs: Date.now(), options: { timeZone: ZONE } })) {
    if (item._tag === "event") rows.push({ message_id: item.event.messageId, t: item.event.timestamp, zone: String(item.event.extra["zoneless_time_read_in"] ?? "") })
  }
  return rows
}

describe("Segment's live API and the segment source's timeZone", () => {
  it("a zone-less timestamp posted to /v1/batch is read in the configured zone and marked so, as the file source reads it", async () => {
    const file = await fromFile()
    expect(file).toEqual([
      { message_id: "s1", t: "2024-07-01T10:00:00.000Z", zone: ZONE },
      { message_id: "s2", t: "2024-07-01T12:00:00.000Z", zone: "" },
    ])
    const rows = await withApi(dir, (url) => Effect.gen(function* () {
      const res = yield* post(url, "/v1/batch", { batch: messages })
      expect(res.status, res.text).toBe(200)
      return yield* landed(2)
    }), { sourceOptions: { segment: { timeZone: ZONE } } })
    expect(rows).toEqual(file)
  }, 60_000)

  it("a single-message route (/v1/track) reads it in the zone too; without a zone set, the API reads it as UTC", async () => {
    const zoned = await withApi(dir, (url) => Effect.gen(function* () {
      const res = yield* post(url, "/v1/track", messages[0])
      expect(res.status, res.text).toBe(200)
      return yield* landed(1)
    }), { sourceOptions: { segment: { timeZone: ZONE } } })
    expect(zoned).toEqual([{ message_id: "s1", t: "2024-07-01T10:00:00.000Z", zone: ZONE }])
    const other = freshDir()
    try {
      const utc = await withApi(other, (url) => Effect.gen(function* () {
        const res = yield* post(url, "/v1/track", messages[0])
        expect(res.status, res.text).toBe(200)
        return yield* landed(1)
      }))
      expect(utc).toEqual([{ message_id: "s1", t: "2024-07-01T12:00:00.000Z", zone: "UTC" }])
    } finally {
      removeDir(other)
    }
  }, 60_000)
})
