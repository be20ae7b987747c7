// Snappy and LZ4 record batches of other producers (ingest/bus-kafka-codecs.ts): what the reference tools write comes
// back byte for byte, and a corrupt batch is named, not read past; a batch of any codec that does not decompress
// reaches the consumer as marker records, which it parks and moves past. The path through a real broker is
// test/integration/kafka-poison-records.test.ts.
import { createRequire } from "node:module"
import { randomBytes } from "node:crypto"
import { constants as zlibConstants, gzipSync, zstdCompress, zstdCompressSync } from "node:zlib"
import type { KafkaMessage } from "kafkajs"
import { describe, expect, it } from "vitest"
// Registers cdp's codecs in kafkajs.
import "../../ingest/bus-kafka.ts"
import {
  CompressedBatchCorrupt, lz4Decompress, marksUndecodable, MAX_BATCH_BYTES, snappyDecompress, UndecodableBatch, undecodableBatchOf,
  zstdContentSize, zstdDecompress,
} from "../../ingest/bus-kafka-codecs.ts"

const text = "abcabcabcabcabcabcabcabcabcabcabcabcabcabc hello hello hello hello hello hello world ".repeat(50)
// `lz4 -9` (LZ4 command line 1.9) of `text`: a frame with one compressed block whose matches overlap their output.
const lz4Frame = Buffer.from("BCJNGGRApzEAAAA/YWJjAwAUbyBoZWxsbwYADG93b3JsZCBVAP////////////////////89UG9ybGQgAAAAALbmaGU=", "base64")

// "abcabcabcabc": length 12, the literal "abc", then a copy of 9 bytes from 3 back (overlapping its own output).
const snappyRaw = Buffer.from([12, (3 - 1) << 2, 0x61, 0x62, 0x63, ((9 - 4) << 2) | 1, 3])

const xerial = (...blocks: Array<Buffer>) => Buffer.concat([
  Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]),
  ...blocks.flatMap((b) => {
    const n = Buffer.alloc(4)
    n.writeUInt32BE(b.length)
    return [n, b]
  }),
])

describe("Snappy and LZ4 batches of other producers", () => {
  it("an LZ4 frame written by the lz4 tool decompresses to its text", () => {
    expect(lz4Decompress(lz4Frame).toString("utf8")).toBe(text)
  })

  it("raw Snappy and xerial-framed Snappy (the Java client's) decompress, back references included", () => {
    expect(snappyDecompress(snappyRaw).toString("utf8")).toBe("abcabcabcabc")
    expect(snappyDecompress(xerial(snappyRaw, snappyRaw)).toString("utf8")).toBe("abcabcabcabc".repeat(2))
  })

  it("a corrupt batch is refused with the codec and what is wrong", () => {
    expect(() => snappyDecompress(Buffer.from([12, ((9 - 4) << 2) | 1, 3]))).toThrow(CompressedBatchCorrupt)
    expect(() => snappyDecompress(Buffer.from([12, ((9 - 4) << 2) | 1, 3]))).toThrow("a Kafka record batch compressed with Snappy is corrupt: snappyjs: Invalid Snappy bitstream")
    expect(() => snappyDecompress(snappyRaw.subarray(0, 4))).toThrow("snappyjs: Invalid Snappy bitstream")
    expect(() => snappyDecompress(xerial(snappyRaw).subarray(0, 22))).toThrow("a frame is cut off")
    expect(() => lz4Decompress(lz4Frame.subarray(0, 20))).toThrow("a Kafka record batch compressed with LZ4 is corrupt: it is cut off")
    expect(() => lz4Decompress(Buffer.from("not lz4 at all"))).toThrow("it does not start with LZ4's frame magic")
  })

  it("a batch crafted to expand past MAX_BATCH_BYTES is refused, not read into gigabytes of memory", () => {
    const tooLarge = `it expands past ${MAX_BATCH_BYTES / 1024 / 1024} MiB, more than any batch cdp takes`
    // Snappy states its length first (here 2^31 - 1 as a varint): refused before anything is allocated.
    expect(() => snappyDecompress(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x07, 0]))).toThrow(`Snappy is corrupt: ${tooLarge}`)
    expect(() => snappyDecompress(xerial(snappyRaw, Buffer.from([0xff, 0xff, 0xff, 0x3f, 0])))).toThrow(tooLarge)
    // LZ4: one literal "a", then one match of it 0.5 MB of length bytes long (about 135 MB).
    const lengthBytes = Buffer.alloc(530_000, 0xff)
    const block = Buffer.concat([Buffer.from([(1 << 4) | 15, 0x61, 1, 0]), lengthBytes, Buffer.from([0])])
    const size = Buffer.alloc(4)
    size.writeUInt32LE(block.length)
    const frame = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x40, 0x40, 0xc0]), size, block, Buffer.alloc(4)])
    expect(() => lz4Decompress(frame)).toThrow(`LZ4 is corrupt: ${tooLarge}`)
    // The same match, 1,000 length bytes long, is read whole.
    const small = Buffer.concat([Buffer.from([(1 << 4) | 15, 0x61, 1, 0]), Buffer.alloc(1000, 0xff), Buffer.from([0])])
    size.writeUInt32LE(small.length)
    const ok = lz4Decompress(Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x40, 0x40, 0xc0]), size, small, Buffer.alloc(4)]))
    expect(ok.length).toBe(1 + 15 + 255 * 1000 + 4)
    expect(ok.every((b) => b === 0x61)).toBe(true)
  })
})

