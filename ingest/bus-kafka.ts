// The EventBus over Apache Kafka (kafkajs): what lets N `cdp worker` processes share the pipeline's work.
// - publish completes once the broker acknowledged every record (acks=all, idempotent producer); the collector
//   answers 2xx only after that, so an acknowledged message survives any process dying afterwards.
// - Each bus topic is a Kafka topic `<prefix><name>`, keyed by the bus Topic's key (tenant + person key for events),
//   so one person's messages stay on one partition, in order, handled by one worker at a time.
// - consume joins the consumer group `<group>.<name>`; a partition's offsets are committed only after the handler
//   (the stage's effect, e.g. the warehouse insert) succeeded. A crash or rebalance re-delivers what was not
//   committed; the sinks' dedup (warehouse/sink.ts) makes that re-delivery change nothing.
import { randomUUID } from "node:crypto"
import { createRequire } from "node:module"
import { promisify } from "node:util"
import zlib from "node:zlib"
import { Data, Duration, Effect, Exit, Layer, Schedule, type Scope } from "effect"
import kafkajs from "kafkajs"
import type { Admin, Consumer, EachBatchPayload, KafkaMessage, Producer } from "kafkajs"
import { BusUnavailable, EventBus, type EventBusShape, RecordForeignTenant, RecordNotJson, RecordRefused, RecordWrongShape, refusedAsTooLarge, Topics, type Topic, type TopicBacklog } from "./bus.ts"
import { type BusCodec, headerText, KEY_HEADER, RecordUnreadable, type WireMessage } from "./bus-crypto.ts"
import type { DeadLetter } from "./message.ts"
import { nestingProblem, problemRejection } from "./json.ts"
import { inWarehouseRange } from "./schemas.ts"
import { TENANT_NAME, TENANT_NAME_RULE } from "../warehouse/tenant.ts"
import { nextTurn } from "../warehouse/turns.ts"
import { patchKafkaEncoder } from "./bus-kafka-encoder.ts"
import { gzipDecompress, lz4Decompress, readingCodec, snappyDecompress, marksUndecodable, UndecodableBatch, undecodableBatchOf, zstdDecompress } from "./bus-kafka-codecs.ts"
import { keptPayload } from "./utf8.ts"

const { Kafka, logLevel, Partitioners, CompressionTypes, CompressionCodecs } = kafkajs

/**
 * Zstandard from node:zlib (Node >= 22.15) as kafkajs's ZSTD codec, so no native add-on is needed. Segment JSON
 * shrinks about 5x, so the producer checksums and sends a fifth of the bytes, which more than pays for compressing.
 * Each frame states the batch's size (pledgedSrcSize), so a consumer decompresses it into one buffer of that size
 * (ingest/bus-kafka-codecs.ts).
 */
const zstdAvailable = typeof zlib.zstdCompress === "function"
if (zstdAvailable) {
  const compress = promisify(zlib.zstdCompress)
  CompressionCodecs[CompressionTypes.ZSTD] = readingCodec("zstd", CompressionTypes.ZSTD, zstdDecompress,
    (encoder: { buffer: Buffer }) => compress(encoder.buffer, {
      pledgedSrcSize: encoder.buffer.length, params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 },
    }))
}
// gzip as kafkajs writes it, read with a bound on what a batch expands to.
CompressionCodecs[CompressionTypes.GZIP] = readingCodec("gzip", CompressionTypes.GZIP, gzipDecompress,
  (encoder: { buffer: Buffer }) => promisify(zlib.gzip)(encoder.buffer))

// Batches another producer (a Java or librdkafka client) compressed with Snappy or LZ4: kafkajs has no codec for
// them, and one such batch in a fetch crashed the consumer for good (ingest/bus-kafka-codecs.ts).
// Every codec turns a batch it cannot read (corrupt, or expanding past MAX_BATCH_BYTES) into marker records, which
// the consumer parks as one dead letter and moves past (ingest/bus-kafka-codecs.ts says why there).
CompressionCodecs[CompressionTypes.Snappy] = readingCodec("Snappy", CompressionTypes.Snappy, snappyDecompress)
CompressionCodecs[CompressionTypes.LZ4] = readingCodec("LZ4", CompressionTypes.LZ4, lz4Decompress)

/**
 * kafkajs 2.2.4 (its last release) schedules its request queue's check of pending requests in
 * `throttledUntil - Date.now()` ms, and `throttledUntil` is -1 until a broker throttles: when nothing is pending that
 * is minus the epoch, which Node 24 turns into 1 ms with a TimeoutNegativeWarning on stderr for every connection
 * (tulios/kafkajs#1751, unfixed upstream). The same method with the delay clamped to the 1 ms Node used anyway: the
 * same schedule, no warning. Checked by test/ingest/bus-kafka-timers.test.ts.
 */
interface KafkaRequestQueue {
  throttledUntil: number
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null
  readonly pending: ReadonlyArray<unknown>
  checkPendingRequests(): void
}
const CHECK_PENDING_REQUESTS_INTERVAL = 10
const RequestQueue = createRequire(import.meta.url)("kafkajs/src/network/requestQueue/index.js") as { prototype: KafkaRequestQueue & { scheduleCheckPendingRequests(): void } }
RequestQueue.prototype.scheduleCheckPendingRequests = function (this: KafkaRequestQueue) {
  let scheduleAt = this.throttledUntil - Date.now()
  if (this.throttleCheckTimeoutId) return
  if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null
    this.checkPendingRequests()
  }, Math.max(1, scheduleAt))
}

/**
 * kafkajs gives a consumer up when its broker stays away longer than its retries (about 12 s: "Restarting the
 * consumer in N ms") and restarts it with a new ConsumerGroup, which joined as a new member. The coordinator, back
 * from its own restart, still held the old member it read from __consumer_offsets and waited for it to rejoin until
 * its 30 s session timed out: the consumer took nothing for 30 s after the broker was back. A restarted consumer now
 * joins with the member id its predecessor last joined with (kept per consumer, by its instrumentation emitter, and
 * forgotten once it leaves the group): a coordinator that knows it completes the join at once; one that does not
 * answers UNKNOWN_MEMBER_ID, and kafkajs joins as a new member, as before. Checked by
 * test/integration/kafka-broker-outage.test.ts.
 */
interface KafkaConsumerGroup {
  memberId: string | null
  readonly instrumentationEmitter: object
  connect(): Promise<void>
  joinAndSync(): Promise<void>
  leave(): Promise<void>
}
const ConsumerGroup = createRequire(import.meta.url)("kafkajs/src/consumer/consumerGroup.js") as { prototype: KafkaConsumerGroup }
const lastMemberId = new WeakMap<object, string>()
const { connect: groupConnect, joinAndSync: groupJoinAndSync, leave: groupLeave } = ConsumerGroup.prototype
ConsumerGroup.prototype.connect = function (this: KafkaConsumerGroup) {
  if (this.memberId === null) this.memberId = lastMemberId.get(this.instrumentationEmitter) ?? null
  return groupConnect.call(this)
}
ConsumerGroup.prototype.joinAndSync = async function (this: KafkaConsumerGroup) {
  await groupJoinAndSync.call(this)
  if (this.memberId !== null) lastMemberId.set(this.instrumentationEmitter, this.memberId)
}
ConsumerGroup.prototype.leave = async function (this: KafkaConsumerGroup) {
  await groupLeave.call(this)
  lastMemberId.delete(this.instrumentationEmitter)
}

