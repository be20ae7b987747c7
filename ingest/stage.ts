// The stage contract. A stage takes a batch of canonical messages and returns, in an Effect, one outcome per message
// (as PostHog's ingestion steps do): ok(next), deadLetter(rejection), drop(reason) or redirect(topic). Effects and
// whole batches let stateful stages (identity reads its graph, consent its ledger) look things up once per batch.
// One handler in the pipeline routes every outcome.
import { Effect } from "effect"
import type { Rejection } from "./message.ts"

export type Outcome<A> =
  | { readonly _tag: "ok"; readonly value: A }
  | { readonly _tag: "deadLetter"; readonly rejection: Rejection }
  | { readonly _tag: "drop"; readonly reason: string }
  | { readonly _tag: "redirect"; readonly topic: string; readonly value: A }

export const ok = <A>(value: A): Outcome<A> => ({ _tag: "ok", value })
export const deadLetter = <A = never>(rejection: Rejection): Outcome<A> => ({ _tag: "deadLetter", rejection })
export const drop = <A = never>(reason: string): Outcome<A> => ({ _tag: "drop", reason })
export const redirect = <A>(topic: string, value: A): Outcome<A> => ({ _tag: "redirect", topic, value })

/** A stage: one outcome per input message, in the same order. */
export type Stage<A, E = never, R = never> = (batch: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<Outcome<A>>, E, R>

/** A stage from a pure function of one message. */
export const perMessage = <A>(f: (input: A) => Outcome<A>): Stage<A> => (batch) => Effect.sync(() => batch.map(f))

/** What a message becomes when a stage throws on it (a bug, or input no rule foresaw): never a stuck pipeline. */
const stageFailed = <A>(index: number, defect: unknown): Outcome<A> =>
  deadLetter({
    rule: "stage_failed", field: "",
    message: `pipeline stage ${index + 1} failed on this message: ${defect instanceof Error ? defect.message : String(defect)}`.slice(0, 500),
  })

/**
 * Runs one stage on a batch. When the stage dies (throws), it is run again on each message alone, so only the
 * messages it dies on become dead letters and the rest flow on. Failures (typed errors, e.g. an outage) pass up.
 */
const runIsolated = <A, E, R>(stage: Stage<A, E, R>, index: number, batch: ReadonlyArray<A>): Effect.Effect<ReadonlyArray<Outcome<A>>, E, R> =>
  stage(batch).pipe(
    Effect.catchDefect((defect) =>
      batch.length === 1
        ? Effect.succeed([stageFailed<A>(index, defect)])
        : Effect.forEach(batch, (one) =>
          stage([one]).pipe(
            Effect.map((outcomes) => outcomes[0]!),
            Effect.catchDefect((d) => Effect.succeed(stageFailed<A>(index, d))),
          ))),
  )

/**
 * Runs the stages in order on a batch: each stage sees the messages still `ok`; the first outcome that is not `ok`
 * is a message's final outcome. Returns one outcome per input message, in order.
 */
export const runStages = <A, E, R>(
  batch: ReadonlyArray<A>,
  stages: ReadonlyArray<Stage<A, E, R>>,
): Effect.Effect<ReadonlyArray<Outcome<A>>, E, R> =>
  Effect.gen(function* () {
    const outcomes: Array<Outcome<A>> = batch.map(ok)
    for (let s = 0; s < stages.length; s++) {
      const live: Array<number> = []
      for (let i = 0; i < outcomes.length; i++) if (outcomes[i]!._tag === "ok") live.push(i)
      if (live.length === 0) break
      const input = live.map((i) => (outcomes[i] as { value: A }).value)
      const results = yield* runIsolated(stages[s]!, s, input)
      if (results.length !== input.length) {
        return yield* Effect.die(new Error(`pipeline stage ${s + 1} returned ${results.length} outcomes for ${input.length} messages`))
      }
      for (let k = 0; k < live.length; k++) outcomes[live[k]!] = results[k]!
    }
    return outcomes
  })
