// Snappy and LZ4 record batches of other producers (ingest/bus-kafka-codecs.ts): what the reference tools write comes
// back byte for byte, and a corrupt batch is named, not read past. The path through a real broker is
// test/integration/kafka-poison-records.test.ts.
import { describe, expect, it } from "vitest"
import { CompressedBatchCorrupt, lz4Decompress, MAX_BATCH_BYTES, snappyDecompress } from "../../ingest/bus-kafka-codecs.ts"

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