// Produced records encoded without a zero-filled ArrayBuffer each (ingest/bus-kafka-encoder.ts).
patchKafkaEncoder()

const MURMUR_M = 0x5bd1e995

/**
 * Kafka's murmur2 (the Java client's, which kafkajs's default partitioner ports with 64-bit `Long` arithmetic) in
 * 32-bit integer arithmetic: every step of that port keeps only the low 32 bits that matter, so the result is the
 * same bit for bit (test/ingest/bus-partitioner.test.ts), at a fraction of the cost per record.
 */
export const murmur2 = (data: Uint8Array, length: number = data.length): number => {
  let h = (0x9747b28c ^ length) | 0
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, MURMUR_M)
    k ^= k >>> 24
    k = Math.imul(k, MURMUR_M)
    h = Math.imul(h, MURMUR_M) ^ k
  }
  switch (length & 3) {
    case 3:
      h ^= data[whole + 2]! << 16
    // falls through
    case 2:
      h ^= data[whole + 1]! << 8
    // falls through
    case 1:
      h ^= data[whole]!
      h = Math.imul(h, MURMUR_M)
  }
  h ^= h >>> 13
  h = Math.imul(h, MURMUR_M)
  h ^= h >>> 15
  return h | 0
}

/**
 * kafkajs's default partitioner (the Java client's: a keyed record goes to murmur2(key) mod partitions, so a key's
 * partition is the same as before), without its per-record cost: its Long arithmetic, a Buffer per string key and a
 * filtered copy of the partition list per record were a visible share of the producer's CPU in a --cpu-prof profile.
 * Records without a key (none here) go to kafkajs's own.
 */
export const keyPartitioner = () => {
  const fallback = Partitioners.DefaultPartitioner()
  let scratch = Buffer.alloc(256)
  return (args: { topic: string; partitionMetadata: Array<{ partitionId: number; leader: number }>; message: { key?: Buffer | string | null; partition?: number | null } }): number => {
    const { message } = args
    if (message.partition !== null && message.partition !== undefined) return message.partition
    const key = message.key
    if (key === null || key === undefined) return fallback(args as never)
    let hash: number
    if (typeof key === "string") {
      if (key.length * 3 > scratch.length) scratch = Buffer.alloc(key.length * 3)
      hash = murmur2(scratch, scratch.write(key, 0, "utf8"))
    } else hash = murmur2(key)
    return (hash & 0x7fffffff) % args.partitionMetadata.length
  }
}

export interface KafkaBusOptions {
  /** host:port of one or more brokers. */
  readonly brokers: ReadonlyArray<string>
  /** Prefix of every topic and consumer group (several deployments can share a cluster). */
  readonly prefix: string
  /** Partitions of each topic the bus creates: the most workers that can share one topic. */
  readonly partitions: number
  /** Replication factor of created topics (1 on a single broker). */
  readonly replication: number
  /** How long Kafka keeps records (ms); -1 keeps them until deleted. */
  readonly retentionMs: number
  /**
   * What keeps records together on one partition: `person` (the topic's key: tenant and person key, most
   * parallel) or `tenant` (a tenant's records on one partition, so one worker at a time resolves its identities).
   */
  readonly partitionBy?: "person" | "tenant"
  /** Client id shown in the broker's logs and group listings. */
  readonly clientId?: string
  /**
   * Compression of produced record batches (CDP_KAFKA_COMPRESSION). Unset: zstd where Node has it, none when a codec
   * seals the values (it compresses inside the seal, so a second pass only costs CPU).
   */
  readonly compression?: "zstd" | "gzip" | "none" | undefined
  /** Encrypts record values per person key (ingest/bus-crypto.ts); without it values are plain JSON. */
  readonly codec?: BusCodec | undefined
}

/** Broker-side limit of one record batch; set on created topics so a batch of large raw bodies is accepted. */
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024
/**
 * A producer request carries at most about this many value bytes, under MAX_MESSAGE_BYTES even when one partition
 * gets all of it. With one request in flight, larger requests are faster: 4 MiB produced ~30,000 records/s of
 * ~1 KB here, 1 MiB ~13,500/s.
 */
const SEND_CHUNK_BYTES = 4 * 1024 * 1024

class KafkaCallFailed extends Data.TaggedError("KafkaCallFailed")<{ readonly cause: unknown }> {}

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 300)

/**
 * The most one record's key, value and headers may take for the broker to take it in a batch of at most
 * MAX_MESSAGE_BYTES, whatever the compression (zstd's framing of bytes that do not compress, a sealed value's IV, tag
 * and header): the bus's `maxRecordBytes` (a record's JSON), and what a parked record's copy on `<topic>.parked` may
 * carry with its added header. A larger copy (random bytes as large as the topic takes) was refused as too large, and
 * the park was retried forever while its partition stood still.
 */
const MAX_RECORD_BYTES = MAX_MESSAGE_BYTES - 64 * 1024

const recordBytes = (m: KafkaMessage): number => {
  let n = (m.key?.length ?? 0) + (m.value?.length ?? 0)
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    n += k.length
    for (const x of Array.isArray(v) ? v : [v]) n += x === undefined ? 0 : Buffer.byteLength(x)
  }
  return n
}

/** Set on a dead letter the bus made of a parked record: one parked again is only parked (no dead letter of it). */
const PARKED_FROM_HEADER = "cdp-parked-from"

export { RecordForeignTenant, RecordNotJson, RecordRefused, RecordWrongShape }

/** The dead letter's rule for why a record was parked, from the defect's type (decode below, ingest/bus-crypto.ts). */
const parkedRule = (defect: unknown) =>
  defect instanceof RecordNotJson ? "bus_record_not_json"
  : defect instanceof RecordWrongShape ? "bus_record_wrong_shape"
  : defect instanceof RecordForeignTenant ? "bus_record_wrong_tenant"
  : defect instanceof RecordRefused ? defect.rejection.rule
  : defect instanceof RecordUnreadable ? "bus_record_unreadable"
  : defect instanceof UndecodableBatch ? (defect.tooLarge ? "bus_batch_too_large" : "bus_batch_corrupt")
  : "bus_handler_died"

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/** A record key's first segment, as every bus topic's key starts with its record's tenant; "" when not UTF-8. */
const firstSegment = (key: Buffer): string => {
  try {
    const text = strictUtf8.decode(key)
    const slash = text.indexOf("/")
    return slash < 0 ? text : text.slice(0, slash)
  } catch {
    return ""
  }
}

/**
 * The tenant a record's key names: its first segment when that is a tenant name; "" (none, visibly) without a key,
 * with one not UTF-8, or with a first segment no tenant can have (100,000 characters, markup, "..", a space): before,
 * such a segment became the tenant a parked record's dead letter was filed under.
 */
const tenantOfKey = (key: Buffer | null): string => {
  if (key === null) return ""
  const segment = firstSegment(key)
  return TENANT_NAME.test(segment) ? segment : ""
}

/**
 * The dead letter of a record parked from topic `name`, so `cdp dlq list` shows it after the parked topic's retention.
 * Its tenant is `tenant` when the caller knows it (a sealed record's data key was made for it), else its key's first
 * segment (every bus topic's key starts with the tenant; "" for a record without a key or with one not UTF-8).
 * The payload is the value as it was on the topic: its text, or, sealed by the bus's codec, the sealed bytes in
 * base64 (still shredded with its person's data key). `cdp dlq retry` has no raw parser for it: the reason says so.
 */
