// A profile's summary (channels, trait statements, merges, sentiment, the timeline's first page) is the same whether
// its rows of event_rows are grouped in process (small profiles) or by the engine (large ones): the read takes one
// path or the other by message count, so both must answer alike, ties, nulls, merges and moved messages included.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseIdentifier, profileScopeOf } from "../../identity/index.ts"
import type { IdentifierRef } from "../../identity/index.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { profileSummary } from "../../warehouse/profiles.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ref = (text: string) => parseIdentifier(text) as IdentifierRef

// Statements come back in no particular order from the engine; everything else is ordered.
const comparable = (s: Effect.Success<ReturnType<typeof profileSummary>>) =>
  ({ ...s, statements: [...s.statements].map((x) => JSON.stringify(x)).sort() })

describe("profile summary", () => {
  it("grouped in process equals grouped by the engine, for every page size", () =>
    withPipeline(dir, Effect.gen(function* () {
      const at = (messageId: string, iso: string, fields: Parameters<typeof eventOn>[2]) => ({ ...eventOn(messageId, 1, fields), timestamp: iso })
      const pipeline = yield* Pipeline
      // u1's and a1's messages land first, under two profiles.
      yield* pipeline.submit([
        at("m1", "2024-10-01T10:00:00.000Z", { type: "identify", userId: "u1", traits: { plan: "free", name: "Ann", email: "ann@x.example", gone: null, blank: "" } }),
        // Same instant as m1: the message id decides which statement is the latest and the timeline's order.
        at("m2", "2024-10-01T10:00:00.000Z", { type: "identify", userId: "u1", traits: { plan: "pro", nested: { a: [1, 2] } } }),
        at("m0", "2024-10-01T10:00:00.000Z", { type: "identify", userId: "u1", traits: { plan: "team" } }),
        at("e1", "2024-10-02T00:00:00.000Z", { source: "email", channel: "email", userId: "u1", event: "Opened" }),
        at("c1", "2024-10-03T08:00:00.123Z", { source: "chat", channel: "chat", anonymousId: "a1", traits: { name: "annie", plan: "chat-plan" } }),
        at("c2", "2024-09-20T08:00:00.000Z", { source: "chat", channel: "chat", anonymousId: "a1", traits: { name: "older" } }),
      ], [])
      // a1 states u1's address: one person now (a merge; one side's messages move to the other).
      yield* pipeline.submit([
        at("j1", "2024-10-04T00:00:00.000Z", { anonymousId: "a1", channel: "chat", source: "chat", identifiers: [{ kind: "email", value: "ann@x.example" }] }),
      ], [])
      const scope = yield* profileScopeOf("acme", ref("user_id:u1"))
      expect(scope.ids.length).toBe(7)
      for (const limit of [1, 2, 3, 6, 7, 50]) {
        const inProcess = yield* profileSummary(scope, limit, 1_000_000)
        const byEngine = yield* profileSummary(scope, limit, -1)
        expect(comparable(inProcess), `page size ${limit}`).toEqual(comparable(byEngine))
        expect(inProcess.events.length).toBe(Math.min(7, limit + 1))
      }
      const summary = yield* profileSummary(scope, 50)
      expect(summary.merges.length).toBeGreaterThan(0)
      expect(summary.channels.map((c) => [c[0], c[1]])).toEqual([["chat", "3"], ["email", "1"], ["web", "3"]])
      expect(summary.events.slice(0, 5).map((e) => e[0])).toEqual(["j1", "c1", "e1", "m2", "m1"])
      const plan = summary.statements.filter((s) => s[0] === "plan" && s[1] === "segment").map((s) => s[3][0])
      expect(plan).toEqual(['"pro"'])
      expect(summary.statements.some((s) => s[0] === "gone" || s[0] === "blank")).toBe(false)
    })), 60_000)
})
