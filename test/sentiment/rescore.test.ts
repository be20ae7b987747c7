import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { importFile } from "../../ingest/import.ts"
import { MODEL_VERSION, rescore } from "../../sentiment/index.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"
import { SIGNALS_DEV } from "../support/shared.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const snapshot = query<{ message_id: string; score: number; label: string; status: string; model_version: string }>(
  "SELECT message_id, score, label, status, model_version FROM sentiment FINAL ORDER BY message_id")

describe("sentiment rescore", () => {
  it("recomputes every stored text and is idempotent: twice gives the same one row per message", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* importFile("chat", `${SIGNALS_DEV}chat.ndjson`, { tenant: "acme" })
      const landed = yield* snapshot
      expect(landed.length).toBe(290)
      const first = yield* rescore({ since: new Date("2024-01-01") })
      const afterFirst = yield* snapshot
      const second = yield* rescore({ since: new Date("2024-01-01") })
      const afterSecond = yield* snapshot
      expect(first).toEqual({ texts: 290, scored: first.scored, unscored: 290 - first.scored, model: MODEL_VERSION })
      expect(second).toEqual(first)
      expect(afterFirst).toEqual(landed)
      expect(afterSecond).toEqual(afterFirst)
      expect(afterSecond.every((r) => r.model_version === MODEL_VERSION)).toBe(true)
    })))

  it("only touches texts of messages from --since on", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* importFile("chat", `${SIGNALS_DEV}chat.ndjson`, { tenant: "acme" })
      const [{ n }] = (yield* query<{ n: string }>("SELECT count() AS n FROM texts WHERE timestamp >= '2024-11-01'")) as [{ n: string }]
      const summary = yield* rescore({ since: new Date("2024-11-01T00:00:00Z") })
      expect(summary.texts).toBe(Number(n))
      expect(summary.texts).toBeLessThan(290)
    })))

  it("moves texts scored by an older model to the current version, with the current model's scores", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* importFile("chat", `${SIGNALS_DEV}chat.ndjson`, { tenant: "acme" })
      const current = yield* snapshot
      // History as an older model left it: every row stamped "lexicon-2", all scored neutral.
      const warehouse = yield* Warehouse
      yield* warehouse.command(
        `INSERT INTO sentiment SELECT * REPLACE ('lexicon-2' AS model_version, 0 AS score, 'neutral' AS label,
           scored_at - INTERVAL 1 DAY AS scored_at) FROM sentiment FINAL`)
      yield* warehouse.command("DELETE FROM sentiment WHERE model_version = {v:String}", { v: MODEL_VERSION })
      const old = yield* snapshot
      expect(old.every((r) => r.model_version === "lexicon-2")).toBe(true)
      expect(MODEL_VERSION).not.toBe("lexicon-2")

      const summary = yield* rescore({ since: new Date("2024-01-01") })
      expect(summary.model).toBe(MODEL_VERSION)
      const after = yield* snapshot
      expect(after.every((r) => r.model_version === MODEL_VERSION)).toBe(true)
      expect(after).toEqual(current)
      expect(after.some((r) => r.label !== "neutral")).toBe(true)
    })))
})
