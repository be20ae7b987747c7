// Decompression of the record batches other Kafka producers compress with Snappy or LZ4 (the Java client's and
// librdkafka's usual codecs). kafkajs has neither: a fetch holding one such batch made it throw "Snappy compression not
// implemented" and crash the consumer, which then consumed nothing more of that topic. cdp never produces these
// codecs; it only reads them, in plain TypeScript (no native add-on).
import { Data } from "effect"

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
    const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + n))
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

/** One raw Snappy block (the format of Snappy.compress). */
const snappyBlock = (input: Buffer, out: Output) => {
  const fail = failWith("Snappy")
  let i = 0
  let expected = 0
  for (let shift = 0; ; shift += 7) {
    if (i >= input.length || shift > 28) fail("its length is not a varint")
    const b = input[i++]!
    expected += (b & 0x7f) * 2 ** shift
    if (b < 0x80) break
  }
  const start = out.length
  const need = (n: number) => {
    if (i + n > input.length) fail("it ends inside an element")
  }
  while (i < input.length) {
    const tag = input[i++]!
    const kind = tag & 3
    if (kind === 0) {
      let n = tag >> 2
      if (n >= 60) {
        const width = n - 59
        need(width)
        n = input.readUIntLE(i, width)
        i += width
      }
      n += 1
      need(n)
      out.literal(input, i, n)
      i += n
    } else if (kind === 1) {
      need(1)
      out.backReference(((tag >> 5) << 8) | input[i++]!, ((tag >> 2) & 7) + 4, fail)
    } else if (kind === 2) {
      need(2)
      out.backReference(input.readUInt16LE(i), (tag >> 2) + 1, fail)
      i += 2
    } else {
      need(4)
      out.backReference(input.readUInt32LE(i), (tag >> 2) + 1, fail)
      i += 4
    }
  }
  if (out.length - start !== expected) fail(`it holds ${out.length - start} bytes, not the ${expected} it states`)
}

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])

/** Snappy as Kafka producers write it: xerial's framing (the Java client) or one raw block (librdkafka, kafkajs-snappy). */
export const snappyDecompress = (input: Buffer): Buffer => {
  const out = new Output(input.length * 3)
  if (input.length >= 16 && input.subarray(0, 8).equals(XERIAL_MAGIC)) {
    let i = 16
    while (i < input.length) {
      if (i + 4 > input.length) failWith("Snappy")("a frame's length is cut off")
      const n = input.readUInt32BE(i)
      i += 4
      if (i + n > input.length) failWith("Snappy")("a frame is cut off")
      snappyBlock(input.subarray(i, i + n), out)
      i += n
    }
    return out.done()
  }
  snappyBlock(input, out)
  return out.done()
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
