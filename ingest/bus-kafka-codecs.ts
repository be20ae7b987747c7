// Decompression of the record batches other Kafka producers compress with Snappy or LZ4 (the Java client's and
// librdkafka's usual codecs). kafkajs has neither: a fetch holding one such batch made it throw "Snappy compression not
// implemented" and crash the consumer, which then consumed nothing more of that topic. cdp never produces these
// codecs; it only reads them: Snappy with snappyjs (pure JavaScript, what kafkajs-snappy uses), LZ4 frames in plain
// TypeScript below (lz4js, the pure JavaScript decoder, writes past its buffer unchecked and reads one frame only;
// kafkajs-lz4 builds a native add-on). Neither may expand a batch past MAX_BATCH_BYTES: a few megabytes of crafted
// input would otherwise take gigabytes of memory.
import { createRequire } from "node:module"
import { promisify } from "node:util"
import zlib from "node:zlib"
import { Data } from "effect"
import type { KafkaMessage } from "kafkajs"

/** The most a batch may expand to: 16 times the largest batch the bus's topics take (8 MiB). */
export const MAX_BATCH_BYTES = 128 * 1024 * 1024

/** snappyjs (no typings of its own): uncompress refuses a stated length over maxLength before allocating it. */
const snappy = createRequire(import.meta.url)("snappyjs") as { readonly uncompress: (compressed: Uint8Array, maxLength?: number) => Uint8Array }

/** A compressed record batch that does not decompress (truncated or not of its codec's format). */
export class CompressedBatchCorrupt extends Data.TaggedError("CompressedBatchCorrupt")<{ readonly codec: string; readonly reason: string }> {
  override get message() {
    return `a Kafka record batch compressed with ${this.codec} is corrupt: ${this.reason}`
  }
}

/** An output buffer that grows by doubling; copies may overlap their own output (LZ77 back references). */
class Output {
  bytes: Buffer
  length = 0
  constructor(capacity: number) {
    this.bytes = Buffer.allocUnsafe(Math.max(64, capacity))
  }
  private room(n: number) {
    if (this.length + n <= this.bytes.length) return
    if (this.length + n > MAX_BATCH_BYTES) throw new CompressedBatchCorrupt({ codec: "LZ4", reason: tooLarge })
    const next = Buffer.allocUnsafe(Math.min(MAX_BATCH_BYTES, Math.max(this.bytes.length * 2, this.length + n)))
    this.bytes.copy(next, 0, 0, this.length)
    this.bytes = next
  }
  literal(from: Buffer, start: number, n: number) {
    this.room(n)
    from.copy(this.bytes, this.length, start, start + n)
    this.length += n
  }
  /** Copies n bytes from `offset` back; fails when that reaches before the start. */
  backReference(offset: number, n: number, fail: (reason: string) => never) {
    if (offset <= 0 || offset > this.length) fail(`a back reference of ${offset} bytes reaches before the start`)
    this.room(n)
    for (let i = 0; i < n; i++) this.bytes[this.length + i] = this.bytes[this.length - offset + i]!
    this.length += n
  }
  done() {
    return this.bytes.subarray(0, this.length)
  }
}

const failWith = (codec: string) => (reason: string): never => {
  throw new CompressedBatchCorrupt({ codec, reason })
}

const tooLarge = `it expands past ${MAX_BATCH_BYTES / 1024 / 1024} MiB, more than any batch cdp takes`

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])

