// Decompression of the record batches other Kafka producers compress with Snappy or LZ4 (the Java client's and
// librdkafka's usual codecs). kafkajs has neither: a fetch holding one such batch made it throw "Snappy compression not
// implemented" and crash the consumer, which then consumed nothing more of that topic. cdp never produces these
// codecs; it only reads them: Snappy with snappyjs (pure JavaScript, what kafkajs-snappy uses), LZ4 frames in plain
// TypeScript below (lz4js, the pure JavaScript decoder, writes past its buffer unchecked and reads one frame only;
// kafkajs-lz4 builds a native add-on). Neither may expand a batch past MAX_BATCH_BYTES: a few megabytes of crafted
// input would otherwise take gigabytes of memory.
import { createRequire } from "node:module"
import { Data } from "effect"

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

/** kafkajs codecs (its CompressionCodecs entries) that read these batches and refuse to write them. */
export const readOnlyCodec = (name: string, decompress: (b: Buffer) => Buffer) => () => ({
  compress: () => Promise.reject(new Error(`cdp does not produce ${name}-compressed batches`)),
  decompress: (buffer: Buffer) => new Promise<Buffer>((resolve, reject) => {
    try {
      resolve(decompress(buffer))
    } catch (e) {
      reject(e)
    }
  }),
})
