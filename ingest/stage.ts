// A pipeline stage takes a canonical message and returns one of four outcomes (as PostHog's ingestion steps do).
import type { Rejection } from "./message.ts"

export type Outcome<A> =
  | { readonly _tag: "ok"; readonly value: A }
  | { readonly _tag: "deadLetter"; readonly rejection: Rejection }
  | { readonly _tag: "drop"; readonly reason: string }
  | { readonly _tag: "redirect"; readonly topic: string }

export const ok = <A>(value: A): Outcome<A> => ({ _tag: "ok", value })
export const deadLetter = <A = never>(rejection: Rejection): Outcome<A> => ({ _tag: "deadLetter", rejection })
export const drop = <A = never>(reason: string): Outcome<A> => ({ _tag: "drop", reason })
export const redirect = <A = never>(topic: string): Outcome<A> => ({ _tag: "redirect", topic })

export type Stage<A> = (input: A) => Outcome<A>

/** Runs stages in order; the first outcome that is not `ok` ends the run. */
export const runStages = <A>(input: A, stages: ReadonlyArray<Stage<A>>): Outcome<A> => {
  let current: Outcome<A> = ok(input)
  for (const stage of stages) {
    if (current._tag !== "ok") return current
    current = stage(current.value)
  }
  return current
}
