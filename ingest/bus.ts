// The EventBus service: topics between the ingest edge and the pipeline's consumers.
// `publish` completes only once the records are durably accepted: on the in-process bus that means a consumer has
// handled them (landed them in the warehouse); on Kafka (ingest/bus-kafka.ts) it means the brokers acknowledged them.
// Either way, a sender answered 2xx never loses its messages.
import { Context, Data, Deferred, Duration, Effect, Layer, Queue, Ref, Schedule, type Scope } from "effect"
import type { ErrorObject } from "ajv"
import { deepJsonText } from "./deep-json.ts"
import type { ArchiveRecord, CanonicalEvent, DeadLetter, Rejection } from "./message.ts"
import { ajv, busDeadLetterSchema, busEventSchema, busIdentityChangeSchema, busRawSchema, errorField } from "./schemas.ts"

export interface Topic<A> {
  readonly name: string
  /** Partitioning key, so one profile's messages stay in order on a partitioned bus. */
  readonly key: (record: A) => string
  /** The record's tenant: the key when a partitioned bus keeps each tenant on one partition (CDP_KAFKA_PARTITION_BY). */
  readonly tenant?: (record: A) => string
  /**
   * The person key whose data key the Kafka bus encrypts a record under (ingest/bus-crypto.ts), so erasing that
   * person shreds it; `key` when absent.
   */
  readonly person?: (record: A) => string
  /** Holds no personal data: the Kafka bus writes it unencrypted (identity_changes: tenants, process ids, key ids). */
  readonly plain?: boolean
  /**
   * Where a record read back from a shared bus is not of this topic's shape (a producer outside cdp, or a buggy one):
   * the field's JSON pointer and the rule it breaks; undefined when it fits. The Kafka bus parks such a record.
   */
  readonly check?: (record: unknown) => ShapeFault | undefined
}

/** What is wrong with a record's shape: a JSON pointer ("" for the whole value) and the rule, never the value. */
export interface ShapeFault {
  readonly field: string
  readonly rule: string
}

/** A record read from a bus topic is not of the topic's shape; names the field and rule, never the record's content. */
export class RecordWrongShape extends Data.TaggedError("RecordWrongShape")<{ readonly topic: string; readonly fault: ShapeFault }> {
  override get message() {
    return `the record's value is not a record of topic ${this.topic}: ${this.fault.field === "" ? "the value" : this.fault.field} ${this.fault.rule}`
  }
}

/**
 * A record's Kafka key names another tenant than its value (or it has no key): no cdp producer makes one, as both come
 * from the same record. Either claim may be the forgery, so it is handled as neither tenant's.
 */
export class RecordForeignTenant extends Data.TaggedError("RecordForeignTenant")<{
  /** The tenant the key names; undefined when the record has no key. */
  readonly keyTenant: string | undefined
  readonly valueTenant: string
}> {
  override get message() {
    const value = JSON.stringify(this.valueTenant.slice(0, 80))
    return this.keyTenant === undefined
      ? `the record has no Kafka key but its value is of tenant ${value}`
      : `the record's Kafka key names tenant ${JSON.stringify(this.keyTenant.slice(0, 80))} but its value is of tenant ${value}`
  }
}

/**
 * A record read from a bus topic breaks a rule the edge refuses a message for (ingest/json.ts nestingProblem: nested
 * deeper than the stages can hold). The rejection names the rule and field, never the record's content.
 */
export class RecordRefused extends Data.TaggedError("RecordRefused")<{ readonly rejection: Rejection }> {
  override get message() {
    return `the record's value is refused as the edge refuses a message: ${this.rejection.message}`
  }
}

/** A record's value is not JSON. Its message says how long it is, never what it held (personal data). */
export class RecordNotJson extends Data.TaggedError("RecordNotJson")<{ readonly bytes: number }> {
  override get message() {
    return `the record's value is not JSON (${this.bytes} bytes)`
  }
}

/** A schema as ingest/schemas.ts writes the bus's: the nodes a fault's rule is read from. */
interface DescribedSchema {
  readonly description?: string
  readonly properties?: Readonly<Record<string, DescribedSchema>>
  readonly items?: DescribedSchema
}

