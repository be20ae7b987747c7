// Crypto-shredding of the Kafka bus. A Kafka topic is an append-only log: a record cannot be deleted before its
// retention expires, so an erasure cannot remove an erased person's records from it. Instead every record value the
// Kafka bus writes is encrypted (AES-256-GCM) under a data key of the record's person key (tenant + the sender's
// strongest stated identifier, ingest/bus.ts personKeyOf), and the erasure deletes that key (consent/erasure.ts):
// the records stay on the topic and can never be read again.
// - Data keys are random, made on first use, stored wrapped (AES-256-GCM under a key-encryption key derived from the
//   data dir's secret, consent/keys.ts) in bus_data_keys (warehouse/bus-keys.ts), which edge and workers share
//   through the warehouse; each process caches what it used, bounded.
// - A record names its key in a header, `cdp-key: <key id>.<dk>`: the key id is a keyed hash of the person key
//   (never the identifier), dk the id of one of its keys. The Kafka record key, which was the person key, becomes
//   the key id, so a person's records still share a partition and keep their order.
// - One Kafka record carries every record of one person key in one publish (up to GROUP_BYTES of JSON), compressed
//   with zstd before it is sealed: a cipher costs ~50 us to set up (OpenSSL 3), which per bus record cost 5-8x the
//   bus's throughput, and sealed bytes no longer compress in Kafka's record batches.
// - A record whose key is gone belonged to an erased person key: the consumer skips it and counts it as shredded.
// The in-process bus needs none of this: it holds nothing once a batch is handled.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto"
import zlib from "node:zlib"
import { Data, Effect, Layer } from "effect"
import type { KeysShape } from "../consent/keys.ts"
import { readDataKeys, type StoredDataKey, storeDataKeys } from "../warehouse/bus-keys.ts"
import { Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import { EventBus, RecordNotJson, Topics, type Topic } from "./bus.ts"
import type { KafkaBusOptions } from "./bus-kafka.ts"

/** The header naming a record's data key. */
export const KEY_HEADER = "cdp-key"
const VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16
/** Most JSON bytes of bus records sealed into one Kafka record (well under the bus's 4 MiB request and 8 MiB batch). */
export const GROUP_BYTES = 512 * 1024
/** What a sealed payload holds: a JSON array of records as text, or the same compressed with zstd. */
const PAYLOAD_JSON = 0
const PAYLOAD_ZSTD = 1
const zstd = typeof zlib.zstdCompressSync === "function"
const ZSTD_LEVEL = { params: { [zlib.constants.ZSTD_c_compressionLevel ?? 100]: 1 } }

/** The payload of a group of records' JSON texts: compressed when that makes it smaller (zstd, Node >= 22.15). */
const payloadOf = (jsons: ReadonlyArray<string>): Buffer => {
  const text = Buffer.from(`[${jsons.join(",")}]`, "utf8")
  if (zstd && text.length >= 512) {
    const packed = zlib.zstdCompressSync(text, ZSTD_LEVEL)
    if (packed.length < text.length) return Buffer.concat([Buffer.of(PAYLOAD_ZSTD), packed])
  }
  return Buffer.concat([Buffer.of(PAYLOAD_JSON), text])
}

/** The records of a payload; throws RecordUnreadable on a format it does not know. */
const recordsOf = (payload: Buffer): ReadonlyArray<unknown> => {
  const body = payload.subarray(1)
  if (payload[0] === PAYLOAD_JSON) return JSON.parse(body.toString("utf8")) as ReadonlyArray<unknown>
  if (payload[0] === PAYLOAD_ZSTD && zstd) return JSON.parse(zlib.zstdDecompressSync(body).toString("utf8")) as ReadonlyArray<unknown>
  throw new RecordUnreadable({ reason: `payload format ${payload[0]} is not readable here` })
}

/** Data keys a process keeps in memory (about 150 bytes each): the person keys it met most recently. */
export const DEFAULT_CACHE_KEYS = 100_000

/**
 * How long a record naming a well-formed data key this warehouse neither holds nor shredded is retried (the key may
 * not have replicated yet) before it is taken for a forgery and parked as unreadable, so it stops holding its partition.
 */
export const DEFAULT_UNKNOWN_KEY_GRACE_MS = 10 * 60_000

/** The form of a `cdp-key` header the bus writes: a key id (32 hex digits) and a dk (16 hex digits). */
const KEY_HEADER_FORM = /^[0-9a-f]{32}\.[0-9a-f]{16}$/
const KEY_ID_FORM = /^[0-9a-f]{32}$/

/** The bus could not read or store data keys (the warehouse is away): publish fails, a consumer retries. */
export class DataKeysUnavailable extends Data.TaggedError("DataKeysUnavailable")<{ readonly message: string; readonly cause?: unknown }> {}

/**
 * A stored data key does not unwrap with this process's secret: the processes of one deployment hold different
 * DATA_DIR/keyed-hash.key files. Not a shredded record: the consumer keeps retrying (nothing is skipped).
 */
export class DataKeyUnwrapFailed extends Data.TaggedError("DataKeyUnwrapFailed")<{ readonly keyId: string }> {
  override get message() {
    return `a data key of the Kafka bus (key id ${this.keyId}) does not unwrap with this data dir's secret (keyed-hash.key): every process of a deployment needs the same secret`
  }
}

/**
 * A record names a data key this warehouse has neither a key nor a tombstone for: the process that wrote it keeps
 * its keys in another warehouse (processes of one deployment must share one), or the key has not replicated here
 * yet. Not a shredded record: the consumer keeps retrying (nothing is skipped).
 */
export class DataKeyUnknown extends Data.TaggedError("DataKeyUnknown")<{ readonly keyId: string }> {
  override get message() {
    return `a Kafka record names data key ${this.keyId}, which this warehouse neither holds nor shredded: every process of a deployment must share one warehouse (CDP_CLICKHOUSE_URL), or the key has not replicated yet`
  }
}

/** A record that fails authentication (altered, truncated, or sealed under another key): a defect, parked by the bus. */
export class RecordUnreadable extends Data.TaggedError("RecordUnreadable")<{ readonly reason: string }> {
  override get message() {
    return `an encrypted bus record cannot be opened: ${this.reason}`
  }
}

export interface DataKey {
  readonly keyId: string
  readonly dk: string
  readonly key: Buffer
}

/** A message as the Kafka bus sends it. */
export interface WireMessage {
  readonly key: string
  readonly value: Buffer | string
  readonly headers?: Record<string, string>
}

/** A message as the Kafka bus receives it (kafkajs's KafkaMessage has these). */
export interface ReceivedMessage {
  readonly value: Buffer | null
  readonly headers?: Record<string, Buffer | string | ReadonlyArray<Buffer | string> | undefined>
}

const headerOf = (key: Pick<DataKey, "keyId" | "dk">) => `${key.keyId}.${key.dk}`

/** Encrypts one record value: version byte, IV, ciphertext, tag; the header text is authenticated with it. */
export const sealValue = (key: DataKey, plaintext: Buffer): Buffer => {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv("aes-256-gcm", key.key, iv)
  cipher.setAAD(Buffer.from(headerOf(key), "utf8"))
  const body = cipher.update(plaintext)
  const final = cipher.final()
  return Buffer.concat([Buffer.of(VERSION), iv, body, final, cipher.getAuthTag()])
}

/** Decrypts one record value sealed under `key` with this header; throws RecordUnreadable when it does not authenticate. */
export const openValue = (key: Buffer, header: string, value: Buffer): Buffer => {
  if (value.length < 1 + IV_BYTES + TAG_BYTES || value[0] !== VERSION) {
    throw new RecordUnreadable({ reason: value[0] === VERSION ? "it is too short" : `unknown format version ${value[0]}` })
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, value.subarray(1, 1 + IV_BYTES))
    decipher.setAAD(Buffer.from(header, "utf8"))
    decipher.setAuthTag(value.subarray(value.length - TAG_BYTES))
    return Buffer.concat([decipher.update(value.subarray(1 + IV_BYTES, value.length - TAG_BYTES)), decipher.final()])
  } catch {
    throw new RecordUnreadable({ reason: "it does not authenticate (altered, or sealed under another key)" })
  }
}

