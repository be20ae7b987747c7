// The pipeline: the edge (collector, file import) submits validated events and dead letters to the bus; consumers
// run the stages on each event and hand the survivors to the warehouse sink, and archive each accepted item's raw
// text (ingest/archive.ts) so it can be replayed.
import { randomUUID } from "node:crypto"
import { Context, Data, Duration, Effect, Layer, Schedule, type Scope } from "effect"
import { type ConsentPolicies, DEFAULT_POLICIES, identifierKey, type KeysShape, makeConsentStage, suppressionStage } from "../consent/index.ts"
import { defaultIdentityConfig, type IdentityConfig, makeIdentityStage, type RunningGraph } from "../identity/index.ts"
import { type SentimentConfig, sentimentStage } from "../sentiment/index.ts"
import type { ErasureMutationFailed } from "../warehouse/erasure.ts"
import { type LandResult, makeEventSink } from "../warehouse/sink.ts"
import { Warehouse, type WarehouseQueryError, type WarehouseRejectedRows, type WarehouseUnavailable } from "../warehouse/warehouse.ts"
import { makeArchiveWriter } from "./archive.ts"
import { BusUnavailable, EventBus, type IdentityChange, jsonLargerThan, personKeyOf, refusedAsTooLarge, TENANTS_AT_ONCE, type Topic, Topics } from "./bus.ts"
import { deepJsonText } from "./deep-json.ts"
import type { ArchiveRecord, CanonicalEvent, DeadLetter, Rejection } from "./message.ts"
import { shownText } from "./schemas.ts"
import { runStages, type Stage } from "./stage.ts"
import { withoutControlCharacters } from "./utf8.ts"

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
  /** Accepted messages that a stage or the warehouse refused afterwards: kept in dead letters, not landed. */
  deadLettered: number
}

/** How landing has gone lately, for /health (times in ms since the epoch; messages carry no personal data). */
export interface LandingStatus {
  /** When an insert last succeeded. */
  lastLandedAt: number | undefined
  /** The last error the warehouse gave the pipeline; `outage` when it did not answer a ping afterwards. */
  lastWarehouseError: { readonly at: number; readonly message: string; readonly outage: boolean } | undefined
}

/**
 * An insert that fails for a reason the warehouse does not name as the rows' fault is tried again this often; past
 * that, a warehouse that answers a ping means the batch is at fault (isolated into dead letters), one that does not
 * is an outage (the bus retries it, without bound, and /health says so).
 */
const BOUNDED_RETRY = { schedule: Schedule.exponential(Duration.millis(100), 2), times: 4 } as const

/** A batch the warehouse keeps failing on while it answers a ping: the batch is at fault, not the warehouse. */
class BatchFault extends Data.TaggedError("BatchFault")<{ readonly message: string }> {}

/**
 * Stages every event passes, in order (validation happened at the edge): identity resolution (its graph rebuilt from
 * the warehouse), consent (needs each message's current profile: it records changes and enforces, before any text
 * is scored), then sentiment (its worker pool closes with the scope).
 */
export const eventStages = (sentiment: SentimentConfig, identity: IdentityConfig | false, consent: ConsentPolicies = DEFAULT_POLICIES, keys?: KeysShape, shared = false) =>
  Effect.gen(function* () {
    // Erased people's messages are dropped before identity stores anything of them (needs the deployment's keys).
    const suppress = keys === undefined ? undefined : yield* suppressionStage(consent, keys, identity === false ? undefined : identity.extract)
    const resolve = identity === false ? undefined : yield* makeIdentityStage(identity, undefined, shared)
    const gate = yield* makeConsentStage(consent, keys)
    const scoring = yield* sentimentStage(sentiment)
    return {
      stages: [suppress, resolve?.stage, gate, scoring].filter((s) => s !== undefined) as ReadonlyArray<
        Stage<CanonicalEvent, WarehouseUnavailable | WarehouseRejectedRows | WarehouseQueryError | ErasureMutationFailed>
      >,
      reloadIdentity: resolve?.reload ?? Effect.void,
      reloadIdentityOf: resolve?.reloadTenant ?? (() => Effect.void),
      forgetIdentity: resolve?.forget ?? (() => Effect.succeed(0)),
      catchUpIdentity: resolve?.catchUp ?? Effect.void,
    }
  })