/** One raw Snappy block, at most `room` bytes once uncompressed. */
const snappyBlock = (block: Buffer, room: number): Buffer => {
  let out: Uint8Array
  try {
    out = snappy.uncompress(block, room)
  } catch (e) {
    const said = e instanceof Error ? e.message : String(e)
    throw new CompressedBatchCorrupt({ codec: "Snappy", reason: /too big/.test(said) ? tooLarge : `snappyjs: ${said}` })
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
}

/** Snappy as Kafka producers write it: xerial's framing (the Java client) or one raw block (librdkafka, kafkajs-snappy). */
export const snappyDecompress = (input: Buffer): Buffer => {
  if (!(input.length >= 16 && input.subarray(0, 8).equals(XERIAL_MAGIC))) return snappyBlock(input, MAX_BATCH_BYTES)
  const blocks: Array<Buffer> = []
  let total = 0
  let i = 16
  while (i < input.length) {
    if (i + 4 > input.length) throw new CompressedBatchCorrupt({ codec: "Snappy", reason: "a frame's length is cut off" })
    const n = input.readUInt32BE(i)
    i += 4
    if (i + n > input.length) throw new CompressedBatchCorrupt({ codec: "Snappy", reason: "a frame is cut off" })
    const block = snappyBlock(input.subarray(i, i + n), MAX_BATCH_BYTES - total)
    blocks.push(block)
    total += block.length
    i += n
  }
  return Buffer.concat(blocks, total)
}

/** One LZ4 block (sequences of literals and matches), appended to `out` (matches may reach into earlier blocks). */
const lz4Block = (input: Buffer, out: Output) => {
  const fail = failWith("LZ4")
  let i = 0
  const lengthFrom = (n: number) => {
    if (n !== 15) return n
    for (;;) {
      if (i >= input.length) fail("a length runs past the block")
      const b = input[i++]!
      n += b
      if (b !== 255) return n
    }
  }
  while (i < input.length) {
    const token = input[i++]!
    const literals = lengthFrom(token >> 4)
    if (i + literals > input.length) fail("literals run past the block")
    out.literal(input, i, literals)
    i += literals
    if (i >= input.length) break
    if (i + 2 > input.length) fail("a match offset is cut off")
    const offset = input.readUInt16LE(i)
    i += 2
    out.backReference(offset, lengthFrom(token & 15) + 4, fail)
  }
}

const LZ4_MAGIC = 0x184d2204

/** LZ4's frame format (what Kafka producers write), one or more frames; checksums are not verified (Kafka's CRC is). */
export const lz4Decompress = (input: Buffer): Buffer => {
  const fail = failWith("LZ4")
  const out = new Output(input.length * 3)
  let i = 0
  const need = (n: number) => {
    if (i + n > input.length) fail("it is cut off")
  }
  while (i < input.length) {
    need(4)
    const magic = input.readUInt32LE(i)
    i += 4
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      need(4)
      i += 4 + input.readUInt32LE(i)
      continue
    }
    if (magic !== LZ4_MAGIC) fail("it does not start with LZ4's frame magic")
    need(2)
    const flags = input[i]!
    i += 2
    if (flags >> 6 !== 1) fail(`frame version ${flags >> 6} is unknown`)
    const blockChecksums = (flags & 0x10) !== 0
    i += ((flags & 0x08) !== 0 ? 8 : 0) + ((flags & 0x01) !== 0 ? 4 : 0) + 1
    for (;;) {
      need(4)
      const size = input.readUInt32LE(i)
      i += 4
      if (size === 0) break
      const n = size & 0x7fffffff
      need(n)
      if ((size & 0x80000000) !== 0) out.literal(input, i, n)
      else lz4Block(input.subarray(i, i + n), out)
      i += n + (blockChecksums ? 4 : 0)
    }
    if ((flags & 0x04) !== 0) i += 4
  }
  return out.done()
}

const zlibFailure = (codec: string, e: unknown): CompressedBatchCorrupt =>
  e instanceof CompressedBatchCorrupt ? e
  : new CompressedBatchCorrupt({
    codec,
    reason: (e as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE" ? tooLarge : `zlib: ${e instanceof Error ? e.message : String(e)}`,
  })

/** gzip (kafkajs's own codec had no bound: a batch of a few hundred kilobytes could expand to gigabytes). */
export const gzipDecompress = (input: Buffer): Promise<Buffer> =>
  promisify(zlib.unzip)(input, { maxOutputLength: MAX_BATCH_BYTES }).catch((e: unknown) => Promise.reject(zlibFailure("gzip", e)))

const ZSTD_MAGIC = 0xfd2fb528

/**
 * The size a zstd frame's header states its content has (RFC 8878 3.1.1.1), or undefined when it states none. The bus's
 * producer states it (pledgedSrcSize, ingest/bus-kafka.ts); Node's streaming compression, which kafkajs's codec
 * used before, does not.
 */
export const zstdContentSize = (frame: Buffer): number | undefined => {
  if (frame.length < 5 || frame.readUInt32LE(0) !== ZSTD_MAGIC) return undefined
  const descriptor = frame[4]!
  const singleSegment = (descriptor & 0x20) !== 0
  const sizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6]!
  if (sizeBytes === 0) return undefined
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 0x03]!
  if (frame.length < at + sizeBytes) return undefined
  return sizeBytes === 1 ? frame[at]!
    : sizeBytes === 2 ? frame.readUInt16LE(at) + 256
    : sizeBytes === 4 ? frame.readUInt32LE(at)
    : Number(frame.readBigUInt64LE(at))
}

