// The EventBus service: topics between the ingest edge and the pipeline's consumers.
// `publish` completes only once the records are durably accepted: on the in-process bus that means a consumer has
// handled them (landed them in the warehouse); on Kafka (later) it will mean the broker acknowledged them.
// Either way, a sender answered 2xx never loses its messages.
import { Context, Data, Deferred, Duration, Effect, Layer, Queue, Ref, Schedule, type Scope } from "effect"
import type { ArchiveRecord, CanonicalEvent, DeadLetter } from "./message.ts"

export interface Topic<A> {
  readonly name: string
  /** Partitioning key, so one profile's messages stay in order on a partitioned bus. */
  readonly key: (record: A) => string
}

export const Topics = {
  events: { name: "events", key: (e: CanonicalEvent) => `${e.tenant}/${e.anonymousId || e.userId}` } as Topic<CanonicalEvent>,
  deadLetters: { name: "dead_letters", key: (d: DeadLetter) => d.tenant } as Topic<DeadLetter>,
  /** Raw text of accepted items, for the archive (ingest/archive.ts). */
  raw: { name: "raw", key: (r: ArchiveRecord) => `${r.tenant}/${r.source}` } as Topic<ArchiveRecord>,
}

export class BusUnavailable extends Data.TaggedError("BusUnavailable")<{
  readonly backend: string
  readonly message: string
  readonly cause?: unknown
}> {}

export interface ConsumeOptions {
  /** Most records handed to one handler call; batches form by themselves while the previous one is handled. */
  readonly maxBatch?: number
}

export interface EventBusShape {
  readonly backend: { readonly kind: "memory" | "kafka"; readonly location: string }
  readonly publish: <A>(topic: Topic<A>, records: ReadonlyArray<A>) => Effect.Effect<void, BusUnavailable>
  /**
   * Runs `handler` on batches of the topic until the scope closes. A failing handler is retried with backoff (the
   * records are never skipped); on close, what was already published is handled before the consumer stops.
   */
  readonly consume: <A, E, R>(
    topic: Topic<A>,
    handler: (batch: ReadonlyArray<A>) => Effect.Effect<void, E, R>,
    options?: ConsumeOptions,
  ) => Effect.Effect<void, never, R | Scope.Scope>
  /** Records published and not yet handled, per topic. */
  readonly pending: Effect.Effect<Record<string, number>>
}

export class EventBus extends Context.Service<EventBus, EventBusShape>()("cdp/EventBus") {
  /** In-process bus: needs no configuration; durability comes from publish waiting for the consumer. */
  static readonly memory = Layer.effect(EventBus, Effect.suspend(() => makeMemoryBus()))
}

interface Envelope {
  readonly records: ReadonlyArray<unknown>
  readonly handled: Deferred.Deferred<void>
}

// Backs off from 200 ms to at most 10 s between attempts, and never gives up: records are not skipped.
const RETRY = Schedule.min([Schedule.exponential(Duration.millis(200), 2), Schedule.spaced(Duration.seconds(10))])

const makeMemoryBus = () =>
  Effect.gen(function* () {
    const queues = new Map<string, Queue.Queue<Envelope>>()
    const pendingCount = yield* Ref.make<Record<string, number>>({})
    const queueFor = (name: string) =>
      Effect.gen(function* () {
        let queue = queues.get(name)
        if (queue === undefined) {
          queue = yield* Queue.unbounded<Envelope>()
          queues.set(name, queue)
        }
        return queue
      })
    const adjust = (name: string, delta: number) =>
      Ref.update(pendingCount, (p) => ({ ...p, [name]: (p[name] ?? 0) + delta }))

    const bus: EventBusShape = {
      backend: { kind: "memory", location: "in-process" },
      publish: (topic, records) =>
        records.length === 0
          ? Effect.void
          : Effect.gen(function* () {
            const queue = yield* queueFor(topic.name)
            const handled = yield* Deferred.make<void>()
            yield* adjust(topic.name, records.length)
            yield* Queue.offer(queue, { records, handled })
            yield* Deferred.await(handled)
          }),
      consume: (topic, handler, options) =>
        Effect.gen(function* () {
          const queue = yield* queueFor(topic.name)
          const maxBatch = options?.maxBatch ?? 50_000
          let busy = false
          const step = Effect.gen(function* () {
            const first = yield* Queue.take(queue)
            busy = true
            const envelopes = [first]
            let size = first.records.length
            // Group-commit: everything that queued up while the previous batch was handled goes in one batch.
            while (size < maxBatch) {
              const next = yield* Queue.poll(queue)
              if (next._tag === "None") break
              envelopes.push(next.value)
              size += next.value.records.length
            }
            const batch = envelopes.length === 1 ? first.records : envelopes.flatMap((e) => e.records)
            yield* handler(batch as never).pipe(
              Effect.tapError((error) =>
                Effect.logWarning("consumer handler failed; retrying").pipe(
                  Effect.annotateLogs({ topic: topic.name, records: batch.length, error: String(error) })),
              ),
              Effect.retry(RETRY),
            )
            yield* adjust(topic.name, -size)
            for (const envelope of envelopes) yield* Deferred.succeed(envelope.handled, undefined)
            busy = false
          })
          yield* Effect.forkScoped(Effect.forever(step))
          // Finalizers run last-in first-out: this one waits for the queue to drain before the fiber is stopped.
          yield* Effect.addFinalizer(() =>
            Effect.gen(function* () {
              while (busy || (yield* Queue.size(queue)) > 0) yield* Effect.sleep(Duration.millis(10))
            }).pipe(Effect.timeout(Duration.minutes(2)), Effect.ignore))
        }),
      pending: Ref.get(pendingCount),
    }
    return bus
  })