export const parkedDeadLetter = (name: string, partition: number, m: KafkaMessage, defect: unknown, tenant?: string, withValue = true): DeadLetter => {
  const cause = describe(defect)
  // The record's Kafka timestamp is its producer's to set: one no Date holds made toISOString throw (the park was
  // retried forever and its partition stood still), one past 2299 the warehouse cannot store. Then it is now.
  const stamped = Number(m.timestamp)
  const receivedAt = new Date(inWarehouseRange(stamped) ? stamped : Date.now()).toISOString()
  const when = inWarehouseRange(stamped) ? "" : `; its Kafka timestamp ${String(m.timestamp).slice(0, 30)} is no time the warehouse stores, so it is dated when it was parked`
  const value = m.value ?? Buffer.alloc(0)
  if (defect instanceof UndecodableBatch) {
    // Nothing of the batch was read, not even its keys: no tenant; the payload says where the batch is (and keeps
    // two batches two dead letters: a dead letter's id is a hash of its rule and payload), which stays on the topic.
    const { topic, partition: at, codec, firstOffset, lastOffset, records } = defect
    return {
      tenant: "", source: `kafka:${name}`, receivedAt, messageId: "",
      rejection: {
        rule: parkedRule(defect), field: "",
        message: `${defect.message}; marked on ${name}.parked${when}. The batch stays on ${name} until its retention: ` +
          `read it with a client that can and produce its records to ${name} again`,
      },
      payload: JSON.stringify({ topic, partition: at, firstOffset, lastOffset, records, codec }),
    }
  }
  const sealed = m.headers?.[KEY_HEADER]
  const held = !withValue
    ? `the value (${value.length} bytes) does not fit in a dead letter record: the payload says where it is, on ${name} until the topic's retention`
    : sealed === undefined
      ? "the payload is the record's value"
      : `the payload is the sealed value in base64 (${KEY_HEADER} ${String(sealed)})`
  return {
    tenant: tenant ?? tenantOfKey(m.key), source: `kafka:${name}`, receivedAt, messageId: "",
    rejection: {
      rule: parkedRule(defect), field: defect instanceof RecordRefused ? defect.rejection.field : "",
      message: `${cause}; parked on ${name}.parked from partition ${partition} offset ${m.offset}${when}; ${held}. ` +
        `cdp dlq retry cannot re-drive a bus record (no source parser reads it): produce it to ${name} again after a fix`,
    },
    // The value's bytes as they were: its text when UTF-8, else base64 marked so (ingest/utf8.ts keptPayload).
    ...(!withValue ? { payload: JSON.stringify({ topic: name, partition, offset: m.offset, bytes: value.length }) }
      : sealed === undefined ? keptPayload(value) : { payload: value.toString("base64"), payloadEncoding: "base64" as const }),
  }
}

/** The bus's topics that always exist (redirect targets are created on first publish). */
export const busTopicNames = (prefix: string) =>
  [Topics.events.name, Topics.deadLetters.name, Topics.raw.name, Topics.identityChanges.name].map((n) => `${prefix}${n}`)

/**
 * `attempt` again while it fails with an error Kafka marks retriable, at most `tries` times in all, each wait twice
 * the one before. A topic just created (here or by another process) is not yet in every broker's metadata for a
 * moment: the broker answers UNKNOWN_TOPIC_OR_PARTITION, retriable, and a start that took that for "unreachable"
 * failed (seen on CI with two test workers creating topics at once).
 */
export const retryRetriable = async <A>(attempt: () => Promise<A>, tries = 5, firstWaitMs = 200): Promise<A> => {
  for (let tried = 1; ; tried++) {
    try {
      return await attempt()
    } catch (e) {
      if (tried >= tries || !isRetriable(e)) throw e
      await new Promise((resolve) => setTimeout(resolve, firstWaitMs * 2 ** (tried - 1)))
    }
  }
}

/** How long ensureTopics waits for topics just created (here or by another process) to be served. */
const TOPICS_SERVED_TIMEOUT_MS = 30_000

const isRetriable = (e: unknown) => {
  const error = e as { retriable?: unknown; cause?: { retriable?: unknown } } | null | undefined
  return error?.retriable === true || error?.cause?.retriable === true
}

/**
 * Waits until the broker's metadata has every topic of `names` with a leader for each partition, at most `timeoutMs`,
 * then fails with the last answer. A topic just created is not served at once: until then a metadata request naming
 * it fails with UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this topic-partition"), which kafkajs's
 * metadata refresh does not retry, so a consumer subscribing then died (seen with 16 buses starting at once on the
 * broker of deploy/services: test/integration/kafka-topic-race).
 */
export const untilTopicsServed = async (admin: Pick<Admin, "fetchTopicMetadata">, names: ReadonlyArray<string>, timeoutMs = TOPICS_SERVED_TIMEOUT_MS) => {
  const end = Date.now() + timeoutMs
  let wait = 100
  for (;;) {
    let last: unknown
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [...names] })
      const served = new Set(meta.topics.filter((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)).map((t) => t.name))
      const waiting = names.filter((n) => !served.has(n))
      if (waiting.length === 0) return meta
      last = Object.assign(new Error(`topic ${waiting[0]} has no leader for every partition yet`), { retriable: true })
    } catch (e) {
      if (!isRetriable(e)) throw e
      last = e
    }
    if (Date.now() + wait > end) throw last
    await new Promise((resolve) => setTimeout(resolve, wait))
    wait = Math.min(wait * 2, 1_000)
  }
}

/**
 * The "migration" of the bus: creates missing topics with the configured partitions and retention, and returns once
 * the broker serves them all (untilTopicsServed). An existing topic keeps its partition count (adding partitions
 * would move keys between partitions and break per-person order for records in flight); a mismatch is returned so
 * the caller can say so. Kafka's retriable answers are tried again (retryRetriable).
 */
export const ensureTopics = (admin: Admin, names: ReadonlyArray<string>, options: KafkaBusOptions) =>
  retryRetriable(() => ensureTopicsOnce(admin, names, options))

const ensureTopicsOnce = async (admin: Admin, names: ReadonlyArray<string>, options: KafkaBusOptions) => {
  const existing = new Set(await admin.listTopics())
  const missing = names.filter((n) => !existing.has(n))
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic, numPartitions: options.partitions, replicationFactor: options.replication,
        configEntries: [
          { name: "retention.ms", value: String(options.retentionMs) },
          { name: "max.message.bytes", value: String(MAX_MESSAGE_BYTES) },
        ],
      })),
    }).catch((e: unknown) => {
      // Another process created it between the listing and now: that is the outcome wanted.
      if (!/already exists/i.test(describe(e))) throw e
    })
  }
  // Created here or by another process just now (its "already exists"), a topic is not served at once.
  const meta = await untilTopicsServed(admin, names)
  return meta.topics.filter((t) => existing.has(t.name) && t.partitions.length !== options.partitions)
    .map((t) => ({ topic: t.name, partitions: t.partitions.length }))
}

/**
 * Each topic's max.message.bytes as the broker applies it (the topic's own setting, else the broker's default: 1 MiB
 * unless changed). cdp makes its topics with MAX_MESSAGE_BYTES and leaves one that exists as it is, so one an operator
 * made takes what it was made with. A topic the broker says nothing readable of is left out.
 */