/**
 * zlib's output buffer for a zstd batch: the size its first frame states (else eight times the compressed bytes), at
 * least 64 KiB and at most 8 MiB (what a false header can make it allocate; the bound on the output stays
 * MAX_BATCH_BYTES). With zlib's default of 16 KiB a batch of a few MiB came back in hundreds of pieces, each a call
 * into JavaScript and a copy: a 720 KB batch took 2.0-2.8 ms of CPU to decompress, 1.0-1.15 ms with one buffer.
 */
const zstdChunkSize = (input: Buffer) =>
  Math.min(8 * 1024 * 1024, Math.max(64 * 1024, zstdContentSize(input) ?? input.length * 8))

/** Zstandard from node:zlib (Node >= 22.15), with the same bound. */
export const zstdDecompress = (input: Buffer): Promise<Buffer> =>
  promisify(zlib.zstdDecompress)(input, { maxOutputLength: MAX_BATCH_BYTES, chunkSize: zstdChunkSize(input) })
    .catch((e: unknown) => Promise.reject(zlibFailure("zstd", e)))

// ── A batch that does not decompress: skipped as marker records, never a stopped consumer ─────────────────────────
//
// kafkajs decodes a whole fetch before the consumer sees any of it, and a codec's decompress that throws fails that
// fetch: the consumer fetched the same offset again forever and nothing behind the batch on its partition was read.
// kafkajs has no hook to skip a batch it cannot decode, and its record batch decoder is not reachable from outside
// (the fetch response captured it when loaded). The one place cdp's code runs inside that decoding is the codec, so
// the codec answers for such a batch: instead of throwing, decompress returns, as the batch's records, one marker
// record per record the batch's header counts, each with no key and no value and the header UNDECODABLE_HEADER
// naming the defect, the codec and the batch's offsets. The last marker's offset is the batch's last, so the
// consumer resolves and commits past the whole batch; the bus parks the batch as one dead letter
// (ingest/bus-kafka.ts) and goes on. The count, first offset and last offset delta are read from the batch header
// just before the compressed bytes (kafkajs hands decompress a view into the fetch response, not a copy): that
// header is checked (magic 2, its length ending where the compressed bytes end, this codec in its attributes)
// and, when it is not there, the error is thrown as before.

/** The record header a marker record of an undecodable batch carries: JSON of UndecodableBatch's fields. */
export const UNDECODABLE_HEADER = "cdp-batch-undecodable"

/** A compressed record batch the consumer cannot read, with where it is. */
export class UndecodableBatch extends Data.TaggedError("UndecodableBatch")<{
  readonly codec: string
  /** Expands past MAX_BATCH_BYTES (else corrupt). */
  readonly tooLarge: boolean
  readonly reason: string
  readonly firstOffset: string
  readonly lastOffset: string
  readonly records: number
  readonly topic: string
  readonly partition: number
}> {
  override get message() {
    return `a Kafka record batch compressed with ${this.codec} ${this.tooLarge ? "is too large" : "is corrupt"}: ${this.reason}; ` +
      `its ${this.records} record(s), offsets ${this.firstOffset} to ${this.lastOffset} of topic ${this.topic} partition ${this.partition}, were not read`
  }
}

const BATCH_HEADER_BYTES = 61
const RECORD_BATCH_MAGIC = 2

const zigzag = (n: number) => (n << 1) ^ (n >> 31)
const varint = (n: number): Array<number> => {
  const out: Array<number> = []
  let v = zigzag(n) >>> 0
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80)
    v >>>= 7
  }
  out.push(v)
  return out
}

/** The batch header before `compressed` when it is there (see above); undefined when it is not. */
const batchHeaderOf = (compressed: Buffer, codecType: number) => {
  if (compressed.byteOffset < BATCH_HEADER_BYTES) return undefined
  const h = Buffer.from(compressed.buffer, compressed.byteOffset - BATCH_HEADER_BYTES, BATCH_HEADER_BYTES)
  if (h.readInt8(16) !== RECORD_BATCH_MAGIC || h.readInt32BE(8) !== BATCH_HEADER_BYTES - 12 + compressed.length) return undefined
  if ((h.readInt16BE(21) & 0x07) !== codecType) return undefined
  const records = h.readInt32BE(57)
  const lastOffsetDelta = h.readInt32BE(23)
  if (records <= 0 || lastOffsetDelta < 0) return undefined
  const firstOffset = h.readBigInt64BE(0)
  return { records, lastOffsetDelta, firstOffset: firstOffset.toString(), lastOffset: (firstOffset + BigInt(lastOffsetDelta)).toString() }
}

