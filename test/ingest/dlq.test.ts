import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { listDeadLetters, retryDeadLetters } from "../../ingest/dlq.ts"
import { importFile } from "../../ingest/import.ts"
import type { DeadLetter } from "../../ingest/message.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { deadLetterId } from "../../warehouse/sink.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"
import { SIGNALS_DEV } from "../support/shared.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const RECEIVED_AT = "2025-01-15T10:00:00.000Z"

const post = (fields: Record<string, unknown>) =>
  JSON.stringify({ id: "p1", network: "reddit", author_handle: "hiker", text: "Love it", created_at: "2024-10-01T10:00:00Z", ...fields })

/** A dead letter as an older version of the social connector refused it. */
const refused = (payload: string, rule: string, receivedAt = RECEIVED_AT, tenant = "acme"): DeadLetter => ({
  tenant, source: "social", receivedAt, messageId: "", payload,
  rejection: { rule, field: "/rating", message: `line 1: ${rule} (as an older connector saw it)` },
})

const submitDeadLetters = (deadLetters: ReadonlyArray<DeadLetter>) =>
  Effect.gen(function* () {
    yield* (yield* Pipeline).submit([], deadLetters)
  })

describe("dead-letter retry", () => {
  // The fix: an older connector refused these posts ("bad_rating"); the current one accepts a valid post. A post
  // without a created_at is still refused, now for its missing time.
  const fixed = refused(post({ id: "ok", rating: 4 }), "bad_rating")
  const stillBad = refused(post({ id: "bad", created_at: undefined }), "bad_rating")

  it("lands what passes now and closes it; what still fails stays open with its new reason", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* submitDeadLetters([fixed, stillBad])
      expect((yield* listDeadLetters()).map((d) => [d.deadLetterId, d.status, d.rule, d.receivedAt])).toEqual([
        [deadLetterId(fixed), "open", "bad_rating", RECEIVED_AT], [deadLetterId(stillBad), "open", "bad_rating", RECEIVED_AT],
      ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)))

      const summary = yield* retryDeadLetters()
      expect(summary).toMatchObject({ retried: 2, landed: 1, stillRejected: 1 })
      expect(summary.results.find((r) => r.deadLetterId === deadLetterId(fixed))).toEqual({
        tenant: "acme", source: "social", deadLetterId: deadLetterId(fixed), outcome: "landed", rule: "", reason: "", messageIds: ["reddit:ok"],
      })
      expect(summary.results.find((r) => r.deadLetterId === deadLetterId(stillBad))).toMatchObject({
        outcome: "still_rejected", rule: "bad_timestamp", reason: expect.stringContaining("created_at is required"), messageIds: [],
      })

      // It landed as received then, and, accepted now, its raw text is in that day's archive.
      expect(yield* query("SELECT message_id, received_at FROM events")).toEqual([{ message_id: "reddit:ok", received_at: "2025-01-15 10:00:00.000" }])
      expect((yield* (yield* ObjectStore).list("archive/acme/social/2025-01-15/")).filter((k) => k.endsWith(".ndjson.gz"))).toHaveLength(1)

      const open = yield* listDeadLetters()
      expect(open.map((d) => [d.deadLetterId, d.status, d.rule])).toEqual([[deadLetterId(stillBad), "open", "bad_rating"]])
      expect(open[0]!.lastRetry).toMatchObject({ outcome: "still_rejected", rule: "bad_timestamp" })
      const all = yield* listDeadLetters({ all: true })
      expect(all.map((d) => d.status).sort()).toEqual(["landed", "open"])
      expect(all.find((d) => d.status === "landed")!.lastRetry).toMatchObject({ outcome: "landed", rule: "" })

      // Only open ones are retried again; every attempt is kept.
      expect(yield* retryDeadLetters()).toMatchObject({ retried: 1, landed: 0, stillRejected: 1 })
      expect(yield* query("SELECT outcome, rule, message_id FROM dead_letter_outcomes ORDER BY retried_at, outcome")).toEqual([
        { outcome: "landed", rule: "", message_id: "reddit:ok" },
        { outcome: "still_rejected", rule: "bad_timestamp", message_id: "" },
        { outcome: "still_rejected", rule: "bad_timestamp", message_id: "" },
      ])
      expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "1" }])
    })))

  it("retrying dead letters whose cause is not fixed lands nothing: each stays open for the same rule", () =>
    withPipeline(dir, Effect.gen(function* () {
      const imported = yield* importFile("segment", join(SIGNALS_DEV, "invalid.ndjson"), { tenant: "acme" })
      expect(imported.rejected).toBeGreaterThan(0)
      // A calls row is refused with its header line, so it parses alone when re-driven.
      const header = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes"
      const calls = join(dir, "calls.csv")
      writeFileSync(calls, [
        header, "CA1,2024-09-16T09:28:50Z,60,inbound,,Riley,Billing,resolved,fine", "CA2,16/09/2024,60,inbound,,Riley,Billing,resolved,late",
        "CA3,2024-09-16T09:28:50Z,-5,inbound,,Riley,Billing,resolved,x", "CA4,2024-09-16T09:28:50Z,60",
      ].join("\r\n"))
      expect(yield* importFile("calls", calls, { tenant: "acme" })).toMatchObject({ accepted: 1, rejected: 3 })
      const before = yield* listDeadLetters({ limit: 1000 })
      const summary = yield* retryDeadLetters()
      expect(summary).toMatchObject({ retried: before.length, landed: 0, stillRejected: before.length })
      const ruleOf = new Map(before.map((d) => [d.deadLetterId, d.rule]))
      expect(summary.results.filter((r) => r.rule !== ruleOf.get(r.deadLetterId))).toEqual([])
      expect((yield* listDeadLetters({ limit: 1000 })).length).toBe(before.length)
      expect(new Set(summary.results.map((r) => r.source))).toEqual(new Set(["segment", "calls"]))
      expect(yield* query("SELECT message_id FROM events")).toEqual([{ message_id: "CA1" }])
    })))

  it("list and retry take only what the filter names: tenant, source, rule, since, limit", () =>
    withPipeline(dir, Effect.gen(function* () {
      const older = refused(post({ id: "old" }), "bad_rating", "2025-01-01T00:00:00.000Z")
      const otherRule = refused(post({ id: "rule" }), "too_long")
      const otherTenant = refused(post({ id: "globex" }), "bad_rating", RECEIVED_AT, "globex")
      yield* submitDeadLetters([fixed, older, otherRule, otherTenant])
      const ids = (filter: Parameters<typeof listDeadLetters>[0]) => Effect.map(listDeadLetters(filter), (l) => l.map((d) => d.deadLetterId).sort())
      expect(yield* ids({ tenant: "globex" })).toEqual([deadLetterId(otherTenant)])
      expect(yield* ids({ source: "segment" })).toEqual([])
      expect(yield* ids({ tenant: "acme", rule: "too_long" })).toEqual([deadLetterId(otherRule)])
      expect(yield* ids({ tenant: "acme", since: new Date("2025-01-10T00:00:00Z") })).toEqual([deadLetterId(fixed), deadLetterId(otherRule)].sort())
      expect(yield* ids({ limit: 1 })).toEqual([deadLetterId(older)])

      expect(yield* retryDeadLetters({ tenant: "acme", rule: "bad_rating", since: new Date("2025-01-10T00:00:00Z") })).toMatchObject({ retried: 1, landed: 1 })
      expect(yield* query("SELECT tenant, message_id FROM events")).toEqual([{ tenant: "acme", message_id: "reddit:ok" }])
      expect((yield* listDeadLetters()).length).toBe(3)
    })))
})