export const topicMessageLimits = async (admin: Pick<Admin, "describeConfigs">, names: ReadonlyArray<string>): Promise<Map<string, number>> => {
  const answer = await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map((name) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name, configNames: ["max.message.bytes"] })),
  })
  const limits = new Map<string, number>()
  for (const r of answer.resources) {
    const value = Number(r.configEntries.find((c) => c.configName === "max.message.bytes")?.configValue)
    if (r.errorCode === 0 && Number.isSafeInteger(value) && value > 0) limits.set(r.resourceName, value)
  }
  return limits
}

/** The most one record's JSON may take on a topic whose batches take `maxMessageBytes` (MAX_RECORD_BYTES's margin). */
const recordBoundOf = (maxMessageBytes: number) =>
  maxMessageBytes >= MAX_MESSAGE_BYTES ? MAX_RECORD_BYTES : Math.max(maxMessageBytes - 64 * 1024, Math.floor(maxMessageBytes / 2))

/**
 * The record bound of each of `names` that takes less than cdp's, read at start, each such topic warned of once (its
 * name, its max.message.bytes, cdp's): a record past it is published alone and, refused, kept as a dead letter
 * too_large, so the operator learns it before a sender does. Not readable (no DescribeConfigs right): one warning,
 * and cdp's bound, the broker's refusals handled as they come.
 */
const smallerRecordBounds = (admin: Admin, names: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const limits = yield* Effect.tryPromise({ try: () => topicMessageLimits(admin, names), catch: (e) => e }).pipe(
      Effect.catch((e) => Effect.as(
        Effect.logWarning("the topics' max.message.bytes could not be read; records are bounded by cdp's own").pipe(
          Effect.annotateLogs({ error: describe(e), cdpMaxMessageBytes: MAX_MESSAGE_BYTES })),
        new Map<string, number>())))
    const bounds = new Map<string, number>()
    for (const [topic, bytes] of limits) {
      if (bytes >= MAX_MESSAGE_BYTES) continue
      bounds.set(topic, recordBoundOf(bytes))
      yield* Effect.logWarning(
        "topic's max.message.bytes is smaller than cdp's: a record past it is published alone and, refused, kept as a " +
          `dead letter too_large (or parked without its value); raise it: kafka-configs --alter --entity-type topics --entity-name ${topic} ` +
          `--add-config max.message.bytes=${MAX_MESSAGE_BYTES}`,
      ).pipe(Effect.annotateLogs({ topic, maxMessageBytes: bytes, cdpMaxMessageBytes: MAX_MESSAGE_BYTES }))
    }
    return bounds
  })

const kafkaLogger = () => ({ namespace, level, log }: { namespace: string; level: number; log: { message: string } }) => {
  // kafkajs's own messages name brokers, groups and topics, never record content. It logs every error answer of the
  // broker ("Response Heartbeat" while the group rebalances) and retries it: what stays failing surfaces elsewhere.
  if (namespace === "Connection" && log.message.startsWith("Response ")) return
  if (level <= logLevel.WARN) {
    process.stderr.write(`${JSON.stringify({ level: level === logLevel.ERROR ? "ERROR" : "WARN", kafka: namespace, message: log.message })}\n`)
  }
}

interface PendingSend {
  readonly topic: string
  readonly messages: ReadonlyArray<WireMessage>
  readonly bytes: number
  /** When it was queued (ms since the epoch). */
  readonly at: number
  /** Settles its publish; only the first call counts (a send given up on may be acknowledged later). */
  readonly done: (error?: unknown) => void
  /** Sent in a request of its own: a request it shared with other sends was refused as too large. */
  readonly alone?: boolean
}

/** How long a check of the brokers (a metadata request) may take before they count as not answering. */
const CHECK_TIMEOUT_MS = 3_000
/**
 * A send waiting this long for its acknowledgement makes the bus check the brokers (every WATCH_INTERVAL_MS); if they
 * do not answer, every waiting send fails at once: before, a broker that died left each publish to kafkajs's retries
 * of the refused connection (about 20 s) and a hung one to its 30 s request timeout and retries (minutes), and the
 * collector's senders waited that long for their 503.
 */
const SLOW_SEND_MS = 1_000
const WATCH_INTERVAL_MS = 500

/** The setting behind a broker's refusal to create a topic, by Kafka's error code. */
const REFUSAL_SETTINGS: Record<string, string> = {
  INVALID_REPLICATION_FACTOR: "CDP_KAFKA_REPLICATION",
  INVALID_PARTITIONS: "CDP_KAFKA_PARTITIONS",
  INVALID_CONFIG: "CDP_KAFKA_RETENTION_HOURS",
  INVALID_TOPIC_EXCEPTION: "CDP_KAFKA_PREFIX",
  TOPIC_AUTHORIZATION_FAILED: "the brokers' ACLs for cdp's client",
  CLUSTER_AUTHORIZATION_FAILED: "the brokers' ACLs for cdp's client",
  POLICY_VIOLATION: "the brokers' create.topic.policy",
}

/**
 * A broker's answer refusing to create a topic (kafkajs: an aggregate of one error per topic), as one line naming the
 * topic, the broker's reason and the setting to check; undefined for any other failure. Such a broker answered: it is
 * not unreachable, and CDP_KAFKA_BROKERS is not the setting to look at.
 */
const topicRefusal = (options: KafkaBusOptions, e: unknown): BusUnavailable | undefined => {
  const location = options.brokers.join(",")
  const asked: Record<string, string> = {
    INVALID_REPLICATION_FACTOR: ` (${options.replication} asked: at most the number of brokers)`,
    INVALID_PARTITIONS: ` (${options.partitions} asked)`,
  }
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const errors = (c as { errors?: unknown }).errors
    if (!Array.isArray(errors)) continue
    const refused = errors.find((x: { type?: unknown }) => typeof x?.type === "string" && x.type in REFUSAL_SETTINGS) as
      { type: string; topic?: string; message?: string } | undefined
    if (refused === undefined) continue
    return new BusUnavailable({
      backend: "kafka", cause: e,
      message: `Kafka at ${location} refused to create topic ${refused.topic ?? "?"}: ${String(refused.message ?? refused.type).slice(0, 200)}` +
        `${asked[refused.type] ?? ""}; check ${REFUSAL_SETTINGS[refused.type]}`,
    })
  }
  return undefined
}

