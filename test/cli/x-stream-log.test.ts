// The filtered stream's lines that are no tweet (not JSON, JSON null) were dropped without a word. The connector now
// counts them and reports the 1st, 10th, 100th...; cdp serve logs that as a warning naming the problem, with only the
// start of the line.
import { Effect, Logger, References } from "effect"
import { describe, expect, it } from "vitest"
import { statusLogger } from "../../cli/social.ts"

describe("the X connector's status log", () => {
  it("lines of the stream that are no tweet are a warning naming why and the count, with only the start of the line", async () => {
    const lines: Array<{ level: string; message: unknown; annotations: Record<string, unknown> }> = []
    const capture = Logger.layer([Logger.make((o) => {
      lines.push({ level: o.logLevel, message: o.message, annotations: { ...o.fiber.getRef(References.CurrentLogAnnotations) } })
    })])
    await Effect.runPromise(Effect.gen(function* () {
      const log = yield* statusLogger
      log({ kind: "unreadable_lines", connection: 2, count: 10, reason: "not JSON", prefix: "<html>upstream" })
      log({ kind: "connected", connection: 3 })
      yield* Effect.sleep("50 millis")
    }).pipe(Effect.provide(capture)))
    expect(lines).toEqual([
      {
        level: "Warn",
        message: [expect.stringMatching(/not tweets/)],
        annotations: { kind: "unreadable_lines", connection: 2, count: 10, reason: "not JSON", prefix: "<html>upstream" },
      },
      { level: "Info", message: ["x connector"], annotations: { kind: "connected", connection: 3 } },
    ])
  })
})
