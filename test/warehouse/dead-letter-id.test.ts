import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { listDeadLetters } from "../../ingest/dlq.ts"
import type { DeadLetter } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const letter = (fields: Partial<DeadLetter> & { readonly field?: string; readonly reason?: string }): DeadLetter => ({
  tenant: "acme", source: "segment", receivedAt: "2025-01-15T10:00:00.000Z", messageId: "", payload: "",
  rejection: { rule: "bad_json", field: fields.field ?? "", message: fields.reason ?? "the body is not JSON" },
  ...fields,
})

const submit = (deadLetters: ReadonlyArray<DeadLetter>) => Effect.gen(function* () {
  yield* (yield* Pipeline).submit([], deadLetters)
})

const listed = Effect.map(listDeadLetters({ all: true, limit: 1000 }), (l) => l.map((d) => [d.messageId, d.field, d.reason, d.receivedAt]).sort())

describe("dead-letter ids", () => {
  it("payload-less dead letters of one tenant, source and rule are each kept", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* submit([
        letter({ messageId: "m1" }),
        letter({ messageId: "m2" }),
        letter({ messageId: "m1", field: "/event" }),
        letter({ messageId: "m1", reason: "the body is empty" }),
      ])
      yield* submit([letter({ messageId: "m1", receivedAt: "2025-01-15T10:00:01.000Z" })])
      expect(yield* listed).toEqual([
        ["m1", "", "the body is empty", "2025-01-15T10:00:00.000Z"],
        ["m1", "", "the body is not JSON", "2025-01-15T10:00:00.000Z"],
        ["m1", "", "the body is not JSON", "2025-01-15T10:00:01.000Z"],
        ["m1", "/event", "the body is not JSON", "2025-01-15T10:00:00.000Z"],
        ["m2", "", "the body is not JSON", "2025-01-15T10:00:00.000Z"],
      ])
    })))

  it("the same payload-less dead letter delivered twice is listed once", () =>
    withPipeline(dir, Effect.gen(function* () {
      const same = letter({ messageId: "m1" })
      yield* submit([same])
      yield* submit([{ ...same }])
      expect(yield* listed).toEqual([["m1", "", "the body is not JSON", "2025-01-15T10:00:00.000Z"]])
    })))

  it("the same refused payload sent again is still one dead letter, the latest time kept", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* submit([letter({ messageId: "m1", payload: "{not json" })])
      yield* submit([letter({ messageId: "m1", payload: "{not json", receivedAt: "2025-01-15T10:05:00.000Z" })])
      yield* submit([letter({ messageId: "m2", payload: "{also not json" })])
      expect(yield* listed).toEqual([
        ["m1", "", "the body is not JSON", "2025-01-15T10:05:00.000Z"],
        ["m2", "", "the body is not JSON", "2025-01-15T10:00:00.000Z"],
      ])
    })))
})