/** Builds the Kafka bus: probes the brokers, creates the topics, opens an idempotent producer. */
export const makeKafkaBus = (options: KafkaBusOptions): Effect.Effect<EventBusShape, BusUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const location = options.brokers.join(",")
    const unreachable = (what: string, cause: unknown) =>
      new BusUnavailable({ backend: "kafka", message: `Kafka at ${location} is unreachable (${what}: ${describe(cause)}); check CDP_KAFKA_BROKERS`, cause })
    const kafka = new Kafka({
      clientId: options.clientId ?? "cdp", brokers: [...options.brokers], logLevel: logLevel.WARN, logCreator: kafkaLogger,
      connectionTimeout: 3000, requestTimeout: 30_000,
    })
    // Consumers (each kafkajs consumer has its connections of its own) with kafkajs's retries, 300 ms doubling and
    // 5 more tries, each wait at most 3 s instead of 30 s: kafkajs restarts a consumer it gave up (its broker away
    // ~10 s) after the last wait, which had grown to 10-12 s, so it took records again only that long after the
    // broker was back. Same number of tries; the producer keeps the defaults.
    const consumers = new Kafka({
      clientId: options.clientId ?? "cdp", brokers: [...options.brokers], logLevel: logLevel.WARN, logCreator: kafkaLogger,
      connectionTimeout: 3000, requestTimeout: 30_000, retry: { initialRetryTime: 300, maxRetryTime: 3_000, retries: 5 },
    })
    // The probe: a bounded number of tries, so an unreachable broker is one line at start, not minutes of retries
    // (its own client logs nothing: the failure is reported once, as BusUnavailable).
    const probe = new Kafka({ clientId: options.clientId ?? "cdp", brokers: [...options.brokers], logLevel: logLevel.NOTHING, connectionTimeout: 3000 })
      .admin({ retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1000 } })
    yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => probe.connect(), catch: (e) => unreachable("connect", e) }),
      () => Effect.promise(() => probe.disconnect().catch(() => undefined)),
    )
    const mismatched = yield* Effect.tryPromise({
      try: () => ensureTopics(probe, busTopicNames(options.prefix), options),
      catch: (e) => topicRefusal(options, e) ?? unreachable("creating topics", e),
    })
    for (const m of mismatched) {
      yield* Effect.logWarning("topic has another partition count than CDP_KAFKA_PARTITIONS; left as it is").pipe(
        Effect.annotateLogs({ topic: m.topic, partitions: m.partitions, configured: options.partitions }))
    }
    const recordBounds = yield* smallerRecordBounds(probe, busTopicNames(options.prefix))
    const known = new Set(busTopicNames(options.prefix))
    // Sealed values (the codec compresses inside the seal) do not compress again: zstd then only costs CPU.
    const chosen = options.compression ?? (zstdAvailable && options.codec === undefined ? "zstd" : "none")
    const compression = chosen === "zstd" ? CompressionTypes.ZSTD : chosen === "gzip" ? CompressionTypes.GZIP : CompressionTypes.None
    if (compression === CompressionTypes.ZSTD && !zstdAvailable) {
      return yield* new BusUnavailable({ backend: "kafka", message: `zstd compression of Kafka records needs Node >= 22.15 (this is ${process.version})` })
    }

    const producer: Producer = kafka.producer({
      idempotent: true, maxInFlightRequests: 1, createPartitioner: keyPartitioner,
    })
    yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => producer.connect(), catch: (e) => unreachable("producer connect", e) }),
      () => Effect.promise(() => producer.disconnect().catch(() => undefined)),
    )

    // One sender at a time: kafkajs's idempotent producer assigns sequence numbers per request, and concurrent
    // sends can reach the broker out of order. Everything published while a request is in flight goes in the
    // next one (group commit), so concurrency costs no throughput.
    const queue: Array<PendingSend> = []
    /** The sends of the request in flight. */
    let inFlight: ReadonlyArray<PendingSend> = []
    let sending = false
    const pump = async () => {
      if (sending) return
      sending = true
      try {
        while (queue.length > 0) {
          const chunk: Array<PendingSend> = []
          let bytes = 0
          while (queue.length > 0 && (chunk.length === 0 || (!chunk[0]!.alone && !queue[0]!.alone && bytes + queue[0]!.bytes <= SEND_CHUNK_BYTES))) {
            const next = queue.shift()!
            chunk.push(next)
            bytes += next.bytes
          }
          inFlight = chunk
          const byTopic = new Map<string, Array<WireMessage>>()
          for (const p of chunk) {
            const list = byTopic.get(p.topic)
            if (list === undefined) byTopic.set(p.topic, [...p.messages])
            else for (const m of p.messages) list.push(m)
          }
          try {
            await producer.sendBatch({ acks: -1, compression, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) })
            for (const p of chunk) p.done()
          } catch (e) {
            // Sends grouped into one request that a topic refused as too large (one made with a smaller
            // max.message.bytes than cdp's 8 MiB) go again each in a request of its own, so a publish is refused only
            // for its own records (its caller keeps those); grouped, every publisher of the request was refused.
            if (chunk.length > 1 && refusedAsTooLarge(e)) queue.unshift(...chunk.map((p) => ({ ...p, alone: true })))
            else for (const p of chunk) p.done(e)
          }
          inFlight = []
        }
      } finally {
        sending = false
      }
    }

    /**
     * Whether the brokers answer, as last checked: undefined while they do, else since when they do not. While they do
     * not, a publish fails at once (BusUnavailable) instead of waiting for kafkajs to give up; the watch below checks
     * again every WATCH_INTERVAL_MS and clears it as soon as they answer.
     */
    let unreachableSince: number | undefined
    const notAnswering = () => new BusUnavailable({
      backend: "kafka",
      message: `Kafka at ${location} does not answer (no answer to a check of the brokers since ${new Date(unreachableSince ?? Date.now()).toISOString()})`,
    })
    /** Fails every send waiting for an acknowledgement (the one in flight may still be acknowledged: a 503 then, never a 2xx). */
    const giveUpWaiting = () => {
      const error = notAnswering()
      const waiting = [...inFlight, ...queue.splice(0)]
      for (const p of waiting) p.done(error)
    }
    let checking: Promise<boolean> | undefined
    /** One check of the brokers at a time: /health's ping and the watch share it. */
    const check = (): Promise<boolean> => checking ??= (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined
      try {
        const up = await Promise.race([
          probe.describeCluster().then(() => true, () => false),
          new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS) }),
        ])
        if (up) unreachableSince = undefined
        else {
          unreachableSince ??= Date.now()
          giveUpWaiting()
        }
        return up
      } finally {
        clearTimeout(timer)
        checking = undefined
      }
    })()
    const oldestWaitMs = () => {
      const first = inFlight[0] ?? queue[0]
      return first === undefined ? 0 : Date.now() - first.at
    }
    yield* Effect.forkScoped(Effect.promise(() => unreachableSince !== undefined || oldestWaitMs() > SLOW_SEND_MS ? check() : Promise.resolve(true)).pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(WATCH_INTERVAL_MS))),
    ))
    /** Splits a publish into sends of at most SEND_CHUNK_BYTES, each acknowledged before publish completes. */
    const send = (topic: string, messages: ReadonlyArray<WireMessage>) => {
      if (unreachableSince !== undefined) return Promise.reject(notAnswering())
      const parts: Array<Promise<void>> = []
      let start = 0
      let bytes = 0
      const cut = (end: number) => {
        const slice = messages.slice(start, end)
        const size = bytes
        parts.push(new Promise<void>((resolve, reject) => {
          queue.push({ topic, messages: slice, bytes: size, at: Date.now(), done: (e) => (e === undefined ? resolve() : reject(e)) })
        }))
        start = end
        bytes = 0
      }
      messages.forEach((m, i) => {
        const size = m.value.length + m.key.length
        if (i > start && bytes + size > SEND_CHUNK_BYTES) cut(i)
        bytes += size
      })
      if (start < messages.length) cut(messages.length)
      void pump()
      return Promise.all(parts)
    }

    const ensureKnown = (name: string) =>
      known.has(name) ? Effect.void : Effect.tryPromise({
        try: () => ensureTopics(probe, [name], options),
        catch: (e) => topicRefusal(options, e) ?? unreachable(`creating topic ${name}`, e),
      }).pipe(Effect.tap(() => Effect.sync(() => known.add(name))))

    /** Records as they go on the wire: keyed as CDP_KAFKA_PARTITION_BY says, sealed when a codec is set. */
    const wireOf = <A>(topic: Topic<A>, records: ReadonlyArray<A>): Effect.Effect<ReadonlyArray<WireMessage>, BusUnavailable> => {
      const keyOf = options.partitionBy === "tenant" && topic.tenant !== undefined ? topic.tenant : topic.key
      return options.codec === undefined
        ? Effect.succeed(records.map((r) => ({ key: keyOf(r), value: JSON.stringify(r) })))
        : options.codec.encode(topic, records, keyOf).pipe(Effect.mapError((e) => new BusUnavailable({ backend: "kafka", message: e.message, cause: e })))
    }

    /**
     * The tenant of a sealed record, from its data key: its Kafka key is then the key id (a person's), not the tenant.
     * A key id this warehouse never held (a forged header) names none: "" when the Kafka key is that id, else the key's.
     */
    const sealedTenant = async (m: KafkaMessage): Promise<string | undefined> => {
      const header = headerText(m.headers?.[KEY_HEADER])
      if (options.codec === undefined || header === undefined) return undefined
      const keyId = header.split(".")[0]!
      const known = await Effect.runPromise(options.codec.tenantOf(keyId))
      return known ?? (m.key?.toString("utf8") === keyId ? "" : undefined)
    }

    /**
     * A dead letter the bus made of a parked record (its header is honoured only on the dead_letters topic, where the
     * bus writes it: on any other topic it is a producer's forgery, which would otherwise hide a junk record).
     */
    const madeByBus = (name: string, m: KafkaMessage) =>
      name === `${options.prefix}${Topics.deadLetters.name}` && m.headers?.[PARKED_FROM_HEADER] !== undefined

    /**
     * Keeps a record the handler died on: on `<topic>.parked` (its bytes, the cause in a header) and, unless it is
     * itself a dead letter the bus made, as a dead letter on the dead_letters topic, which the pipeline lands in the
     * warehouse like every other. Fails (to be tried again, never skipped) when the broker does not acknowledge both.
     */
    const park = async (name: string, partition: number, m: KafkaMessage, defect: unknown): Promise<void> => {
      const cause = describe(defect)
      const parked = `${name}.parked`
      await ensureTopics(probe, [parked], options)
      const size = recordBytes(m)
      const key = m.key?.toString("utf8") ?? ""
      const notCopied = () => send(parked, [{
        key, value: "",
        headers: {
          "cdp-parked-cause": cause,
          "cdp-parked-value": `not copied: the record (${size} bytes) and its cause do not fit in one record of ${parked}; ` +
            `it stays on ${name} partition ${partition} offset ${m.offset} until the topic's retention`,
        },
      }])
      // A copy the broker refuses (a .parked topic made with a smaller max.message.bytes than cdp's) is parked as one
      // too large: refused, the park was retried for ever in front of its partition.
      await (size + cause.length <= MAX_RECORD_BYTES
        ? send(parked, [{ key, value: m.value ?? "", headers: { ...(m.headers as Record<string, string>), "cdp-parked-cause": cause } }])
          .catch((e: unknown) => (refusedAsTooLarge(e) ? notCopied() : Promise.reject(e)))
        : notCopied())
      if (madeByBus(name, m)) return
      // A record whose key and value name two tenants is filed under neither: either may be the forgery.
      const tenant = defect instanceof RecordForeignTenant ? "" : await sealedTenant(m)
      const sendLetter = async (letter: DeadLetter) => {
        const wire = await Effect.runPromise(wireOf(Topics.deadLetters, [letter]))
        await send(`${options.prefix}${Topics.deadLetters.name}`, wire.map((w) => ({ ...w, headers: { ...w.headers, [PARKED_FROM_HEADER]: name } })))
      }
      // A value near the topic's limit that does not compress (random bytes, as text twice as long) makes a dead
      // letter the broker refuses: then the dead letter says where the value is instead of holding it.
      await sendLetter(parkedDeadLetter(name, partition, m, defect, tenant)).catch((e: unknown) =>
        refusedAsTooLarge(e) ? sendLetter(parkedDeadLetter(name, partition, m, defect, tenant, false)) : Promise.reject(e))
    }

    const handling = new Map<string, number>()
    const failing = new Map<string, { sinceMs: number; attempts: number; error: string }>()
    const oldest = new Map<string, number>()

    const bus: EventBusShape = {
      backend: { kind: "kafka", location },
      maxRecordBytes: (topic) => recordBounds.get(`${options.prefix}${topic}`) ?? MAX_RECORD_BYTES,
      ping: Effect.promise(check),
      publish: (topic, records) => records.length === 0 ? Effect.void : Effect.gen(function* () {
        const name = `${options.prefix}${topic.name}`
        yield* ensureKnown(name)
        const messages = yield* wireOf(topic, records)
        yield* Effect.tryPromise({
          try: () => send(name, messages),
          catch: (e) => e instanceof BusUnavailable ? e
            : new BusUnavailable({ backend: "kafka", message: `Kafka at ${location} did not acknowledge records of topic ${name}: ${describe(e)}`, cause: e }),
        })
      }),
      consume: (topic, handler, consumeOptions) =>
        consumeTopic(topic, handler, consumeOptions?.maxBatch, consumeOptions?.onAssigned, consumeOptions?.broadcast === true),
      pending: Effect.sync(() => Object.fromEntries(handling)),
      backlog: Effect.sync(() => {
        const now = Date.now()
        const out: Record<string, TopicBacklog> = {}
        // A failing topic whose partitions all wait for their retry has nothing in hand, and is failing all the same:
        // before, /health named it only while a retry was under way (a moment when the store refuses at once).
        for (const name of new Set([...handling.keys(), ...failing.keys()])) {
          const failure = failing.get(name)
          const since = oldest.get(name)
          out[name] = { pending: handling.get(name) ?? 0, oldestAgeMs: since === undefined ? 0 : now - since, ...(failure === undefined ? {} : { failing: failure }) }
        }
        return out
      }),
    }

    const consumeTopic = <A, E, R>(
      topic: Topic<A>,
      handler: (batch: ReadonlyArray<A>) => Effect.Effect<void, E, R>,
      maxBatch = 50_000,
      onAssigned?: Effect.Effect<void, unknown, R>,
      broadcast = false,
    ): Effect.Effect<void, never, R | Scope.Scope> =>
      Effect.gen(function* () {
        const name = `${options.prefix}${topic.name}`
        const context = yield* Effect.context<R>()
        const run = Effect.runPromiseExitWith(context)
        const consumer: Consumer = consumers.consumer({
          // A broadcast consumer is a group of one (its offsets expire with the broker's offsets retention).
          groupId: broadcast ? `${options.prefix}${topic.name}.${randomUUID()}` : `${options.prefix}${topic.name}`,
          sessionTimeout: 30_000, heartbeatInterval: 3_000, rebalanceTimeout: 60_000,
          maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024, maxWaitTimeInMs: 200,
        })

        const decode = (messages: ReadonlyArray<KafkaMessage>) =>
          messages.map((m) => {
            const text = m.value === null ? "null" : m.value.toString("utf8")
            let record: A
            try {
              // Iterative: text nested 100,000 levels deep is read without overflowing (ingest/json.ts).
              record = JSON.parse(text) as A
            } catch {
              // JSON.parse's own message quotes the record's text (personal data): the cause says what, not what it held.
              throw new RecordNotJson({ bytes: m.value?.length ?? 0 })
            }
            // The edge's depth rule, counted from each field of the record (an event keeps a message's unknown fields
            // one level down, in extra): deeper, the warehouse's encoding of the row overflowed the stack and the
            // dead letter said "Maximum call stack size exceeded" instead of what is wrong with the record.
            const deep = nestingProblem(text, 1)
            if (deep !== undefined) throw new RecordRefused({ rejection: problemRejection(deep, deep.field, "the record's value") })
            return record
          })

        /** Dies with RecordWrongShape on the first record that is not of the topic's shape (the bus parks it). */
        const checked = (records: ReadonlyArray<A>): Effect.Effect<ReadonlyArray<A>> => {
          if (topic.check === undefined) return Effect.succeed(records)
          for (const r of records) {
            const fault = topic.check(r)
            if (fault !== undefined) return Effect.die(new RecordWrongShape({ topic: topic.name, fault }))
          }
          return Effect.succeed(records)
        }

        /**
         * Dies with RecordWrongShape on the first record whose tenant is no tenant name, and with RecordForeignTenant on
         * the first whose Kafka key names another tenant than its value (every
         * bus topic's key starts with its record's tenant; a record without a key is no cdp producer's either).
         * Checked on records in the clear: a sealed record's value is authenticated under a data key of its tenant.
         */
        const sameTenants = (messages: ReadonlyArray<KafkaMessage>, records: ReadonlyArray<unknown>): Effect.Effect<void> => {
          const tenantOf = topic.tenant
          if (tenantOf === undefined) return Effect.void
          for (let i = 0; i < messages.length; i++) {
            const m = messages[i]!
            const valueTenant = tenantOf(records[i] as A)
            // The edge takes only tenant names; "*" (any tenant) is a notice's, "" a dead letter the bus made of a
            // record that names none. Any other tenant would be a new one in the warehouse, made by whoever produced.
            const allowed = TENANT_NAME.test(valueTenant) || (valueTenant === "*" && topic.name === Topics.identityChanges.name) ||
              (valueTenant === "" && topic.name === Topics.deadLetters.name)
            if (!allowed) return Effect.die(new RecordWrongShape({ topic: topic.name, fault: { field: "/tenant", rule: `must be a tenant name (${TENANT_NAME_RULE})` } }))
            const keyTenant = m.key === null ? undefined : firstSegment(m.key)
            if (keyTenant !== valueTenant) return Effect.die(new RecordForeignTenant({ keyTenant, valueTenant }))
          }
          return Effect.void
        }

        /** Records whose data key an erasure shredded are skipped here, counted (never their content). */
        const decodeBatch = (messages: ReadonlyArray<KafkaMessage>): Effect.Effect<ReadonlyArray<A>, unknown> =>
          options.codec === undefined
            ? Effect.sync(() => decode(messages)).pipe(Effect.flatMap(checked), Effect.tap((records) => sameTenants(messages, records)))
            : Effect.tap(options.codec.decode(messages), (d) => d.shredded === 0 ? Effect.void
              : Effect.logInfo("records of shredded data keys skipped").pipe(Effect.annotateLogs({ topic: name, records: d.shredded }))).pipe(
              Effect.map((d) => d.records as ReadonlyArray<A>),
              Effect.flatMap(checked),
              Effect.tap(() => {
                // Records in the clear on an encrypted bus (written before encryption was on, or by another producer):
                // read again here (rare), as the codec's records of sealed groups do not line up with the messages.
                const clear = messages.filter((m) => headerText(m.headers?.[KEY_HEADER]) === undefined)
                return clear.length === 0 ? Effect.void
                  : Effect.suspend(() => checked(decode(clear))).pipe(Effect.flatMap((records) => sameTenants(clear, records)))
              }))

        const noteFailure = (error: string) => {
          const now = Date.now()
          const before = failing.get(name)
          failing.set(name, { sinceMs: before?.sinceMs ?? now, attempts: (before?.attempts ?? 0) + 1, error: error.slice(0, 300) })
        }

        /** The partitions whose batch failed and waits for its retry, with the wait before the next one. */
        const retryDelays = new Map<number, number>()
        const succeeded = (partition?: number) => {
          if (partition !== undefined) retryDelays.delete(partition)
          if (retryDelays.size === 0) failing.delete(name)
        }
        /**
         * Retries a failed batch of `partition` later without holding the consumer: kafkajs fetches a broker's
         * partitions together and fetches again only once every batch of the fetch is done, so a batch retried in
         * place held every partition the broker leads (a record whose data key is unknown for 10 minutes held the
         * topic for 10 minutes). The partition is paused and resumed after the backoff; nothing of it was resolved or
         * committed, so kafkajs fetches the same records again.
         */
        const retryLater = (partition: number) => {
          const delay = retryDelays.get(partition) ?? 200
          retryDelays.set(partition, Math.min(delay * 2, 10_000))
          const partitions = [{ topic: name, partitions: [partition] }]
          consumer.pause(partitions)
          setTimeout(() => {
            try {
              consumer.resume(partitions)
            } catch {
              // The consumer stopped meanwhile: nothing to resume.
            }
          }, delay)
        }

        /**
         * Handles records: a failure (an outage) is retried with backoff (retryLater), as long as this member owns the
         * partition; a defect (a bug on some record) is narrowed to the records it dies on, which are parked on
         * `<topic>.parked` with the error, so one bad record never blocks its partition. False when the records were
         * not handled (to be retried, or the partition was taken away): nothing of the batch is then committed.
         */
        const handleUntilDone = async (records: ReadonlyArray<KafkaMessage>, payload: EachBatchPayload): Promise<boolean> => {
          let delay = 200
          for (;;) {
            if (!payload.isRunning() || payload.isStale()) return false
            const exit = await run(Effect.flatMap(decodeBatch(records), handler))
            if (Exit.isSuccess(exit)) {
              succeeded(payload.batch.partition)
              return true
            }
            const defect = exit.cause.reasons.find((r) => r._tag === "Die")
            if (defect !== undefined) {
              if (records.length > 1) {
                const middle = Math.ceil(records.length / 2)
                return (await handleUntilDone(records.slice(0, middle), payload)) && (await handleUntilDone(records.slice(middle), payload))
              }
              const cause = describe(defect.defect)
              const kept = await park(name, payload.batch.partition, records[0]!, defect.defect).then(() => true, () => false)
              // Not parked (the broker is away): handled again after the backoff, never skipped.
              if (!kept) {
                await new Promise((r) => setTimeout(r, delay))
                delay = Math.min(delay * 2, 10_000)
                continue
              }
              await run(Effect.logError("consumer handler died on a record; parked it").pipe(
                Effect.annotateLogs({
                  topic: name, partition: payload.batch.partition, offset: records[0]!.offset, parkedOn: `${name}.parked`,
                  deadLetter: !madeByBus(name, records[0]!), rule: parkedRule(defect.defect), defect: cause,
                })))
              return true
            }
            noteFailure(describe(exit.cause))
            await run(Effect.logWarning("consumer handler failed; retrying").pipe(
              Effect.annotateLogs({ topic: name, partition: payload.batch.partition, records: records.length, error: describe(exit.cause) })))
            retryLater(payload.batch.partition)
            return false
          }
        }

        // Set on every (re)join of the group: the member's partitions may have changed.
        let reassigned = onAssigned !== undefined
        consumer.on(consumer.events.GROUP_JOIN, () => { reassigned = onAssigned !== undefined })
        // Partitions are consumed concurrently: the first batch after a join runs onAssigned, the others wait for it.
        let assigning: Promise<boolean> | undefined
        const runOnAssigned = (payload: EachBatchPayload): Promise<boolean> => {
          if (assigning === undefined && reassigned) assigning = reassign(payload).finally(() => { assigning = undefined })
          return assigning ?? Promise.resolve(true)
        }
        const reassign = async (payload: EachBatchPayload): Promise<boolean> => {
          let delay = 200
          while (reassigned) {
            if (!payload.isRunning() || payload.isStale()) return false
            reassigned = false
            const exit = await run(onAssigned!)
            if (Exit.isSuccess(exit)) return true
            reassigned = true
            await run(Effect.logWarning("reloading state after a rebalance failed; retrying").pipe(
              Effect.annotateLogs({ topic: name, error: describe(exit.cause) })))
            await payload.heartbeat().catch(() => undefined)
            await new Promise((r) => setTimeout(r, delay))
            delay = Math.min(delay * 2, 10_000)
          }
          return true
        }

        /**
         * Group commit across partitions: the batches of all partitions fetched together (kafkajs hands them over
         * concurrently) go to the handler as one call, up to maxBatch records, so a stage's fixed cost per call (the
         * warehouse inserts) is paid once per fetch, not once per partition. One call runs at a time, in arrival
         * order, so a partition's records are still handled in order. When the joint call does not succeed, each
         * partition's batch is handled alone (parking, or a retry later), so one partition's bad record never holds
         * another.
         */
        interface Waiting {
          readonly records: ReadonlyArray<KafkaMessage>
          readonly payload: EachBatchPayload
          readonly done: (handled: boolean) => void
        }
        const waiting: Array<Waiting> = []
        let pumping = false
        const pumpHandler = async () => {
          if (pumping) return
          pumping = true
          try {
            // Lets the other partitions of the same fetch arrive before the first call.
            await nextTurn()
            while (waiting.length > 0) {
              const group: Array<Waiting> = []
              let size = 0
              while (waiting.length > 0 && (group.length === 0 || size + waiting[0]!.records.length <= maxBatch)) {
                const next = waiting.shift()!
                group.push(next)
                size += next.records.length
              }
              const live = group.filter((w) => w.payload.isRunning() && !w.payload.isStale())
              for (const w of group) if (!live.includes(w)) w.done(false)
              if (live.length === 0) continue
              if (live.length > 1) {
                const exit = await run(Effect.flatMap(decodeBatch(live.flatMap((w) => w.records)), handler))
                if (Exit.isSuccess(exit)) {
                  for (const w of live) retryDelays.delete(w.payload.batch.partition)
                  succeeded()
                  for (const w of live) w.done(true)
                  continue
                }
              }
              for (const w of live) w.done(await handleUntilDone(w.records, w.payload))
            }
          } finally {
            pumping = false
          }
        }
        const handleGrouped = (records: ReadonlyArray<KafkaMessage>, payload: EachBatchPayload) =>
          new Promise<boolean>((done) => {
            waiting.push({ records, payload, done })
            void pumpHandler()
          })

        /**
         * Parks each compressed batch the consumer could not read (its marker records, ingest/bus-kafka-codecs.ts)
         * once as a dead letter; `parked` holds the offset ranges of those parked already in this fetched batch.
         * False when the partition was taken away before the broker acknowledged (then nothing is committed).
         */
        const parkUndecodable = async (
          marked: ReadonlyArray<readonly [KafkaMessage, UndecodableBatch]>, payload: EachBatchPayload, parked: Set<string>,
        ): Promise<boolean> => {
          for (const [m, undecodable] of marked) {
            const batchKey = `${undecodable.firstOffset}-${undecodable.lastOffset}`
            if (parked.has(batchKey)) continue
            let delay = 200
            for (;;) {
              if (!payload.isRunning() || payload.isStale()) return false
              if (await park(name, payload.batch.partition, m, undecodable).then(() => true, () => false)) break
              await payload.heartbeat().catch(() => undefined)
              await new Promise((r) => setTimeout(r, delay))
              delay = Math.min(delay * 2, 10_000)
            }
            parked.add(batchKey)
            await run(Effect.logError("a compressed record batch could not be read; parked it and went past it").pipe(
              Effect.annotateLogs({
                topic: name, partition: payload.batch.partition, firstOffset: undecodable.firstOffset, lastOffset: undecodable.lastOffset,
                records: undecodable.records, parkedOn: `${name}.parked`, rule: parkedRule(undecodable), defect: undecodable.reason,
              })))
          }
          return true
        }

        const eachBatch = async (payload: EachBatchPayload) => {
          const { batch } = payload
          if (batch.messages.length === 0) return
          const parked = new Set<string>()
          if (!(await runOnAssigned(payload))) return
          // A batch can take longer than the session timeout (identity, scoring, a slow insert): keep the membership.
          const beat = setInterval(() => void payload.heartbeat().catch(() => undefined), 2_000)
          handling.set(name, (handling.get(name) ?? 0) + batch.messages.length)
          if (!oldest.has(name)) oldest.set(name, Number(batch.messages[0]!.timestamp))
          try {
            for (let i = 0; i < batch.messages.length; i += maxBatch) {
              const records = batch.messages.slice(i, i + maxBatch)
              // A record that only looks like a marker (a forged header) is handled as any other record.
              const marked = records.some(marksUndecodable)
                ? records.flatMap((m) => {
                  const undecodable = undecodableBatchOf(m, name, batch.partition)
                  return undecodable === undefined ? [] : [[m, undecodable] as const]
                })
                : []
              const markers = new Set(marked.map(([m]) => m))
              const readable = marked.length === 0 ? records : records.filter((m) => !markers.has(m))
              if (readable.length > 0 && !(await handleGrouped(readable, payload))) return
              if (marked.length > 0 && !(await parkUndecodable(marked, payload, parked))) return
              const next = (BigInt(records[records.length - 1]!.offset) + 1n).toString()
              // Committed only now that the handler's effect is durable; a commit lost to a rebalance means the
              // next owner handles these records again, which the sinks' dedup makes harmless.
              await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
              payload.resolveOffset(records[records.length - 1]!.offset)
            }
          } finally {
            clearInterval(beat)
            const left = (handling.get(name) ?? 0) - batch.messages.length
            if (left <= 0) {
              handling.delete(name)
              oldest.delete(name)
            } else handling.set(name, left)
          }
        }

        yield* Effect.acquireRelease(
          Effect.promise(async () => {
            await consumer.connect()
            // Served before subscribing (kafkajs's subscribe does not wait for a topic the broker does not serve yet),
            // and created when no one published to it yet (a redirect target).
            if (!known.has(name)) {
              await ensureTopics(probe, [name], options)
              known.add(name)
            } else await untilTopicsServed(probe, [name])
            // A new group starts at the beginning: records published before any worker ran are not skipped.
            // A broadcast consumer only needs what is published from now on. Another broker of the cluster may
            // serve the topic a moment after the one the probe asked: its retriable answers are tried again.
            await retryRetriable(() => consumer.subscribe({ topics: [name], fromBeginning: !broadcast }), 8)
            await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: options.partitions, eachBatch })
          }),
          // Stopping waits for the batch in hand; what was not committed is re-delivered to the next owner.
          () => Effect.promise(() => consumer.disconnect().catch(() => undefined)).pipe(Effect.timeout(Duration.minutes(1)), Effect.ignore),
        )
      })

    return bus
  })

/** The Kafka bus as a Layer (the choice between it and the in-process bus is made in cli/layers.ts). */
export const kafkaBus = (options: KafkaBusOptions) => Layer.effect(EventBus, makeKafkaBus(options))