/** What a member on a shared bus does for one identity notice of another process. */
export type IdentityReaction =
  | { readonly kind: "forget"; readonly tenant: string; readonly profileKeys: ReadonlyArray<string> }
  | { readonly kind: "tenant"; readonly tenant: string }
  | { readonly kind: "everyTenant" }

/**
 * A member's reactions to a batch of identity notices, in order: an erasure's profiles forgotten (IdentityStage.forget
 * by keyed hashes of their ids: the topic carries no identifier), a tenant's graph loaded again alone, every tenant's only for "*"
 * (a rebuild). A reload listed again later in the batch is done once, at its last place (after a forget between).
 * Its own notices and an erasure's shredded keys (ingest/bus-crypto.ts drops those) ask nothing of the graph.
 */
export const identityReactions = (changes: ReadonlyArray<IdentityChange>, origin: string): Array<IdentityReaction> => {
  const reactions: Array<IdentityReaction> = []
  for (const c of changes) {
    if (c.origin === origin || c.shreddedKeys !== undefined) continue
    if (c.forgetProfileKeys !== undefined) reactions.push({ kind: "forget", tenant: c.tenant, profileKeys: c.forgetProfileKeys })
    else reactions.push(c.tenant === "*" ? { kind: "everyTenant" } : { kind: "tenant", tenant: c.tenant })
  }
  const sameReload = (a: IdentityReaction, b: IdentityReaction) =>
    a.kind !== "forget" && a.kind === b.kind && (a.kind === "everyTenant" || a.tenant === (b as { tenant: string }).tenant)
  return reactions.filter((r, i) => r.kind === "forget" || !reactions.slice(i + 1).some((later) => sameReload(r, later)))
}

export interface PipelineOptions {
  /** Identity resolution's configuration; false runs without it (only to measure what it costs: `npm run bench`). */
  readonly identity: IdentityConfig | false
  /** Each tenant's consent policy (default: the built-in one, consent/purposes.ts). */
  readonly consent?: ConsentPolicies | undefined
  /** The deployment's keyed-hash keys (consent/keys.ts): with them, erased (suppressed) people's messages are dropped. */
  readonly keys?: KeysShape | undefined
  /** Brand terms, aspects and terms for scoring (default: none beyond the built-in ones). */
  readonly sentiment?: SentimentConfig | undefined
  /**
   * Run the stages as the bus's consumers (default true). False makes an edge that only publishes: on Kafka the
   * collector can leave the stages to `cdp worker` processes (the in-process bus needs a consumer in the process).
   */
  readonly consume?: boolean | undefined
  /**
   * Stages run after the built-in ones, on the messages they let through: a deployment's own rules (e.g. one handing
   * some messages on to another topic, `redirect`). Default none.
   */
  readonly stages?: ReadonlyArray<Stage<CanonicalEvent>> | undefined
}

export interface SubmitOptions {
  /**
   * Archive the events' raw text (default true). Replay passes false: its items come from the archive, and
   * archiving them again would double it.
   */
  readonly archive?: boolean
  /**
   * Keep each event the bus refuses as too large as a dead letter too_large (default true). A retry of dead letters
   * passes false: such an event is its dead letter already, and is only returned (Submitted.keptTooLarge).
   */
  readonly keepTooLarge?: boolean
}

/** A dead letter for an accepted event that a stage or the warehouse refused. */
const deadLetterOf = (event: CanonicalEvent, rejection: Rejection): DeadLetter => ({
  tenant: event.tenant, source: event.source, receivedAt: event.receivedAt, messageId: event.messageId, rejection,
  // The raw text, when the event has it, is what the source's raw parser re-drives after a fix: base64 of bytes that
  // are not UTF-8 stays marked so (an archived item's meta says it, utf8.ts keptAsText), or a retry read the base64.
  payload: event.raw?.body ?? deepJsonText(event),
  ...(event.raw?.meta?.["encoding"] === "base64" ? { payloadEncoding: "base64" as const } : {}),
  person: personKeyOf(event),
})

/** The most characters of a dead letter's reason stored when it was refused whole (a reason quotes values, bounded each). */
const STORED_REASON_CHARS = 1000

