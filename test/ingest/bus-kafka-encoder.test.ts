import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname } from "node:path"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type KafkaEncoderClass, patchKafkaEncoder } from "../../ingest/bus-kafka-encoder.ts"
import "../../ingest/bus-kafka.ts"

const require = createRequire(import.meta.url)

/** A fresh copy of one of kafkajs's CommonJS modules, with some of its requires answered by `given`. */
const fresh = (id: string, given: Record<string, unknown> = {}): unknown => {
  const file = require.resolve(id)
  const own = createRequire(file)
  const module = { exports: {} as unknown }
  new Function("module", "exports", "require", "__dirname", readFileSync(file, "utf8"))(
    module, module.exports, (r: string) => (r in given ? given[r] : own(r)), dirname(file))
  return module.exports
}

type Encoded = { readonly buffer: Buffer }
type RecordEncoder = (record: { offsetDelta: number; timestampDelta: number; key: string | Buffer; value: string | Buffer | null; headers: Record<string, string> }) => Encoded

/** kafkajs's record encoding (record v0 with its headers) over a given Encoder class. */
const recordEncoder = (Encoder: unknown): RecordEncoder => {
  const header = fresh("kafkajs/src/protocol/recordBatch/header/v0/index.js", { "../../../encoder": Encoder })
  return fresh("kafkajs/src/protocol/recordBatch/record/v0/index.js", { "../../../encoder": Encoder, "../../header/v0": header }) as RecordEncoder
}

const original = fresh("kafkajs/src/protocol/encoder.js")
const patched = fresh("kafkajs/src/protocol/encoder.js") as KafkaEncoderClass
patchKafkaEncoder(patched)

describe("kafkajs's Encoder without a zero-filled buffer per record", () => {
  it("encodes every record and record batch to the same bytes as kafkajs's own Encoder", () => {
    const before = recordEncoder(original)
    const after = recordEncoder(patched)
    const text = fc.string({ unit: "binary", maxLength: 3000 })
    const record = fc.record({
      offsetDelta: fc.nat(),
      timestampDelta: fc.integer({ min: -1e12, max: 1e12 }),
      key: fc.oneof(text, fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a))),
      value: fc.oneof(text, fc.constant(null), fc.uint8Array({ maxLength: 9000 }).map((a) => Buffer.from(a))),
      headers: fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 50 }), { maxKeys: 3 }),
    })
    fc.assert(fc.property(fc.array(record, { minLength: 1, maxLength: 20 }), (records) => {
      const batch = (Encoder: unknown, encode: RecordEncoder) => {
        const E = Encoder as new () => { writeInt16(v: number): unknown; writeInt32(v: number): unknown; writeArray(a: unknown[], t: string): { buffer: Buffer } }
        const body = new E()
        body.writeInt16(3)
        body.writeInt32(records.length - 1)
        return body.writeArray(records.map((r) => encode(r)), "object").buffer
      }
      for (const r of records) expect(after(r).buffer.equals(before(r).buffer)).toBe(true)
      expect(batch(patched, after).equals(batch(original, before))).toBe(true)
    }), { numRuns: 300 })
  })

  it("is what the Kafka bus's kafkajs uses", () => {
    const Encoder = require("kafkajs/src/protocol/encoder.js") as KafkaEncoderClass & (new () => { writeInt8(v: number): { buffer: Buffer }; buf: Buffer })
    const e = new Encoder()
    // Starts empty: no buffer of its own until the first write, then one from the pool.
    expect(e.buf.length).toBe(0)
    expect([...e.writeInt8(7).buffer]).toEqual([7])
  })
})