/**
 * The fault of ajv's (first) error: the nearest schema at or above the failing keyword that has a description names
 * the rule and, with the part of the record's pointer down to it, the field (a missing property is its own field).
 */
const faultOf = (schema: DescribedSchema, error: ErrorObject): ShapeFault => {
  const steps = error.schemaPath.replace(/^#\//, "").split("/")
  const at = error.instancePath === "" ? [] : error.instancePath.slice(1).split("/")
  let node: DescribedSchema | undefined = schema
  let depth = 0
  let fault: ShapeFault = { field: "", rule: schema.description ?? "is not of the topic's shape" }
  const described = (n: DescribedSchema | undefined, field: string) => {
    if (n?.description !== undefined) fault = { field, rule: n.description }
  }
  for (let i = 0; node !== undefined && i < steps.length; i++) {
    if (steps[i] === "properties" && i + 1 < steps.length) {
      node = node.properties?.[steps[++i]!.replace(/~1/g, "/").replace(/~0/g, "~")]
      depth++
    } else if (steps[i] === "items") {
      node = node.items
      depth++
    } else {
      if (steps[i] === "required") described(node.properties?.[String(error.params["missingProperty"])], errorField(error))
      break
    }
    described(node, depth === 0 ? "" : `/${at.slice(0, depth).join("/")}`)
  }
  return fault
}

/** A check of a record against one of the bus's schemas (compiled once, on first use: most commands never check one). */
const shapeOf = (schema: DescribedSchema & object) => {
  let validate: ReturnType<typeof ajv.compile> | undefined
  return (record: unknown): ShapeFault | undefined => {
    validate ??= ajv.compile(schema)
    return validate(record) ? undefined : faultOf(schema, validate.errors![0]!)
  }
}

/** The fields the stages read of an event (what every connector sets); the rest are left to the stages' own checks. */
const eventShape = shapeOf(busEventSchema)
// A dead letter the warehouse cannot store even without its payload (a receivedAt it cannot read) would only be logged.
const deadLetterShape = shapeOf(busDeadLetterSchema)
const rawShape = shapeOf(busRawSchema)
const identityChangeShape = shapeOf(busIdentityChangeSchema)

/**
 * The person key of a message: tenant and the sender's strongest stated identifier as sent (userId, else anonymousId,
 * else the first stated identifier, else the message id). Known at the edge, before identity, so it is what the
 * events topic is keyed by and what the Kafka bus's data keys are chosen by; an erasure computes the same texts from
 * the subject's identifiers (consent/erasure.ts).
 */
export const personKeyOf = (e: Pick<CanonicalEvent, "tenant" | "userId" | "anonymousId" | "identifiers" | "messageId">): string =>
  `${e.tenant}/${e.userId || e.anonymousId || (e.identifiers[0] === undefined ? e.messageId : `${e.identifiers[0].kind}:${e.identifiers[0].value}`)}`

/**
 * A dead letter's person key: the one its event had, else, for a message refused at the edge, its Segment ids when
 * the payload is a JSON object that states them, else the message id alone.
 */
const personOfDeadLetter = (d: DeadLetter): string => {
  if (d.person !== undefined) return d.person
  if (d.payload.startsWith("{") && d.payload.length < 1_000_000) {
    try {
      const o = JSON.parse(d.payload) as Record<string, unknown>
      const id = [o["userId"], o["anonymousId"]].find((v) => (typeof v === "string" && v !== "") || typeof v === "number")
      if (id !== undefined) return `${d.tenant}/${String(id)}`
    } catch {
      // Not JSON: the message id is all there is.
    }
  }
  return `${d.tenant}/${d.messageId}`
}

export const Topics = {
  /** Keyed by the sender's strongest stated identifier, so one person's messages from one channel keep their order. */
  events: {
    name: "events",
    key: personKeyOf,
    tenant: (e: CanonicalEvent) => e.tenant,
    check: eventShape,
  } as Topic<CanonicalEvent>,
  deadLetters: { name: "dead_letters", key: (d: DeadLetter) => d.tenant, tenant: (d: DeadLetter) => d.tenant, person: personOfDeadLetter, check: deadLetterShape } as Topic<DeadLetter>,
  /**
   * "Read the identity graph again" (an operator's decision, a rebuild, an erasure): every pipeline member reloads,
   * so on Kafka each worker takes every record (ConsumeOptions.broadcast).
   */
  identityChanges: { name: "identity_changes", key: (c: IdentityChange) => c.tenant, tenant: (c: IdentityChange) => c.tenant, plain: true, check: identityChangeShape } as Topic<IdentityChange>,
  /** Raw text of accepted items, for the archive (ingest/archive.ts). */
  raw: {
    name: "raw", key: (r: ArchiveRecord) => `${r.tenant}/${r.source}`, tenant: (r: ArchiveRecord) => r.tenant,
    person: (r: ArchiveRecord) => r.person ?? `${r.tenant}/${r.messageId}`,
    check: rawShape,
  } as Topic<ArchiveRecord>,
}

/** A record of the identity_changes topic: which tenant's graph changed ("*": any), and which process said so. */
export interface IdentityChange {
  readonly tenant: string
  readonly origin: string
  /**
   * Set by an erasure: the key ids of the Kafka bus's data keys it shredded, which every process drops from its
   * cache (ingest/bus-crypto.ts). Such a notice asks for no identity reload (the erasure's caller sends that one).
   */
  readonly shreddedKeys?: ReadonlyArray<string>
  /**
   * Set by an erasure (before it deletes the person's rows): keyed hashes of the profile ids every member's graph
   * forgets at once (consent/keys.ts identifierKey of kind "profile"; the topic is not encrypted and is kept past the
   * erasure, so it carries neither identifiers nor profile ids). The tenant's reload notice follows once the rows are gone.
   */
  readonly forgetProfileKeys?: ReadonlyArray<string>
}

export class BusUnavailable extends Data.TaggedError("BusUnavailable")<{
  readonly backend: string
  readonly message: string
  readonly cause?: unknown
}> {}

export interface ConsumeOptions<R = never> {
  /**
   * Most records handed to one handler call; batches form by themselves while the previous one is handled. The
   * in-process bus hands on one tenant's publish calls a call, up to TENANT_TURN records, tenants taking turns.
   */
  readonly maxBatch?: number
  /**
   * In-process bus: how many tenants' calls run side by side (default 1: one call at a time for everybody). A
   * tenant's own calls still run one at a time, in order. Only for a handler safe to run for two tenants at once.
   */
  readonly tenantsAtOnce?: number
  /**
   * Run before the first batch after this consumer's share of a partitioned topic changed (a rebalance), e.g. to
   * reload state another member wrote meanwhile; retried while it fails. The in-process bus never reassigns.
   */
  readonly onAssigned?: Effect.Effect<void, unknown, R>
  /**
   * Every consumer gets every record published after it started, instead of a share of the topic (on Kafka: a
   * consumer group of its own). For notices every member must act on.
   */
  readonly broadcast?: boolean
}

export interface EventBusShape {
  readonly backend: { readonly kind: "memory" | "kafka"; readonly location: string }
  /** Whether the bus's servers answer now (always true in-process); /health asks it. */
  readonly ping: Effect.Effect<boolean>
  readonly publish: <A>(topic: Topic<A>, records: ReadonlyArray<A>) => Effect.Effect<void, BusUnavailable>
  /**
   * The most bytes of JSON one record of a topic (by its name, e.g. Topics.events.name) may take on this bus (Kafka:
   * what one record of that topic holds, by its max.message.bytes read at start); the in-process bus has no such
   * limit. The pipeline lands a larger dead letter itself, and publishes a larger event alone, kept as a dead letter
   * if the broker refuses it (ingest/pipeline.ts keepDeadLetters, publishedAlone).
   */
  readonly maxRecordBytes?: ((topic: string) => number) | undefined
  /**
   * Runs `handler` on batches of the topic until the scope closes. A handler that fails is retried with backoff
   * for as long as it fails (the records are never skipped), so a handler fails only for what time cures (an
   * outage) and deals with bad records itself. A handler that dies (a bug) is run again on each publish call's
   * records alone; the records it still dies on are not taken: their `publish` fails. On close, what was already
   * published is handled before the consumer stops.
   */
  readonly consume: <A, E, R>(
    topic: Topic<A>,
    handler: (batch: ReadonlyArray<A>) => Effect.Effect<void, E, R>,
    options?: ConsumeOptions<R>,
  ) => Effect.Effect<void, never, R | Scope.Scope>
  /** Records published and not yet handled, per topic. */
  readonly pending: Effect.Effect<Record<string, number>>
  /** Per topic with records waiting: how many, how long the oldest has waited, and the handler's failure if failing. */
  readonly backlog: Effect.Effect<Record<string, TopicBacklog>>
}

/**
 * Whether a publish failed because the broker refused a record as larger than its topic takes (Kafka's
 * MESSAGE_TOO_LARGE, kafkajs's error or one that wraps it, BusUnavailable's cause included).
 */
export const refusedAsTooLarge = (e: unknown): boolean => {
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const type = (c as { type?: unknown }).type
    if (type === "MESSAGE_TOO_LARGE" || type === "RECORD_LIST_TOO_LARGE") return true
  }
  return false
}