/**
 * The marker records of an undecodable batch, as kafkajs reads decompressed records: undefined when they would take
 * more than MAX_BATCH_BYTES (a header counting millions of records), and the error then stops the consumer as before.
 */
export const undecodableMarkers = (compressed: Buffer, codecType: number, failure: CompressedBatchCorrupt): Buffer | undefined => {
  const header = batchHeaderOf(compressed, codecType)
  if (header === undefined) return undefined
  const detail = Buffer.from(JSON.stringify({
    codec: failure.codec, tooLarge: failure.reason === tooLarge, reason: failure.reason,
    firstOffset: header.firstOffset, lastOffset: header.lastOffset, records: header.records,
  }))
  const name = Buffer.from(UNDECODABLE_HEADER)
  const tail = [...varint(-1), ...varint(-1), ...varint(1), ...varint(name.length)]
  const record = (delta: number) => {
    const body = [0, 0, ...varint(delta), ...tail]
    const length = body.length + name.length + varint(detail.length).length + detail.length
    return { head: Buffer.from([...varint(length), ...body]), length }
  }
  const size = record(header.lastOffsetDelta).head.length + name.length + varint(detail.length).length + detail.length
  if (size * header.records > MAX_BATCH_BYTES) return undefined
  const detailLength = Buffer.from(varint(detail.length))
  const parts: Array<Buffer> = []
  for (let i = 0; i < header.records; i++) {
    // The last marker carries the batch's last offset (records removed by compaction leave gaps before it).
    const { head } = record(i === header.records - 1 ? header.lastOffsetDelta : Math.min(i, header.lastOffsetDelta))
    parts.push(head, name, detailLength, detail)
  }
  return Buffer.concat(parts)
}

/** Whether a record is a marker of an undecodable batch (cheap: checked on every record the consumer gets). */
export const marksUndecodable = (m: KafkaMessage): boolean =>
  m.key === null && m.value === null && m.headers?.[UNDECODABLE_HEADER] !== undefined

/** The undecodable batch a record marks (undefined for every real record). */
export const undecodableBatchOf = (m: KafkaMessage, topic: string, partition: number): UndecodableBatch | undefined => {
  const header = m.headers?.[UNDECODABLE_HEADER]
  if (header === undefined || m.key !== null || m.value !== null) return undefined
  try {
    const d = JSON.parse(String(header)) as Omit<UndecodableBatch, "topic" | "partition">
    // A marker lies within the batch it names: a record forging the header otherwise is read as any other record.
    const at = BigInt(m.offset)
    if (!(BigInt(String(d.firstOffset)) <= at && at <= BigInt(String(d.lastOffset)))) return undefined
    return new UndecodableBatch({
      codec: String(d.codec), tooLarge: d.tooLarge === true, reason: String(d.reason), firstOffset: String(d.firstOffset),
      lastOffset: String(d.lastOffset), records: Number(d.records), topic, partition,
    })
  } catch {
    return undefined
  }
}

/**
 * A kafkajs codec (a CompressionCodecs entry) of compression type `codecType`: reads with `decompress`, a batch it
 * cannot read becomes marker records (above); writes with `compress`, or refuses to when cdp never produces it.
 */
export const readingCodec = (name: string, codecType: number, decompress: (b: Buffer) => Buffer | Promise<Buffer>, compress?: (encoder: { buffer: Buffer }) => Promise<Buffer>) => () => ({
  compress: compress ?? (() => Promise.reject(new Error(`cdp does not produce ${name}-compressed batches`))),
  decompress: async (buffer: Buffer): Promise<Buffer> => {
    try {
      return await decompress(buffer)
    } catch (e) {
      const failure = e instanceof CompressedBatchCorrupt ? e : new CompressedBatchCorrupt({ codec: name, reason: e instanceof Error ? e.message : String(e) })
      const markers = undecodableMarkers(buffer, codecType, failure)
      if (markers === undefined) throw failure
      return markers
    }
  },
})
