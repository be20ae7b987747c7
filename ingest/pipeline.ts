// The pipeline: the edge (collector, file import) submits validated events and dead letters to the bus; consumers
// run the stages on each event and hand the survivors to the warehouse sink, and archive each accepted item's raw
// text (ingest/archive.ts) so it can be replayed.
import { Context, Effect, Layer } from "effect"
import { identityStage } from "../identity/index.ts"
import { type SentimentConfig, type SentimentConfigInvalid, sentimentConfigFromEnv, sentimentStage } from "../sentiment/index.ts"
import { type LandResult, makeEventSink } from "../warehouse/sink.ts"
import type { WarehouseQueryError, WarehouseUnavailable } from "../warehouse/warehouse.ts"
import { makeArchiveWriter } from "./archive.ts"
import { type BusUnavailable, EventBus, Topics } from "./bus.ts"
import type { ArchiveRecord, CanonicalEvent, DeadLetter, Rejection } from "./message.ts"
import { runStages, type Stage } from "./stage.ts"

/** Running totals since start, for summaries and /health (counts only, never content). */
export interface PipelineCounters {
  accepted: number
  rejected: number
  landed: number
  duplicates: number
  dropped: number
  /** Dropped messages per reason a stage gave (e.g. a suppressed person). */
  dropReasons: Record<string, number>
  /** Messages a stage sent to another topic. */
  redirected: number
  /** Accepted items whose raw text went to the archive. */
  archived: number
}

/** Stages every event passes, in order (validation happened at the edge; consent comes later). */
export const eventStages = (sentiment: SentimentConfig): ReadonlyArray<Stage<CanonicalEvent>> => [
  identityStage,
  sentimentStage(sentiment),
]

export interface SubmitOptions {
  /**
   * Archive the events' raw text (default true). Replay passes false: its items come from the archive, and
   * archiving them again would double it.
   */
  readonly archive?: boolean
}

/** A dead letter for an accepted event that a stage or the warehouse refused. */
const deadLetterOf = (event: CanonicalEvent, rejection: Rejection): DeadLetter => ({
  tenant: event.tenant, source: event.source, receivedAt: event.receivedAt, messageId: event.messageId, rejection,
  // The raw text, when the event has it, is what the source's raw parser re-drives after a fix.
  payload: event.raw?.body ?? JSON.stringify(event),
})

/** The archive's record of an event that carries its raw text. */
const archiveRecord = (e: CanonicalEvent): ArchiveRecord | undefined =>
  e.raw === undefined
    ? undefined
    : {
      tenant: e.tenant, source: e.source, messageId: e.messageId, receivedAt: e.receivedAt, body: e.raw.body, meta: e.raw.meta,
      json: e.raw.json,
    }

export interface PipelineShape {
  readonly counters: Readonly<PipelineCounters>
  /** Completes once everything submitted (events, dead letters, raw text for the archive) is durably accepted by the bus. */
  readonly submit: (
    events: ReadonlyArray<CanonicalEvent>,
    deadLetters: ReadonlyArray<DeadLetter>,
    options?: SubmitOptions,
  ) => Effect.Effect<void, BusUnavailable>
}

export class Pipeline extends Context.Service<Pipeline, PipelineShape>()("cdp/Pipeline") {
  /** Starts the consumers on the bus; they stop (after draining) when the layer's scope closes. */
  static readonly layer = Layer.effect(
    Pipeline,
    Effect.gen(function* () {
      const bus = yield* EventBus
      const sink = yield* makeEventSink
      const archive = yield* makeArchiveWriter
      const stages = eventStages(yield* Effect.try({ try: () => sentimentConfigFromEnv(), catch: (e) => e as SentimentConfigInvalid }))
      const counters: PipelineCounters = { accepted: 0, rejected: 0, landed: 0, duplicates: 0, dropped: 0, dropReasons: {}, redirected: 0, archived: 0 }

      /** Routes every outcome: ok lands, dead letters are kept, drops are counted by reason, redirects go to their topic. */
      const handleEvents = (batch: ReadonlyArray<CanonicalEvent>) =>
        Effect.gen(function* () {
          const outcomes = yield* runStages(batch, stages)
          const passed: Array<CanonicalEvent> = []
          const refused: Array<DeadLetter> = []
          const redirected = new Map<string, Array<CanonicalEvent>>()
          outcomes.forEach((outcome, i) => {
            switch (outcome._tag) {
              case "ok":
                passed.push(outcome.value)
                break
              case "deadLetter":
                refused.push(deadLetterOf(batch[i]!, outcome.rejection))
                break
              case "drop":
                counters.dropped++
                counters.dropReasons[outcome.reason] = (counters.dropReasons[outcome.reason] ?? 0) + 1
                break
              case "redirect":
                redirected.set(outcome.topic, [...(redirected.get(outcome.topic) ?? []), outcome.value])
                break
            }
          })
          const result = yield* landIsolatingBadRows(passed, refused)
          if (refused.length > 0) yield* bus.publish(Topics.deadLetters, refused)
          for (const [name, events] of redirected) yield* bus.publish({ name, key: Topics.events.key }, events)
          counters.landed += result.landed
          counters.duplicates += result.duplicates
          counters.redirected += [...redirected.values()].reduce((n, r) => n + r.length, 0)
        })

      /**
       * Lands the events; when the warehouse refuses rows themselves (not an outage, which is retried), halves the
       * batch until the refused events are found, so one bad value never blocks the rest: those become dead letters.
       */
      const landIsolatingBadRows = (
        events: ReadonlyArray<CanonicalEvent>,
        refused: Array<DeadLetter>,
      ): Effect.Effect<LandResult, WarehouseUnavailable | WarehouseQueryError> =>
        sink.landEvents(events).pipe(
          Effect.catchTag("WarehouseRejectedRows", (error) => {
            if (events.length === 1) {
              refused.push(deadLetterOf(events[0]!, {
                rule: "warehouse_rejected", field: "", message: `the warehouse refused this message: ${error.message}`,
              }))
              return Effect.succeed({ landed: 0, duplicates: 0 })
            }
            const middle = Math.ceil(events.length / 2)
            return Effect.zipWith(
              landIsolatingBadRows(events.slice(0, middle), refused),
              landIsolatingBadRows(events.slice(middle), refused),
              (a, b) => ({ landed: a.landed + b.landed, duplicates: a.duplicates + b.duplicates }),
            )
          }),
        )

      // Registered before the consumer, so it runs after the consumer has drained (finalizers run last-in first-out).
      yield* Effect.addFinalizer(() => archive.flush.pipe(
        Effect.catchCause((cause) => Effect.logError("archive manifests not written on close").pipe(Effect.annotateLogs({ cause: String(cause) }))),
      ))
      yield* bus.consume(Topics.raw, archive.write)
      yield* bus.consume(Topics.deadLetters, (batch) => sink.landDeadLetters(batch))
      yield* bus.consume(Topics.events, handleEvents)

      return {
        counters,
        submit: (events, deadLetters, options) =>
          Effect.gen(function* () {
            const raw: Array<ArchiveRecord> = []
            if (options?.archive !== false) {
              for (const e of events) {
                const record = archiveRecord(e)
                if (record !== undefined) raw.push(record)
              }
            }
            yield* Effect.all([
              bus.publish(Topics.events, events),
              bus.publish(Topics.deadLetters, deadLetters),
              bus.publish(Topics.raw, raw),
            ], { concurrency: 3, discard: true })
            counters.accepted += events.length
            counters.rejected += deadLetters.length
            counters.archived += raw.length
          }),
      }
    }),
  )
}