/**
 * Text the warehouse stores, whatever it held: half a surrogate pair (which the engine cannot read: an emoji cut in
 * two) becomes U+FFFD, and control characters go as free text's do (withoutControlCharacters). Only a dead letter's
 * id, field and reason: its retry reads its payload, kept whole.
 */
const storableText = (text: string): string => withoutControlCharacters(text.toWellFormed()).text

/**
 * A dead letter whose id, field and reason the warehouse stores whatever the edge or a stage wrote in them, the reason
 * bounded (cut whole: shownText); the same letter when they already were. Without it, a letter refused for its
 * reason was refused again without its payload, and lost.
 */
const storableLetter = (d: DeadLetter): DeadLetter => {
  const messageId = storableText(d.messageId)
  const field = storableText(d.rejection.field)
  const message = shownText(storableText(d.rejection.message), STORED_REASON_CHARS)
  return messageId === d.messageId && field === d.rejection.field && message === d.rejection.message
    ? d
    : { ...d, messageId, rejection: { ...d.rejection, field, message } }
}

/** The archive's record of an event that carries its raw text. */
const archiveRecord = (e: CanonicalEvent): ArchiveRecord | undefined =>
  e.raw === undefined
    ? undefined
    : {
      tenant: e.tenant, source: e.source, messageId: e.messageId, receivedAt: e.receivedAt, body: e.raw.body, meta: e.raw.meta,
      json: e.raw.json, person: personKeyOf(e),
    }

export interface PipelineShape {
  readonly counters: Readonly<PipelineCounters>
  readonly landing: Readonly<LandingStatus>
  /** Builds every tenant's identity graph again from the warehouse (a rebuild); batches wait for it. */
  readonly reloadIdentity: Effect.Effect<void, WarehouseUnavailable | WarehouseQueryError>
  /** Builds one tenant's identity graph again (after its operator's decision or an erasure), holding up no other tenant's. */
  readonly reloadIdentityOf: (tenant: string) => Effect.Effect<void, WarehouseUnavailable | WarehouseQueryError>
  /** Forgets an erased person's identifiers in this process's identity graph (an erasure: IdentityStage.forget). */
  readonly forgetIdentity: RunningGraph["Service"]["forget"]
  /**
   * Completes once everything submitted (events, dead letters, raw text for the archive) is durably accepted by the
   * bus; with the events the bus refused as too large, each kept as its dead letter too_large instead (the edge tells
   * their sender).
   */
  readonly submit: (
    events: ReadonlyArray<CanonicalEvent>,
    deadLetters: ReadonlyArray<DeadLetter>,
    options?: SubmitOptions,
  ) => Effect.Effect<Submitted, BusUnavailable>
}

/** An accepted event a record of the bus cannot hold even compressed: kept as its dead letter `too_large`, not handled. */
export interface KeptTooLarge {
  readonly event: CanonicalEvent
  readonly deadLetter: DeadLetter
}

/** What became of a submit's events beyond the bus taking them. */
export interface Submitted {
  /** The events kept as dead letters too_large (none on the in-process bus). */
  readonly keptTooLarge: ReadonlyArray<KeptTooLarge>
}