// kafkajs's own record batch decoder, as its fetch runs it, over the codecs cdp registers (ingest/bus-kafka.ts).
const kafkaRequire = createRequire(import.meta.url)
const decodeRecordBatch = kafkaRequire("kafkajs/src/protocol/recordBatch/v0/decoder.js") as (d: unknown) => Promise<{ records: Array<KafkaMessage> }>
const KafkaDecoder = kafkaRequire("kafkajs/src/protocol/decoder.js") as new (b: Buffer) => unknown

/** A record batch (magic 2) of `records` records compressed with codec `type`, its compressed bytes `payload`, as a fetch carries it. */
const batchOf = (type: number, payload: Buffer, records: number, lastOffsetDelta = records - 1, firstOffset = 40n) => {
  const h = Buffer.alloc(61)
  h.writeBigInt64BE(firstOffset, 0)
  h.writeInt32BE(49 + payload.length, 8)
  h.writeInt8(2, 16)
  h.writeInt16BE(type, 21)
  h.writeInt32BE(lastOffsetDelta, 23)
  h.writeBigInt64BE(1_700_000_000_000n, 27)
  h.writeBigInt64BE(1_700_000_000_000n, 35)
  h.writeBigInt64BE(-1n, 43)
  h.writeInt32BE(records, 57)
  // Other bytes of the fetch response before it, as kafkajs's decoder sees a batch inside the response.
  return Buffer.concat([Buffer.from("fetch response bytes before the batch"), h, payload]).subarray(37)
}

const GZIP = 1, SNAPPY = 2, LZ4 = 3, ZSTD = 4

describe("a compressed batch the consumer cannot read", () => {
  it("becomes one marker record per record, naming the codec, the defect and the batch's offsets, and the last marker ends the batch", async () => {
    const { records } = await decodeRecordBatch(new KafkaDecoder(batchOf(LZ4, Buffer.from("not lz4 at all"), 3, 5)))
    expect(records.map((m) => m.offset)).toEqual(["40", "41", "45"])
    expect(records.every(marksUndecodable)).toBe(true)
    const batch = undecodableBatchOf(records[0]!, "cdp.events", 2)!
    expect(batch).toBeInstanceOf(UndecodableBatch)
    expect(batch.message).toBe("a Kafka record batch compressed with LZ4 is corrupt: it does not start with LZ4's frame magic; " +
      "its 3 record(s), offsets 40 to 45 of topic cdp.events partition 2, were not read")
    expect(batch.tooLarge).toBe(false)
  })

  it("gzip and zstd batches that do not decompress are marked corrupt", async () => {
    for (const [type, codec] of [[GZIP, "gzip"], [ZSTD, "zstd"]] as const) {
      // A gzip member followed by bytes that are not one (the Java broker's GZIPInputStream accepts this).
      const payload = type === GZIP ? Buffer.concat([gzipSync(Buffer.from("x")), Buffer.from("garbage")]) : Buffer.from("not zstd")
      const { records } = await decodeRecordBatch(new KafkaDecoder(batchOf(type, payload, 2)))
      expect(records.map((m) => m.offset)).toEqual(["40", "41"])
      const batch = undecodableBatchOf(records[1]!, "cdp.events", 0)!
      expect(batch.message).toMatch(new RegExp(`^a Kafka record batch compressed with ${codec} is corrupt: zlib: `))
    }
  })

  it("batches expanding past MAX_BATCH_BYTES are marked too large, whatever their codec", async () => {
    const big = Buffer.alloc(MAX_BATCH_BYTES + 1)
    const payloads: Array<[number, Buffer]> = [
      [GZIP, gzipSync(big)], [ZSTD, zstdCompressSync(big)], [SNAPPY, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x07, 0])],
    ]
    for (const [type, payload] of payloads) {
      const { records } = await decodeRecordBatch(new KafkaDecoder(batchOf(type, payload, 1)))
      expect(records.map((m) => m.offset)).toEqual(["40"])
      const batch = undecodableBatchOf(records[0]!, "cdp.events", 0)!
      expect(batch.tooLarge).toBe(true)
      expect(batch.message).toContain(`is too large: it expands past ${MAX_BATCH_BYTES / 1024 / 1024} MiB`)
    }
  })

  it("a batch that decompresses is read as before; a real record with the marker header is not a marker", async () => {
    // One record (kafkajs's varints are zigzag: 1 is -1, 4 is 2): attributes, timestamp and offset deltas 0, key null,
    // value "hi", one header cdp-batch-undecodable: "x".
    const name = Buffer.from("cdp-batch-undecodable")
    const body = Buffer.concat([Buffer.from([0, 0, 0, 1, 4, 0x68, 0x69, 2, name.length * 2]), name, Buffer.from([2, 0x78])])
    const record = Buffer.concat([Buffer.from([body.length * 2]), body])
    const { records } = await decodeRecordBatch(new KafkaDecoder(batchOf(GZIP, gzipSync(record), 1)))
    expect(records.map((m) => [m.offset, m.value?.toString()])).toEqual([["40", "hi"]])
    expect(marksUndecodable(records[0]!)).toBe(false)
  })

  it("a record forging the marker header outside the offsets it names is no marker (it is handled as any other record)", async () => {
    const { records } = await decodeRecordBatch(new KafkaDecoder(batchOf(LZ4, Buffer.from("not lz4 at all"), 2)))
    const marker = records[1]!
    expect(undecodableBatchOf(marker, "cdp.events", 0)).toBeInstanceOf(UndecodableBatch)
    expect(undecodableBatchOf({ ...marker, offset: "42" }, "cdp.events", 0)).toBeUndefined()
    expect(undecodableBatchOf({ ...marker, offset: "39" }, "cdp.events", 0)).toBeUndefined()
    const forged = { ...marker, headers: { "cdp-batch-undecodable": Buffer.from("{not json") } } as KafkaMessage
    expect(undecodableBatchOf(forged, "cdp.events", 0)).toBeUndefined()
  })

  it("without the batch header before it (not a record batch of a fetch), the codec's error is thrown as before", async () => {
    const codec = (kafkaRequire("kafkajs") as typeof import("kafkajs")).CompressionCodecs[LZ4]!()
    await expect(codec.decompress(Buffer.from("not lz4 at all"))).rejects.toThrow(CompressedBatchCorrupt)
  })
})

