// The pipeline: the edge (collector, file import) submits validated events and dead letters to the bus; consumers
// run the stages on each event and hand the survivors to the warehouse sink.
import { Context, Effect, Layer } from "effect"
import { identityStage } from "../identity/index.ts"
import { brandTermsFromEnv, sentimentStage } from "../sentiment/index.ts"
import { makeEventSink } from "../warehouse/sink.ts"
import { type BusUnavailable, EventBus, Topics } from "./bus.ts"
import type { CanonicalEvent, DeadLetter } from "./message.ts"
import { runStages, type Stage } from "./stage.ts"

/** Running totals since start, for summaries and /health (counts only, never content). */
export interface PipelineCounters {
  accepted: number
  rejected: number
  landed: number
  duplicates: number
  dropped: number
}

/** Stages every event passes, in order (validation happened at the edge; consent comes later). */
export const eventStages = (): ReadonlyArray<Stage<CanonicalEvent>> => [
  identityStage,
  sentimentStage({ brand: brandTermsFromEnv() }),
]

export interface PipelineShape {
  readonly counters: Readonly<PipelineCounters>
  /** Completes once everything submitted is durably accepted by the bus. */
  readonly submit: (events: ReadonlyArray<CanonicalEvent>, deadLetters: ReadonlyArray<DeadLetter>) =>
    Effect.Effect<void, BusUnavailable>
}

export class Pipeline extends Context.Service<Pipeline, PipelineShape>()("cdp/Pipeline") {
  /** Starts the consumers on the bus; they stop (after draining) when the layer's scope closes. */
  static readonly layer = Layer.effect(
    Pipeline,
    Effect.gen(function* () {
      const bus = yield* EventBus
      const sink = yield* makeEventSink
      const stages = eventStages()
      const counters: PipelineCounters = { accepted: 0, rejected: 0, landed: 0, duplicates: 0, dropped: 0 }

      const handleEvents = (batch: ReadonlyArray<CanonicalEvent>) =>
        Effect.gen(function* () {
          const passed: Array<CanonicalEvent> = []
          const refused: Array<DeadLetter> = []
          let dropped = 0
          for (const event of batch) {
            const outcome = runStages(event, stages)
            if (outcome._tag === "ok") passed.push(outcome.value)
            else if (outcome._tag === "deadLetter") {
              refused.push({
                tenant: event.tenant, source: event.source, receivedAt: event.receivedAt, messageId: event.messageId,
                rejection: outcome.rejection, payload: JSON.stringify(event),
              })
            } else dropped++
          }
          const result = yield* sink.landEvents(passed)
          if (refused.length > 0) yield* bus.publish(Topics.deadLetters, refused)
          counters.landed += result.landed
          counters.duplicates += result.duplicates
          counters.dropped += dropped
        })

      yield* bus.consume(Topics.deadLetters, (batch) => sink.landDeadLetters(batch))
      yield* bus.consume(Topics.events, handleEvents)

      return {
        counters,
        submit: (events, deadLetters) =>
          Effect.gen(function* () {
            yield* Effect.all([bus.publish(Topics.events, events), bus.publish(Topics.deadLetters, deadLetters)], {
              concurrency: 2,
              discard: true,
            })
            counters.accepted += events.length
            counters.rejected += deadLetters.length
          }),
      }
    }),
  )
}