export class Pipeline extends Context.Service<Pipeline, PipelineShape>()("cdp/Pipeline") {
  /** Starts the consumers on the bus; they stop (after draining) when the layer's scope closes. */
  static readonly make = (options: PipelineOptions) => Layer.effect(
    Pipeline,
    Effect.gen(function* () {
      const bus = yield* EventBus
      const warehouse = yield* Warehouse
      const sink = yield* makeEventSink
      const archive = yield* makeArchiveWriter
      // Opened before the consumers, so the scoring workers close after the consumers have drained.
      const consuming = options.consume !== false
      const { stages, reloadIdentity: reloadHere, reloadIdentityOf: reloadTenantHere, forgetIdentity: forgetHere, catchUpIdentity } = consuming
        ? yield* eventStages(options.sentiment ?? { brand: [], aspects: {} }, options.identity, options.consent, options.keys, bus.backend.kind !== "memory")
        : { stages: [], reloadIdentity: Effect.void, reloadIdentityOf: () => Effect.void, forgetIdentity: () => Effect.succeed(0), catchUpIdentity: Effect.void }
      const stagesRun = [...stages, ...(options.stages ?? [])]
      // On a shared bus every member follows when one process changes the graph (identityReactions): this process's
      // own notices are recognised by origin (it has acted already).
      const shared = bus.backend.kind !== "memory"
      const origin = randomUUID()
      const tellOthers = (change: Omit<IdentityChange, "origin">) => bus.publish(Topics.identityChanges, [{ ...change, origin }]).pipe(
        Effect.catch((e) => Effect.logWarning("other workers not told of an identity change; they reload at their next rebalance").pipe(
          Effect.annotateLogs({ error: e.message }))))
      const reloadIdentity = shared ? Effect.andThen(reloadHere, tellOthers({ tenant: "*" })) : reloadHere
      const reloadIdentityOf = (tenant: string) => (shared ? Effect.andThen(reloadTenantHere(tenant), tellOthers({ tenant })) : reloadTenantHere(tenant))
      // Other members are told keyed hashes of the erased profiles' ids (without the deployment's keys, nothing: they
      // reload the tenant when the erasure's rows are gone).
      const profileKey = (tenant: string) => (profileId: string) => identifierKey(options.keys!, tenant, "profile", profileId)
      const forgetIdentity: PipelineShape["forgetIdentity"] = (tenant, erased) =>
        Effect.gen(function* () {
          const forgotten = yield* forgetHere(tenant, erased)
          if (!shared || options.keys === undefined || erased.profileIds.length === 0) return { forgotten, toldOthers: false }
          yield* tellOthers({ tenant, forgetProfileKeys: erased.profileIds.map(profileKey(tenant)) })
          return { forgotten, toldOthers: true }
        })
      const counters: PipelineCounters = { accepted: 0, rejected: 0, landed: 0, duplicates: 0, dropped: 0, dropReasons: {}, redirected: 0, archived: 0, deadLettered: 0 }
      const landing: LandingStatus = { lastLandedAt: undefined, lastWarehouseError: undefined }

      const noteError = (message: string, outage: boolean) =>
        Effect.sync(() => { landing.lastWarehouseError = { at: Date.now(), message: message.slice(0, 300), outage } })
      const noteLanded = Effect.sync(() => { landing.lastLandedAt = Date.now() })

      /**
       * Runs one insert with a bounded retry (not for rows the warehouse refuses: the same rows fail the same way).
       * What still fails afterwards is an outage, passed up, only when the warehouse does not answer a ping;
       * otherwise it is a BatchFault for the caller to isolate.
       */
      const boundedLanding = <A, E extends { readonly _tag: string; readonly message: string }>(
        land: Effect.Effect<A, E>,
      ): Effect.Effect<A, E | BatchFault> =>
        land.pipe(
          Effect.tap(() => noteLanded),
          // A refused row's message can quote its values (personal data): /health gets only the kind.
          Effect.tapError((e) => noteError(e._tag === "WarehouseRejectedRows" ? "the warehouse refused rows of a batch (isolated into dead letters)" : e.message, false)),
          Effect.catchDefect((defect) => Effect.fail(new BatchFault({ message: `the sink failed: ${String(defect)}` }))),
          Effect.retry({ ...BOUNDED_RETRY, while: (e) => e._tag !== "WarehouseRejectedRows" }),
          Effect.catch((e): Effect.Effect<A, E | BatchFault> =>
            e._tag === "WarehouseRejectedRows" || e._tag === "BatchFault"
              ? Effect.fail(e)
              : Effect.flatMap(warehouse.ping, (up) =>
                up ? Effect.fail(new BatchFault({ message: e.message })) : Effect.andThen(noteError(e.message, true), Effect.fail(e)))),
        )

      /** Routes every outcome: ok lands, dead letters are kept, drops are counted by reason, redirects go to their topic. */
      const handleEvents = (batch: ReadonlyArray<CanonicalEvent>) =>
        Effect.gen(function* () {
          const outcomes = yield* runStages(batch, stagesRun)
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
                if (redirected.has(outcome.topic)) redirected.get(outcome.topic)!.push(outcome.value)
                else redirected.set(outcome.topic, [outcome.value])
                break
            }
          })
          const result = yield* landIsolatingBadRows(passed, refused)
          let redirects = 0
          for (const [name, events] of redirected) {
            const kept = yield* publishRedirected(name, events)
            for (const k of kept) refused.push(k.deadLetter)
            redirects += events.length - kept.length
          }
          if (refused.length > 0) yield* keepDeadLetters(refused)
          counters.landed += result.landed
          counters.duplicates += result.duplicates
          counters.redirected += redirects
          counters.deadLettered += refused.length
        })