/**
 * Whether `record` takes more than `maxBytes` bytes of JSON. A walk over its values shows most records far smaller
 * without writing them out (a character takes at most 6 bytes of JSON, as an escape; a value's number, literal and
 * punctuation at most 32): only one that may be larger is written out and counted. The walk takes about 1 us for an
 * event of 1 KB, a fifth of JSON.stringify's time (an iterative walk with Object.entries took longer than that).
 */
export const jsonLargerThan = (record: unknown, maxBytes: number): boolean => {
  try {
    if (roomLeft(record, maxBytes) >= 0) return false
  } catch (e) {
    // Nested past the stack (no record from the edge is: it refuses more than 100 levels): counted written out.
    if (!(e instanceof RangeError)) throw e
  }
  return Buffer.byteLength(deepJsonText(record)) > maxBytes
}

/** `left` less a bound on the JSON bytes of `v`; stops early once negative. */
const roomLeft = (v: unknown, left: number): number => {
  left -= 32
  if (typeof v === "string") return left - 6 * v.length
  if (v === null || typeof v !== "object") return left
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length && left >= 0; i++) left = roomLeft(v[i], left)
    return left
  }
  for (const k in v) {
    if (left < 0) break
    left = roomLeft((v as Record<string, unknown>)[k], left - 6 * k.length)
  }
  return left
}

