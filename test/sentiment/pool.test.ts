// The sentiment stage scores in worker threads: same results as the scorer, a dead worker replaced without losing a
// text, and no worker left running once the pipeline's scope closes.
import { Effect, Logger, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { createScorer, sentimentRecord, sentimentStage } from "../../sentiment/index.ts"
import { makeScoringPool } from "../../sentiment/pool.ts"

const config = { brand: ["Lumen Outfitters"], aspects: {} }
const DYING_WORKER = new URL("./fixtures/dying-score-worker.ts", import.meta.url)
const scoped = <A>(program: Effect.Effect<A, never, Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(Logger.layer([]))))
const workerPorts = () => process.getActiveResourcesInfo().filter((r) => r === "MessagePort").length
const event = (messageId: string, text: string) => ({ messageId, tenant: "acme", text }) as unknown as CanonicalEvent

describe("the sentiment stage's worker pool", () => {
  it("scores a batch in worker threads exactly as the scorer does; events without text pass untouched", () =>
    scoped(Effect.gen(function* () {
      const stage = yield* sentimentStage(config, { size: 2 })
      const texts = ["I love this jacket!", "Lumen Outfitters never answered, terrible support", "", "meh", "x".repeat(3_000_000)]
      const batch = texts.map((text, i) => event(`m${i}`, text))
      const outcomes = yield* stage(batch)
      const scorer = createScorer({ brand: config.brand })
      expect(outcomes).toEqual(batch.map((e) =>
        ({ _tag: "ok", value: e.text === "" ? e : { ...e, sentiment: sentimentRecord(scorer.score(e.text)) } })))
      const long = outcomes[4]!._tag === "ok" ? outcomes[4]!.value.sentiment : undefined
      expect(long?.reason).toBe("scored the first 50000 of 3000000 characters")
    })))

  it("replaces a worker that dies: the other texts of its job are scored, the one it died on is unscored saying why", () =>
    scoped(Effect.gen(function* () {
      const pool = yield* makeScoringPool({ config, size: 1, script: DYING_WORKER })
      const texts = ["great fit", "☠ it broke", "awful delivery", "love it"]
      const results = yield* pool.score(texts.map((text) => ({ tenant: "acme", text })))
      const scorer = createScorer({ brand: config.brand })
      expect(results[0]).toEqual(scorer.score("great fit"))
      expect(results[2]).toEqual(scorer.score("awful delivery"))
      expect(results[3]).toEqual(scorer.score("love it"))
      expect(results[1]).toMatchObject({
        status: "unscored", reason: "not scored: the scoring worker stopped twice on this text (worker exited with code 7)",
      })
      // The batch's worker died, then the one that tried the text alone: two replacements, and the pool still scores.
      expect(pool.started()).toBe(3)
      expect(yield* pool.score([{ tenant: "acme", text: "so comfy" }])).toEqual([scorer.score("so comfy")])
    })))

  it("stops a worker stuck on a text: the rest are scored, the text it was stuck on is unscored saying why", () =>
    scoped(Effect.gen(function* () {
      const pool = yield* makeScoringPool({ config, size: 1, script: DYING_WORKER, jobTimeoutMs: 1_000 })
      const results = yield* pool.score([{ tenant: "acme", text: "nice" }, { tenant: "acme", text: "⏳ slow" }])
      expect(results[0]).toEqual(createScorer({ brand: config.brand }).score("nice"))
      expect(results[1]).toMatchObject({ status: "unscored", reason: expect.stringContaining("still scoring after 1 s") })
    })))

  it("a worker script that cannot start leaves texts unscored, saying so, instead of restarting forever", () =>
    scoped(Effect.gen(function* () {
      const pool = yield* makeScoringPool({ config, size: 1, script: new URL("./fixtures/no-such-worker.ts", import.meta.url) })
      const results = yield* pool.score([{ tenant: "acme", text: "great" }])
      expect(results).toMatchObject([{ status: "unscored", reason: expect.stringContaining("the scoring workers cannot start") }])
      expect(pool.started()).toBe(3)
    })))

  it("closing the scope stops every worker", async () => {
    const before = workerPorts()
    await scoped(Effect.gen(function* () {
      const pool = yield* makeScoringPool({ config, size: 2 })
      yield* pool.score([{ tenant: "acme", text: "fine" }])
      expect(workerPorts()).toBe(before + 2)
    }))
    expect(workerPorts()).toBe(before)
  })
})