      /**
       * Lands the events. When the warehouse refuses rows themselves or the batch as one insert, or keeps failing on
       * it while it answers a ping, halves the batch until the refused events are found, so one bad message never
       * blocks the rest: those become dead letters. An outage (no ping) is passed up for the bus to retry.
       */
      const landIsolatingBadRows = (
        events: ReadonlyArray<CanonicalEvent>,
        refused: Array<DeadLetter>,
      ): Effect.Effect<LandResult, WarehouseUnavailable | WarehouseQueryError> => {
        const isolate = (rule: string, reason: string): Effect.Effect<LandResult, WarehouseUnavailable | WarehouseQueryError> => {
          if (events.length === 1) {
            refused.push(deadLetterOf(events[0]!, { rule, field: "", message: `the warehouse refused this message: ${reason}`.slice(0, 500) }))
            return Effect.succeed({ landed: 0, duplicates: 0 })
          }
          const middle = Math.ceil(events.length / 2)
          return Effect.zipWith(
            landIsolatingBadRows(events.slice(0, middle), refused),
            landIsolatingBadRows(events.slice(middle), refused),
            (a, b) => ({ landed: a.landed + b.landed, duplicates: a.duplicates + b.duplicates }),
          )
        }
        return boundedLanding(sink.landEvents(events)).pipe(
          Effect.catchTag("WarehouseRejectedRows", (error) => isolate("warehouse_rejected", error.message)),
          Effect.catchTag("BatchFault", (fault) => isolate("warehouse_failed", fault.message)),
        )
      }

      /**
       * Lands dead letters with the same bounds: one the warehouse cannot store whole is kept with its id, field and
       * reason made storable (storableLetter), its payload whole; failing that, without its payload (the reason says
       * so), rather than holding back the others.
       */
      const landDeadLetters = (batch: ReadonlyArray<DeadLetter>): Effect.Effect<void, WarehouseUnavailable> => {
        const isolate = (reason: string): Effect.Effect<void, WarehouseUnavailable> => {
          if (batch.length > 1) {
            const middle = Math.ceil(batch.length / 2)
            return Effect.andThen(landDeadLetters(batch.slice(0, middle)), landDeadLetters(batch.slice(middle)))
          }
          const d = batch[0]!
          const storable = storableLetter(d)
          if (storable !== d) return landDeadLetters([storable])
          if (d.payload === "") {
            // Only text the warehouse stores is left: it did not answer as a store of rows does.
            return Effect.logError("dead letter not stored").pipe(Effect.annotateLogs({ rule: d.rejection.rule, reason }))
          }
          return landDeadLetters([storableLetter({
            ...d, payload: "",
            rejection: { ...d.rejection, message: `${d.rejection.message} (payload of ${d.payload.length} characters not storable: ${reason})` },
          })])
        }
        return boundedLanding(sink.landDeadLetters(batch)).pipe(
          Effect.catchTag("WarehouseRejectedRows", (error) => isolate(error.message)),
          Effect.catchTag("BatchFault", (fault) => isolate(fault.message)),
        )
      }

      /**
       * Keeps dead letters: on the bus, whose consumer lands them, except one larger than a record of the bus holds
       * (Kafka's topics take 8 MiB; a whole file's bytes in base64 are more), which is landed here as that consumer
       * lands it (landDeadLetters): published, the broker refused it, and a stage's publish of it was retried for ever
       * in front of every record behind it on its partition. So are those of a publish the broker refuses as too large
       * (a topic an operator made with a smaller max.message.bytes than cdp's). Completes once all are durable.
       */
      const keepDeadLetters = (letters: ReadonlyArray<DeadLetter>): Effect.Effect<void, BusUnavailable | WarehouseUnavailable> => {
        const max = bus.maxRecordBytes?.(Topics.deadLetters.name)
        const large = new Set(max === undefined ? [] : letters.filter((d) => jsonLargerThan(d, max)))
        const fitting = large.size === 0 ? letters : letters.filter((d) => !large.has(d))
        const published = bus.publish(Topics.deadLetters, fitting).pipe(Effect.catchIf(refusedAsTooLarge, () => landDeadLetters(fitting)))
        return large.size === 0 ? published : Effect.all([published, landDeadLetters([...large])], { concurrency: 2, discard: true })
      }

