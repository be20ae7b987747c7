// kafkajs 2.2.4 (its last release) encodes every produced record into an Encoder whose buffers are made with
// Buffer.alloc: a zero-filled 512-byte ArrayBuffer of its own per record, then another, zero-filled again, when a
// ~1 KB value does not fit, and the same doubling for the record batch. In a --cpu-prof profile of 200,000 records
// those allocations were the largest cost of the producer (about 27 µs a record, with the garbage collection of
// the ArrayBuffers on top). Here its Encoder takes its buffers from large shared slabs, uninitialised, and only when
// it first writes: the same bytes (an Encoder only ever exposes what it wrote: `buffer` is buf[0, offset)),
// checked record for record against kafkajs's own Encoder by test/ingest/bus-kafka-encoder.test.ts.
import { createRequire } from "node:module"

interface KafkaEncoder {
  buf: Buffer
  offset: number
}
export interface KafkaEncoderClass {
  nextPowerOfTwo(value: number): number
  readonly prototype: KafkaEncoder & { ensureAvailable(length: number): void; writeUVarInt(value: number): unknown }
}

/** The smallest buffer an Encoder grows to: a record's key, lengths and a short value fit without a second growth. */
const FIRST_SIZE = 512

const powerOfTwoAtLeast = (n: number) => (n <= FIRST_SIZE ? FIRST_SIZE : 2 ** Math.ceil(Math.log2(n)))

/**
 * Encoders' buffers are cut from slabs of 1 MiB: Node's own pool is 8 KiB, a new ArrayBuffer every four ~2 KB
 * records, which still showed in the profile. A slab lives while any record cut from it does (a produce request).
 */
const SLAB_SIZE = 1024 * 1024
let slab = Buffer.allocUnsafeSlow(0)
let slabUsed = 0
const cut = (size: number): Buffer => {
  if (size > SLAB_SIZE / 8) return Buffer.allocUnsafeSlow(size)
  if (slabUsed + size > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE)
    slabUsed = 0
  }
  const piece = slab.subarray(slabUsed, slabUsed + size)
  // Pieces start 8-byte aligned, as Node's pool keeps them.
  slabUsed += (size + 7) & ~7
  return piece
}

const done = new WeakSet<object>()

/** Applies the change to an Encoder class (kafkajs's own by default: all its modules share that one class). */
export const patchKafkaEncoder = (Encoder: KafkaEncoderClass = createRequire(import.meta.url)("kafkajs/src/protocol/encoder.js") as KafkaEncoderClass) => {
  if (done.has(Encoder)) return
  done.add(Encoder)
  // The constructor is `this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))`, and nothing else in kafkajs
  // calls nextPowerOfTwo (ensureAvailable below no longer does): an Encoder starts empty and allocates on its first write.
  Encoder.nextPowerOfTwo = () => 0
  Encoder.prototype.ensureAvailable = function (this: KafkaEncoder, length: number) {
    const needed = this.offset + length
    if (needed <= this.buf.length) return
    const grown = cut(powerOfTwoAtLeast(needed))
    this.buf.copy(grown, 0, 0, this.offset)
    this.buf = grown
  }
  // Unsigned LEB128 written in place (kafkajs makes an array and a Buffer of it for each of a record's varints).
  Encoder.prototype.writeUVarInt = function (this: KafkaEncoder & { ensureAvailable(length: number): void }, value: number) {
    this.ensureAvailable(5)
    const buf = this.buf
    let offset = this.offset
    while ((value & 0xffffff80) !== 0) {
      buf[offset++] = (value & 0x7f) | 0x80
      value >>>= 7
    }
    buf[offset++] = value & 0x7f
    this.offset = offset
    return this
  }
}