export interface TopicBacklog {
  readonly pending: number
  /** Age of the oldest record published and not yet handled (0 when none). */
  readonly oldestAgeMs: number
  /**
   * In-process bus: how long records queued behind the call in progress have waited with no handler call of the topic
   * completing (since the later of the last call's end and the oldest such record's publish; 0 when none wait). A
   * tenant's records may be old while calls keep completing (tenants take turns), and one call may run long (a slow
   * statement) with nothing behind it; this grows only while the pipeline does not move for a record waiting on it.
   */
  readonly stalledMs?: number
  /** In-process bus: the tenant of the oldest record waiting, when the topic names tenants. */
  readonly oldestTenant?: string
  /**
   * In-process bus: per tenant with records published and not yet handled (queued or being handled), how many, when
   * the topic names tenants. Tenant names: for the log and tests, never a public answer.
   */
  readonly tenants?: Readonly<Record<string, number>>
  /** The consumer's handler has been failing since then, with this error (no record content). */
  readonly failing?: { readonly sinceMs: number; readonly attempts: number; readonly error: string }
}

export class EventBus extends Context.Service<EventBus, EventBusShape>()("cdp/EventBus") {
  /** In-process bus: needs no configuration; durability comes from publish waiting for the consumer. */
  static readonly memory = Layer.effect(EventBus, Effect.suspend(() => makeMemoryBus()))
}

