import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const DEPTH = 100_000

/** A value nested `depth` levels deep, built without recursion (as a parser would hand it over). */
const nested = (depth: number) => {
  let value: Record<string, unknown> = { leaf: true }
  for (let i = 0; i < depth; i++) value = { a: value }
  return value
}

const event = (tenant: string, messageId: string, over: Partial<CanonicalEvent> = {}): CanonicalEvent => ({
  tenant, messageId, type: "track", event: "Posted", anonymousId: "a", userId: "", groupId: "", previousId: "",
  channel: "social", source: "social", timestamp: "2024-10-01T00:00:00.000Z", originalTimestamp: null, sentAt: null,
  receivedAt: "2024-10-01T00:00:00.000Z", properties: {}, traits: {}, context: {}, extra: {}, identifiers: [],
  text: "", profileId: "a", ...over,
})

describe("a poison message", () => {
  it("nested 100,000 levels deep, becomes a dead letter and the other tenants' messages of its batch land", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      // Built directly, as if the edge's limits had let it through.
      const poisoned = event("acme", "deep", { properties: nested(DEPTH) })
      yield* pipeline.submit([event("acme", "a-1"), poisoned, event("globex", "g-1"), event("initech", "i-1")], [])
      expect(yield* query("SELECT tenant, message_id FROM events ORDER BY tenant, message_id")).toEqual([
        { tenant: "acme", message_id: "a-1" }, { tenant: "globex", message_id: "g-1" }, { tenant: "initech", message_id: "i-1" },
      ])
      const dead = yield* query<{ message_id: string; rule: string; reason: string; depth: string }>(
        "SELECT message_id, rule, reason, countSubstrings(payload, '{\"a\":') AS depth FROM dead_letters")
      // Kept whole: every level of the payload is in the dead letter.
      expect(dead).toEqual([{ message_id: "deep", rule: "warehouse_rejected", reason: expect.stringMatching(/cannot be encoded as JSON/), depth: String(DEPTH) }])
      // The pipeline flows on: a later message lands.
      yield* pipeline.submit([event("globex", "g-2")], [])
      expect(yield* query("SELECT count() AS n FROM events WHERE tenant = 'globex'")).toEqual([{ n: "2" }])
    })))

  it("half a surrogate pair that got past the edge is refused by the warehouse as the row's fault (code 25), isolated at once", () =>
    withPipeline(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      // JSON.stringify writes a lone surrogate as the escape \ud83d, which the engine cannot parse.
      const cut = "lone \ud83d again"
      yield* warehouse.command("CREATE TABLE scratch (s String) ENGINE = Memory")
      const error = yield* Effect.flip(warehouse.insert("scratch", [{ s: "fine" }, { s: cut }]))
      expect(error).toMatchObject({ _tag: "WarehouseRejectedRows", code: "25" })
      const pipeline = yield* Pipeline
      yield* pipeline.submit([event("acme", "a-1"), event("acme", "cut", { event: cut }), event("globex", "g-1")], [])
      expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([
        { message_id: "a-1" }, { message_id: "g-1" },
      ])
      // Refused rows, not a failing warehouse: no bounded retry, no "warehouse_failed".
      expect(yield* query("SELECT message_id, rule FROM dead_letters")).toEqual([{ message_id: "cut", rule: "warehouse_rejected" }])
    })))

  it("a history import spanning 150 months lands (more partitions than one insert may touch)", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const history = Array.from({ length: 150 }, (_, i) =>
        event("acme", `h-${i}`, { timestamp: new Date(Date.UTC(2010, i, 15)).toISOString(), text: `post ${i}` }))
      yield* pipeline.submit(history, [])
      expect(yield* query("SELECT count() AS n, uniqExact(toYYYYMM(timestamp)) AS months FROM events")).toEqual([{ n: "150", months: "150" }])
      expect(yield* query("SELECT count() AS n FROM texts")).toEqual([{ n: "150" }])
      expect(yield* query("SELECT count() AS n FROM dead_letters")).toEqual([{ n: "0" }])
    })))

  it("`cdp ingest` of a file with a record nested 100,000 levels deep finishes, and the other records land", () => {
    const file = join(dir, "posts.ndjson")
    const post = (id: number) => ({ id, network: "forum", author_handle: `@user${id}`, text: `post ${id}`, created_at: "2024-10-01T00:00:00Z" })
    const deep = `{"id":2,"network":"forum","author_handle":"@deep","text":"deep","created_at":"2024-10-01T00:00:00Z","thread":${'{"a":'.repeat(DEPTH)}1${"}".repeat(DEPTH)}}`
    writeFileSync(file, `${JSON.stringify(post(1))}\n${deep}\n${JSON.stringify(post(3))}\n`)
    const dataDir = join(dir, "data")
    const ingest = runCdp(["ingest", "--source", "social", file, "--tenant", "acme", "--data-dir", dataDir])
    expect(ingest.status, ingest.stderr).not.toBeNull()
    expect(ingest.stderr).not.toMatch(/\n\s+at /)
    const landed = runCdp(["query", "SELECT message_id FROM events ORDER BY message_id", "--tenant", "acme", "--data-dir", dataDir])
    expect(landed.stdout.trim().split("\n").map((l) => JSON.parse(l) as unknown)).toEqual([
      { message_id: "forum:1" }, { message_id: "forum:3" },
    ])
    const dead = runCdp(["query", "SELECT count() AS n FROM dead_letters", "--tenant", "acme", "--data-dir", dataDir])
    expect(JSON.parse(dead.stdout)).toEqual({ n: "1" })
  })
})