      /** The events past the bus's maxRecordBytes of JSON on `topic` (none on a bus without that limit). */
      const pastRecordLimit = (topic: string, events: ReadonlyArray<CanonicalEvent>): ReadonlySet<CanonicalEvent> => {
        const max = bus.maxRecordBytes?.(topic)
        return new Set(max === undefined ? [] : events.filter((e) => jsonLargerThan(e, max)))
      }

      /** Why an event the broker refused as too large for `topic` was kept as a dead letter. */
      const tooLarge = (e: CanonicalEvent, topic: string): Rejection => ({
        rule: "too_large", field: "",
        message: `the message is larger than a record of the ${bus.backend.kind} bus takes, compressed (its JSON is ` +
          `${Buffer.byteLength(deepJsonText(e))} bytes): it was kept as a dead letter and not handled` +
          `${topic === Topics.events.name ? "" : ` (a stage handed it on to topic ${topic})`} (the in-process bus has no such limit)`,
      })

      /**
       * Events past the bus's maxRecordBytes of JSON, each published alone on `topic` (with its raw record when
       * `archiving`): the broker takes one that fits in a record compressed (a mail's long text, a JSON body). One it
       * refuses as too large is returned with the dead letter that keeps it (its raw text whole), for the caller to keep
       * instead: neither refused for ever (at the edge, or in front of every record behind it on a partition) nor lost.
       */
      const publishedAlone = (topic: Topic<CanonicalEvent>, events: ReadonlyArray<CanonicalEvent>, archiving: boolean) =>
        Effect.map(Effect.forEach(events, (e) => {
          const record = archiving ? archiveRecord(e) : undefined
          return bus.publish(topic, [e]).pipe(
            Effect.andThen(record === undefined ? Effect.void : archivedAlone(record)),
            Effect.as<ReadonlyArray<KeptTooLarge>>([]),
            Effect.catchIf(refusedAsTooLarge, () => Effect.succeed([{ event: e, deadLetter: deadLetterOf(e, tooLarge(e, topic.name)) }])),
          )
        }), (kept) => kept.flat())

      /** One raw record published alone; one the broker refuses is logged and not archived (its message is handled all the same). */
      const archivedAlone = (record: ArchiveRecord) => bus.publish(Topics.raw, [record]).pipe(
        Effect.andThen(Effect.sync(() => { counters.archived++ })),
        Effect.catchIf(refusedAsTooLarge, () => Effect.logWarning("raw text too large for the bus's raw topic: not archived").pipe(
          Effect.annotateLogs({ source: record.source }))))

      /**
       * Events within a record of the bus, published together; when the broker refuses the publish as too large (a
       * topic an operator made with a smaller max.message.bytes than cdp's 8 MiB), each alone (publishedAlone), those
       * it refuses alone returned to be kept as dead letters.
       */
      const publishedTogether = (topic: Topic<CanonicalEvent>, events: ReadonlyArray<CanonicalEvent>) =>
        bus.publish(topic, events).pipe(
          Effect.as<ReadonlyArray<KeptTooLarge>>([]),
          Effect.catchIf(refusedAsTooLarge, () => publishedAlone(topic, events, false)))

      /**
       * Events a stage handed on to another topic, published as the edge publishes events: those within a record
       * together, each larger one alone. Returns those the broker refused, for the handler to keep as dead letters:
       * before, the refused publish failed the batch, retried for ever in front of its partition.
       */
      const publishRedirected = (name: string, events: ReadonlyArray<CanonicalEvent>) =>
        Effect.gen(function* () {
          const topic: Topic<CanonicalEvent> = { name, key: Topics.events.key }
          const large = pastRecordLimit(name, events)
          const together = yield* publishedTogether(topic, large.size === 0 ? events : events.filter((e) => !large.has(e)))
          return large.size === 0 ? together : [...together, ...yield* publishedAlone(topic, [...large], false)]
        })