// The consumer sizes zstd's output buffer from the size a frame states (one buffer for a batch instead of a 16 KiB
// chunk at a time, half the CPU of decompressing), so the bus's producer states it and any frame still reads right.
describe("zstd batches", () => {
  const kafkajsCodecs = () => (kafkaRequire("kafkajs") as typeof import("kafkajs")).CompressionCodecs
  const batch = Buffer.from(Array.from({ length: 3_000 }, (_, i) => JSON.stringify({ tenant: "acme", messageId: `m-${i}`, n: i, noise: randomBytes(8).toString("hex") })).join(""))

  it("the bus's producer states each batch's size in its zstd frame, and the frame reads back byte for byte", async () => {
    const compressed = await kafkajsCodecs()[ZSTD]!().compress({ buffer: batch })
    expect(zstdContentSize(compressed)).toBe(batch.length)
    expect((await zstdDecompress(compressed)).equals(batch)).toBe(true)
  })

  it("frames that state no size, or state it in 1, 2 or 4 bytes, read back byte for byte", async () => {
    const streamed = await new Promise<Buffer>((resolve, reject) => zstdCompress(batch, (e, b) => (e === null ? resolve(b) : reject(e))))
    expect(zstdContentSize(streamed)).toBeUndefined()
    expect((await zstdDecompress(streamed)).equals(batch)).toBe(true)
    for (const size of [1, 200, 300, 70_000, batch.length]) {
      const part = batch.subarray(0, size)
      const frame = zstdCompressSync(part, { params: { [zlibConstants.ZSTD_c_compressionLevel]: 1 } })
      expect(zstdContentSize(frame)).toBe(size)
      expect((await zstdDecompress(frame)).equals(part)).toBe(true)
    }
  })

  it("a frame whose stated size is false, or past MAX_BATCH_BYTES, is refused, not trusted", async () => {
    const frame = zstdCompressSync(batch)
    const at = 5 + ((frame[4]! & 0x20) === 0 ? 1 : 0)
    expect(frame[4]! >> 6).toBe(2)
    const lying = Buffer.from(frame)
    lying.writeUInt32LE(batch.length * 3, at)
    await expect(zstdDecompress(lying)).rejects.toThrow(CompressedBatchCorrupt)
    lying.writeUInt32LE(MAX_BATCH_BYTES + 1, at)
    await expect(zstdDecompress(lying)).rejects.toThrow(CompressedBatchCorrupt)
    expect(zstdContentSize(Buffer.from("not zstd"))).toBeUndefined()
    expect(zstdContentSize(frame.subarray(0, 6))).toBeUndefined()
  })
})