/** What the bus's data keys are wrapped and named with, derived from the deployment's secret. */
export interface KeyDerivation {
  /** Key id of a person key: keyed hash, 128 bits, hex. */
  readonly keyIdOf: (personKey: string) => string
  readonly wrap: (key: DataKey) => string
  /** Throws DataKeyUnwrapFailed when the wrapping key differs. */
  readonly unwrap: (stored: StoredDataKey) => Buffer
}

export const keyDerivation = (keys: KeysShape): KeyDerivation => {
  const idKey = Buffer.from(keys.derive("bus data key id"))
  const kek = Buffer.from(keys.derive("bus data key wrapping"))
  return {
    keyIdOf: (personKey) => createHmac("sha256", idKey).update(personKey, "utf8").digest("hex").slice(0, 32),
    wrap: (key) => sealValue({ keyId: key.keyId, dk: key.dk, key: kek }, key.key).toString("hex"),
    unwrap: (stored) => {
      try {
        return openValue(kek, headerOf(stored), Buffer.from(stored.wrapped, "hex"))
      } catch {
        throw new DataKeyUnwrapFailed({ keyId: stored.keyId })
      }
    },
  }
}

/** Where data keys are kept: bus_data_keys in the warehouse (tests may give another). */
export interface DataKeyStore {
  readonly read: (keyIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<StoredDataKey>, DataKeysUnavailable>
  readonly store: (keys: ReadonlyArray<StoredDataKey>) => Effect.Effect<void, DataKeysUnavailable>
}

export const warehouseKeyStore = (warehouse: WarehouseShape): DataKeyStore => {
  const failed = (what: string) => (e: { readonly message: string }) =>
    new DataKeysUnavailable({ message: `the Kafka bus's data keys could not be ${what} (${warehouse.backend.location}): ${e.message}`, cause: e })
  return {
    read: (ids) => readDataKeys(ids).pipe(Effect.provideService(Warehouse, warehouse), Effect.mapError(failed("read"))),
    store: (keys) => storeDataKeys(keys).pipe(Effect.provideService(Warehouse, warehouse), Effect.mapError(failed("stored"))),
  }
}

export interface BusCodec {
  /**
   * The messages of a publish: the records of each person key together (in their order, up to GROUP_BYTES a message),
   * sealed under that person key's data key (made and stored first when new); a Kafka key that was the person key
   * becomes the key id. Topics marked `plain` are written as JSON, a record a message.
   */
  readonly encode: <A>(topic: Topic<A>, records: ReadonlyArray<A>, partitionKey: (record: A) => string) =>
    Effect.Effect<ReadonlyArray<WireMessage>, DataKeysUnavailable>
  /**
   * The records of received messages, in order, without those whose data key an erasure shredded (its tombstone is
   * stored: the Kafka messages are counted in `shredded` and skipped). Fails while keys cannot be read or unwrapped, or a key is unknown here (retried by the bus,
   * never skipped) for up to the unknown-key grace; dies (the bus parks the record) with RecordUnreadable on a record that
   * does not authenticate, whose header is not of the bus's form, or whose key stayed unknown past the grace, and with
   * RecordNotJson on an unsealed value that is not JSON.
   */
  readonly decode: (messages: ReadonlyArray<ReceivedMessage>) =>
    Effect.Effect<{ readonly records: ReadonlyArray<unknown>; readonly shredded: number }, DataKeysUnavailable | DataKeyUnwrapFailed | DataKeyUnknown>
  /** Drops these key ids from the cache (an erasure shredded them), so no record is sealed under a deleted key. */
  readonly forget: (keyIds: ReadonlyArray<string>) => void
  /**
   * The tenant a data key was made for (stored with it), for a record the bus parks: its Kafka key is the key id, not
   * the tenant. Undefined for a key this warehouse never held (a forged header).
   */
  readonly tenantOf: (keyId: string) => Effect.Effect<string | undefined, DataKeysUnavailable>
  /** Records skipped because their key was shredded, since start. */
  readonly shredded: () => number
}

/** A record written without a seal (before encryption was on, or by a bus without it): plain JSON. */
const plainRecord = (value: Buffer): unknown => {
  try {
    return JSON.parse(value.length === 0 ? "null" : value.toString("utf8"))
  } catch {
    // JSON.parse's own message quotes the record's text (personal data): the cause says what, not what it held.
    throw new RecordNotJson({ bytes: value.length })
  }
}

export const headerText = (v: unknown): string | undefined =>
  typeof v === "string" ? v : Buffer.isBuffer(v) ? v.toString("utf8") : Array.isArray(v) && v.length > 0 ? headerText(v[0]) : undefined

export const makeBusCodec = (keys: KeysShape, store: DataKeyStore, cacheKeys = DEFAULT_CACHE_KEYS, unknownKeyGraceMs = DEFAULT_UNKNOWN_KEY_GRACE_MS): BusCodec => {
  const derivation = keyDerivation(keys)
  /** key id -> its keys by dk, and the dk this process seals with; least recently used first. */
  const cache = new Map<string, { readonly keys: Map<string, Buffer>; sealWith: string | undefined }>()
  const idOf = new Map<string, string>()
  /** Key ids records named that were neither held nor shredded here, with when this process first met each. */
  const unknownSince = new Map<string, number>()
  let shredded = 0

  /** Fails with DataKeyUnknown (retried) during the grace, then dies with RecordUnreadable (parked). */
  const unknownKey = (keyId: string) => {
    const now = Date.now()
    const since = unknownSince.get(keyId) ?? now
    if (!unknownSince.has(keyId)) {
      if (unknownSince.size >= cacheKeys) unknownSince.delete(unknownSince.keys().next().value!)
      unknownSince.set(keyId, now)
    }
    if (now - since < unknownKeyGraceMs) return Effect.fail(new DataKeyUnknown({ keyId }))
    return Effect.die(new RecordUnreadable({
      reason: `it names data key ${keyId}, which this warehouse has neither held nor shredded for ${Math.round((now - since) / 1000)} s`,
    }))
  }

  const touch = (keyId: string) => {
    const entry = cache.get(keyId)
    if (entry === undefined) return undefined
    cache.delete(keyId)
    cache.set(keyId, entry)
    return entry
  }
  /** Bounds the cache between calls, never during one (a call may need more keys than the bound, all at once). */
  const trim = () => {
    while (cache.size > cacheKeys) cache.delete(cache.keys().next().value!)
  }
  const remember = (stored: StoredDataKey, key: Buffer, sealWith: boolean) => {
    let entry = cache.get(stored.keyId)
    if (entry === undefined) {
      entry = { keys: new Map(), sealWith: undefined }
      cache.set(stored.keyId, entry)
    }
    entry.keys.set(stored.dk, key)
    // The smallest dk is the one every process picks when processes raced to make a key.
    if (sealWith && (entry.sealWith === undefined || stored.dk < entry.sealWith)) entry.sealWith = stored.dk
  }
  /** The key id of a person key (memoised: the hot path hashes each person key once). */
  const keyIdOf = (personKey: string) => {
    let id = idOf.get(personKey)
    if (id === undefined) {
      id = derivation.keyIdOf(personKey)
      if (idOf.size >= cacheKeys) idOf.delete(idOf.keys().next().value!)
      idOf.set(personKey, id)
    }
    return id
  }
  /** Reads and caches the keys of these ids; returns the ids that were shredded (have a tombstone). */
  const load = (keyIds: ReadonlyArray<string>, sealWith: boolean) =>
    Effect.gen(function* () {
      const stored = yield* store.read(keyIds)
      const tombstoned = new Set<string>()
      for (const s of stored) {
        if (s.dk === "") {
          tombstoned.add(s.keyId)
          continue
        }
        const key = yield* Effect.try({ try: () => derivation.unwrap(s), catch: (e) => e as DataKeyUnwrapFailed })
        remember(s, key, sealWith)
      }
      return tombstoned
    })

  const encode: BusCodec["encode"] = (topic, records, partitionKey) =>
    Effect.gen(function* () {
      if (topic.plain === true) return records.map((r) => ({ key: partitionKey(r), value: JSON.stringify(r) }))
      trim()
      const personOf = topic.person ?? topic.key
      const ids = records.map((r) => keyIdOf(personOf(r)))
      const missing = [...new Set(ids.filter((id) => touch(id)?.sealWith === undefined))]
      if (missing.length > 0) {
        yield* load(missing, true).pipe(Effect.mapError((e) => e._tag === "DataKeyUnwrapFailed" ? new DataKeysUnavailable({ message: e.message, cause: e }) : e))
        const made: Array<StoredDataKey> = []
        const fresh: Array<[StoredDataKey, Buffer]> = []
        for (const id of missing) {
          if (cache.get(id)?.sealWith !== undefined) continue
          const key = randomBytes(32)
          const dk = randomBytes(8).toString("hex")
          const i = ids.indexOf(id)
          const stored = { keyId: id, dk, tenant: topic.tenant?.(records[i]!) ?? "", wrapped: derivation.wrap({ keyId: id, dk, key }) }
          made.push(stored)
          fresh.push([stored, key])
        }
        // Stored before any record is sealed under it: a record never names a key a consumer cannot find.
        yield* store.store(made)
        for (const [stored, key] of fresh) remember(stored, key, true)
      }
      // One person's records go together, in order; a full group is sent before the next group of the same person.
      const out: Array<WireMessage> = []
      const open = new Map<string, { readonly keyId: string; readonly partition: string; jsons: Array<string>; bytes: number }>()
      const seal = (g: { readonly keyId: string; readonly partition: string; jsons: Array<string> }) => {
        const entry = cache.get(g.keyId)!
        const key = { keyId: g.keyId, dk: entry.sealWith!, key: entry.keys.get(entry.sealWith!)! }
        out.push({ key: g.partition, value: sealValue(key, payloadOf(g.jsons)), headers: { [KEY_HEADER]: headerOf(key) } })
      }
      records.forEach((r, i) => {
        const keyId = ids[i]!
        const partition = partitionKey(r)
        const kafkaKey = partition === personOf(r) ? keyId : partition
        const json = JSON.stringify(r)
        const slot = `${keyId}\u0000${kafkaKey}`
        let g = open.get(slot)
        if (g !== undefined && g.bytes + json.length > GROUP_BYTES) {
          seal(g)
          g = undefined
        }
        if (g === undefined) open.set(slot, g = { keyId, partition: kafkaKey, jsons: [], bytes: 0 })
        g.jsons.push(json)
        g.bytes += json.length + 1
        if (g.bytes > GROUP_BYTES) {
          seal(g)
          open.delete(slot)
        }
      })
      for (const g of open.values()) seal(g)
      return out
    })

  const decode: BusCodec["decode"] = (messages) =>
    Effect.gen(function* () {
      trim()
      const headers = messages.map((m) => headerText(m.headers?.[KEY_HEADER]))
      const wanted = new Set<string>()
      for (const h of headers) {
        if (h === undefined || !KEY_HEADER_FORM.test(h)) continue
        const [keyId, dk] = h.split(".")
        if (touch(keyId!)?.keys.has(dk!) !== true) wanted.add(keyId!)
      }
      const tombstoned = wanted.size > 0 ? yield* load([...wanted], false) : new Set<string>()
      const records: Array<unknown> = []
      let gone = 0
      for (let i = 0; i < messages.length; i++) {
        const value = messages[i]!.value ?? Buffer.alloc(0)
        const h = headers[i]
        // Written before encryption was on (or by a bus without it): plain JSON.
        if (h === undefined) {
          records.push(plainRecord(value))
          continue
        }
        // A header the bus never writes (a producer's forgery): no key can ever open it.
        if (!KEY_HEADER_FORM.test(h)) throw new RecordUnreadable({ reason: `its ${KEY_HEADER} header is not a key id and key (${h.length} characters)` })
        const [keyId, dk] = h.split(".")
        const key = cache.get(keyId!)?.keys.get(dk!)
        if (key !== undefined) {
          unknownSince.delete(keyId!)
          for (const r of recordsOf(openValue(key, h, value))) records.push(r)
        } else if (tombstoned.has(keyId!)) gone++
        else return yield* unknownKey(keyId!)
      }
      shredded += gone
      return { records, shredded: gone }
    })

  return {
    encode,
    decode,
    forget: (keyIds) => {
      for (const id of keyIds) cache.delete(id)
    },
    tenantOf: (keyId) => KEY_ID_FORM.test(keyId)
      ? Effect.map(store.read([keyId]), (stored) => stored.find((s) => s.keyId === keyId)?.tenant)
      : Effect.succeed(undefined),
    shredded: () => shredded,
  }
}

/**
 * The Kafka bus with its record values encrypted per person key (CDP_KAFKA_ENCRYPTION=on, the default). Listens on
 * identity_changes for erasures' notices of shredded keys (every process reads every notice), so no process keeps
 * sealing under a key an erasure deleted; needs the warehouse the keys are kept in.
 */
export const encryptedKafkaBus = (options: KafkaBusOptions, keys: KeysShape, unknownKeyGraceMs = DEFAULT_UNKNOWN_KEY_GRACE_MS) =>
  Layer.effect(EventBus, Effect.gen(function* () {
    const codec = makeBusCodec(keys, warehouseKeyStore(yield* Warehouse), DEFAULT_CACHE_KEYS, unknownKeyGraceMs)
    // kafkajs is loaded only by a process that uses Kafka (erasure imports this module for the key ids).
    const { makeKafkaBus } = yield* Effect.promise(() => import("./bus-kafka.ts"))
    const bus = yield* makeKafkaBus({ ...options, codec })
    yield* bus.consume(Topics.identityChanges, (changes) => Effect.sync(() => codec.forget(changes.flatMap((c) => c.shreddedKeys ?? []))), { broadcast: true })
    return bus
  }))