      /** keepDeadLetters for the edge: the warehouse not storing one too large for the bus is the bus not taking it. */
      const keptAtEdge = (letters: ReadonlyArray<DeadLetter>) => keepDeadLetters(letters).pipe(
        Effect.catchTag("WarehouseUnavailable", (e) => Effect.fail(new BusUnavailable({
          backend: bus.backend.kind, message: `the warehouse did not store a dead letter too large for the bus: ${e.message}`, cause: e,
        }))))

      // Registered before the consumer, so it runs after the consumer has drained (finalizers run last-in first-out).
      yield* Effect.addFinalizer(() => archive.flush.pipe(
        Effect.catchCause((cause) => Effect.logError("archive manifests not written on close").pipe(Effect.annotateLogs({ cause: String(cause) }))),
      ))
      if (consuming) {
        // One archive call at a time: its writer keeps each day's manifest in memory and writes it back (read, add,
        // write), which two calls at once could interleave. Dead letters and events take tenants side by side
        // (TENANTS_AT_ONCE): the identity stage takes each tenant's batches one at a time itself, tenants side by side
        // (its turns, identity/graph-turns.ts), and every other stage and the sink keep nothing that two tenants' batches share.
        yield* bus.consume(Topics.raw, archive.write)
        yield* bus.consume(Topics.deadLetters, landDeadLetters, { tenantsAtOnce: TENANTS_AT_ONCE })
        // After a rebalance this member may own people another member resolved meanwhile: read what they stored
        // since this graph last read the warehouse (only that, so a join costs the same at any warehouse size).
        yield* bus.consume(Topics.events, handleEvents, { onAssigned: catchUpIdentity, tenantsAtOnce: TENANTS_AT_ONCE })
        // Another process's change (an operator's decision through cdp serve, an erasure, a rebuild) reaches this member too.
        if (shared) {
          yield* bus.consume(Topics.identityChanges, (changes) => Effect.forEach(identityReactions(changes, origin), (r) =>
            r.kind === "forget"
              ? (options.keys === undefined ? Effect.void : forgetHere(r.tenant, { profileIds: [], profileHashes: { erased: new Set(r.profileKeys), hashOf: profileKey(r.tenant) }, keys: [] }))
            : r.kind === "tenant" ? reloadTenantHere(r.tenant) : reloadHere, { discard: true }), { broadcast: true })
        }
      }

      return {
        counters,
        landing,
        reloadIdentity,
        reloadIdentityOf,
        forgetIdentity,
        submit: (events, deadLetters, options) =>
          Effect.gen(function* () {
            const large = pastRecordLimit(Topics.events.name, events)
            const fitting = large.size === 0 ? events : events.filter((e) => !large.has(e))
            const raw: Array<ArchiveRecord> = []
            if (options?.archive !== false) {
              for (const e of fitting) {
                const record = archiveRecord(e)
                if (record !== undefined) raw.push(record)
              }
            }
            const [together] = yield* Effect.all([
              publishedTogether(Topics.events, fitting),
              keptAtEdge(deadLetters),
              bus.publish(Topics.raw, raw).pipe(
                Effect.andThen(Effect.sync(() => { counters.archived += raw.length })),
                Effect.catchIf(refusedAsTooLarge, () => Effect.forEach(raw, archivedAlone, { discard: true }))),
            ], { concurrency: 3 })
            // Accepted, and kept as a dead letter when the broker refuses it (as a stage's refusal is): deadLettered.
            const kept = large.size === 0 ? together : [...together, ...yield* publishedAlone(Topics.events, [...large], options?.archive !== false)]
            const keeping = options?.keepTooLarge !== false
            if (keeping && kept.length > 0) yield* keptAtEdge(kept.map((k) => k.deadLetter))
            counters.accepted += events.length
            counters.rejected += deadLetters.length
            counters.deadLettered += keeping ? kept.length : 0
            return { keptTooLarge: kept }
          }),
      }
    }),
  )

  /** The pipeline with the default identity configuration. */
  static readonly layer = Pipeline.make({ identity: defaultIdentityConfig() })
}