interface Envelope {
  readonly records: ReadonlyArray<unknown>
  readonly handled: Deferred.Deferred<void, BusUnavailable>
  /** When it was published (ms since the epoch). */
  readonly at: number
  /** Its records' tenant ("" when the topic names none). */
  readonly tenant: string
}

/**
 * Most records of one tenant's publish calls the in-process bus hands its consumer in one call (a full /v1/batch post;
 * one larger publish goes alone). Another tenant's message published meanwhile waits for that call, not for all the
 * tenant has queued.
 */
export const TENANT_TURN = 2_500

/**
 * How many tenants' calls of the pipeline's events and dead letters the in-process bus runs side by side (a tenant's
 * own one at a time, in order), so another tenant's message waits for no call of a tenant's large work at all.
 */
export const TENANTS_AT_ONCE = 4

/** Put on a consumer's queue when one of its calls ends, so the next turn is chosen. */
const CALL_ENDED = "call ended" as const

// Backs off from 200 ms to at most 10 s between attempts while the handler fails (see `consume`).
const RETRY = Schedule.min([Schedule.exponential(Duration.millis(200), 2), Schedule.spaced(Duration.seconds(10))])

const makeMemoryBus = () =>
  Effect.gen(function* () {
    const queues = new Map<string, Queue.Queue<Envelope | typeof CALL_ENDED>>()
    const pendingCount = yield* Ref.make<Record<string, number>>({})
    const queueFor = (name: string) =>
      Effect.gen(function* () {
        let queue = queues.get(name)
        if (queue === undefined) {
          queue = yield* Queue.unbounded<Envelope | typeof CALL_ENDED>()
          queues.set(name, queue)
        }
        return queue
      })
    const adjust = (name: string, delta: number) =>
      Ref.update(pendingCount, (p) => ({ ...p, [name]: (p[name] ?? 0) + delta }))
    /** The envelopes not yet handled, oldest first, per topic (the oldest waiting is the first). */
    const waiting = new Map<string, Array<Envelope>>()
    /** When a handler call of the topic last completed (ms since the epoch): whether the pipeline moves. */
    const handledAt = new Map<string, number>()
    /** The envelopes of the handler calls in progress, per topic. */
    const inCall = new Map<string, Set<Envelope>>()
    /** Per topic, the calls failing now, by tenant ("" when the topic names none; side by side, each tenant's fails alone). */
    const failing = new Map<string, Map<string, { sinceMs: number; attempts: number; error: string }>>()
    /** The failure a topic's backlog reports: its handler failing since the earliest of its failing calls. */
    const failureOf = (name: string) => {
      let first: { sinceMs: number; attempts: number; error: string } | undefined
      for (const f of failing.get(name)?.values() ?? []) if (first === undefined || f.sinceMs < first.sinceMs) first = f
      return first
    }
    /** Records published and not yet handled, per topic and tenant (topics naming tenants only). */
    const perTenant = new Map<string, Map<string, number>>()
    const countTenant = (name: string, tenant: string, delta: number) => {
      if (tenant === "") return
      let counts = perTenant.get(name)
      if (counts === undefined) perTenant.set(name, counts = new Map())
      const n = (counts.get(tenant) ?? 0) + delta
      if (n > 0) counts.set(tenant, n)
      else counts.delete(tenant)
    }
    const waitingOn = (name: string) => {
      let list = waiting.get(name)
      if (list === undefined) waiting.set(name, list = [])
      return list
    }

    const bus: EventBusShape = {
      backend: { kind: "memory", location: "in-process" },
      ping: Effect.succeed(true),
      publish: (topic, records) =>
        records.length === 0
          ? Effect.void
          : Effect.gen(function* () {
            const queue = yield* queueFor(topic.name)
            const handled = yield* Deferred.make<void, BusUnavailable>()
            yield* adjust(topic.name, records.length)
            const envelope: Envelope = { records, handled, at: Date.now(), tenant: topic.tenant === undefined ? "" : topic.tenant(records[0]!) }
            waitingOn(topic.name).push(envelope)
            countTenant(topic.name, envelope.tenant, records.length)
            yield* Queue.offer(queue, envelope)
            yield* Deferred.await(handled)
          }),
      consume: (topic, handler, options) =>
        Effect.gen(function* () {
          const queue = yield* queueFor(topic.name)
          const turnSize = Math.max(1, Math.min(options?.maxBatch ?? 50_000, TENANT_TURN))
          const atOnce = Math.max(1, options?.tenantsAtOnce ?? 1)
          // Each tenant's publish calls waiting, in the order published, and when each tenant was last served. Tenants
          // take turns: the one served least recently goes next (of those never served, the one with fewest records),
          // with its publish calls up to TENANT_TURN records (one larger call goes alone, whole: a stage's outcome may
          // depend on what one call holds, and import and replay hand on the same calls), so a message of another
          // tenant waits for the call in progress, not for all one tenant has queued; with tenantsAtOnce, not even for
          // that: up to that many tenants' calls run side by side, a tenant's own one at a time.
          const lines = new Map<string, { envelopes: Array<Envelope>; records: number }>()
          const servedAt = new Map<string, number>()
          /** Tenants whose call is running. */
          const running = new Set<string>()
          let turns = 0
          const file = (item: Envelope | typeof CALL_ENDED) => {
            if (item === CALL_ENDED) return
            const line = lines.get(item.tenant)
            if (line === undefined) lines.set(item.tenant, { envelopes: [item], records: item.records.length })
            else {
              line.envelopes.push(item)
              line.records += item.records.length
            }
          }
          /** The tenant whose call goes next, of those with records waiting and no call running; undefined when none. */
          const nextTenant = () => {
            if (running.size >= atOnce) return undefined
            let best: string | undefined
            for (const [tenant, line] of lines) {
              if (running.has(tenant)) continue
              if (best === undefined) best = tenant
              else {
                const a = servedAt.get(tenant) ?? 0
                const b = servedAt.get(best) ?? 0
                if (a < b || (a === b && line.records < lines.get(best)!.records)) best = tenant
              }
            }
            return best
          }
          const handle = (tenant: string, records: ReadonlyArray<unknown>) =>
            handler(records as never).pipe(
              Effect.tapError((error) =>
                Effect.sync(() => {
                  const now = Date.now()
                  let ofTopic = failing.get(topic.name)
                  if (ofTopic === undefined) failing.set(topic.name, ofTopic = new Map())
                  const before = ofTopic.get(tenant)
                  ofTopic.set(tenant, { sinceMs: before?.sinceMs ?? now, attempts: (before?.attempts ?? 0) + 1, error: String(error).slice(0, 300) })
                }).pipe(
                  Effect.andThen(Effect.logWarning("consumer handler failed; retrying")),
                  Effect.annotateLogs({ topic: topic.name, records: records.length, error: String(error).slice(0, 300) }),
                )),
              Effect.retry(RETRY),
              Effect.tap(() => Effect.sync(() => failing.get(topic.name)?.delete(tenant))),
            )
          const died = (envelope: Envelope, defect: unknown) =>
            Effect.logError("consumer handler died on records; their publish fails").pipe(
              Effect.annotateLogs({ topic: topic.name, records: envelope.records.length, defect: String(defect).slice(0, 300) }),
              Effect.andThen(Deferred.fail(envelope.handled, new BusUnavailable({
                backend: "memory", message: `the consumer of topic ${topic.name} failed on these records`, cause: defect,
              }))),
            )
          /** Takes the tenant's turn off its line: its first publish call and those behind it that fit in the turn. */
          const takeTurn = (tenant: string) => {
            const line = lines.get(tenant)!
            const group = [line.envelopes.shift()!]
            let size = group[0]!.records.length
            while (line.envelopes.length > 0 && size + line.envelopes[0]!.records.length <= turnSize) {
              const e = line.envelopes.shift()!
              group.push(e)
              size += e.records.length
            }
            line.records -= size
            if (line.records === 0) lines.delete(tenant)
            servedAt.set(tenant, ++turns)
            running.add(tenant)
            const calling = inCall.get(topic.name) ?? new Set<Envelope>()
            for (const e of group) calling.add(e)
            inCall.set(topic.name, calling)
            return { group, size }
          }
          /** One handler call of a tenant's turn; when it ends, the tenant may go again and the dispatcher looks. */
          const call = (tenant: string, { group, size }: { readonly group: ReadonlyArray<Envelope>; readonly size: number }) =>
            Effect.gen(function* () {
              const batch = group.length === 1 ? group[0]!.records : group.flatMap((e) => e.records)
              // Counted as handled before their publishers are told, so no publisher sees its records still counted.
              let settled = false
              const settle = Effect.suspend(() => {
                if (settled) return Effect.void
                settled = true
                handledAt.set(topic.name, Date.now())
                const list = waitingOn(topic.name)
                for (const e of group) {
                  inCall.get(topic.name)?.delete(e)
                  const i = list.indexOf(e)
                  if (i >= 0) list.splice(i, 1)
                  countTenant(topic.name, e.tenant, -e.records.length)
                }
                return adjust(topic.name, -size)
              })
              yield* handle(tenant, batch).pipe(
                Effect.andThen(settle),
                Effect.andThen(Effect.forEach(group, (e) => Deferred.succeed(e.handled, undefined), { discard: true })),
                // A handler that dies is run again on each publish call's records alone: only those it dies on fail.
                Effect.catchDefect((defect) =>
                  group.length === 1
                    ? died(group[0]!, defect)
                    : Effect.forEach(group, (e) =>
                      handle(tenant, e.records).pipe(
                        Effect.andThen(Deferred.succeed(e.handled, undefined)),
                        Effect.catchDefect((d) => died(e, d)),
                      ), { discard: true })),
              )
              yield* settle
            }).pipe(Effect.ensuring(Effect.suspend(() => {
              running.delete(tenant)
              return Queue.offer(queue, CALL_ENDED)
            })))
          const dispatch = Effect.gen(function* () {
            // Waits for a publish, or for a call to end, when no call can start now.
            if (nextTenant() === undefined) file(yield* Queue.take(queue))
            // Everything published meanwhile joins its tenant's line, before the next turns are chosen.
            for (;;) {
              const next = yield* Queue.poll(queue)
              if (next._tag === "None") break
              file(next.value)
            }
            for (let tenant = nextTenant(); tenant !== undefined; tenant = nextTenant()) yield* Effect.forkChild(call(tenant, takeTurn(tenant)))
          })
          yield* Effect.forkScoped(Effect.forever(dispatch))
          // Finalizers run last-in first-out: this one waits for the queue to drain before the fiber is stopped.
          yield* Effect.addFinalizer(() =>
            Effect.gen(function* () {
              while (running.size > 0 || lines.size > 0 || (yield* Queue.size(queue)) > 0) yield* Effect.sleep(Duration.millis(10))
            }).pipe(Effect.timeout(Duration.minutes(2)), Effect.ignore))
        }),
      pending: Ref.get(pendingCount),
      backlog: Effect.map(Ref.get(pendingCount), (counts) => {
        const now = Date.now()
        const out: Record<string, TopicBacklog> = {}
        for (const [name, pending] of Object.entries(counts)) {
          const oldest = waiting.get(name)?.[0]
          // A call's own records wait as long as it runs: one long call (a slow statement) is not a stalled pipeline
          // until a record queued behind it has waited the limit too.
          const calling = inCall.get(name)
          const behind = calling === undefined ? oldest : waiting.get(name)?.find((e) => !calling.has(e))
          const failure = failureOf(name)
          out[name] = {
            pending,
            oldestAgeMs: oldest === undefined ? 0 : now - oldest.at,
            stalledMs: behind === undefined ? 0 : now - Math.max(behind.at, handledAt.get(name) ?? 0),
            ...(oldest === undefined || oldest.tenant === "" ? {} : { oldestTenant: oldest.tenant }),
            ...(perTenant.get(name)?.size ? { tenants: Object.fromEntries(perTenant.get(name)!) } : {}),
            ...(failure === undefined ? {} : { failing: failure }),
          }
        }
        return out
      }),
    }
    return bus
  })
