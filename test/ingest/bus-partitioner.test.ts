// The Kafka bus's partitioner must put every key on the partition kafkajs's default partitioner (the Java client's)
// chose, or a person's records would change partition, and lose their order, when the bus is upgraded.
import { createRequire } from "node:module"
import fc from "fast-check"
import kafkajs from "kafkajs"
import { describe, expect, it } from "vitest"
import { keyPartitioner, murmur2 } from "../../ingest/bus-kafka.ts"

const require = createRequire(import.meta.url)
const kafkajsMurmur2 = require("kafkajs/src/producer/partitioners/default/murmur2.js") as (key: Buffer | string) => number

const partitions = (n: number) => Array.from({ length: n }, (_, partitionId) => ({ partitionId, leader: 0 }))

describe("the Kafka bus's partitioner", () => {
  it("murmur2 equals kafkajs's, bit for bit, for any key (property)", () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: "binary", maxLength: 40 })), (key) => {
      expect(murmur2(Buffer.from(key))).toBe(kafkajsMurmur2(key))
    }), { numRuns: 5_000 })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 70 }), (bytes) => {
      expect(murmur2(bytes)).toBe(kafkajsMurmur2(Buffer.from(bytes)))
    }), { numRuns: 2_000 })
  })

  it("puts every key on kafkajs's default partition, for string and Buffer keys and any partition count (property)", () => {
    const ours = keyPartitioner()
    const theirs = kafkajs.Partitioners.DefaultPartitioner()
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), fc.integer({ min: 1, max: 64 }), fc.boolean(), (key, n, asBuffer) => {
      const message = { key: asBuffer ? Buffer.from(key) : key }
      const args = { topic: "t", partitionMetadata: partitions(n), message }
      expect(ours(args)).toBe(theirs(args as never))
    }), { numRuns: 3_000 })
  })

  it("keeps a partition a record names", () => {
    expect(keyPartitioner()({ topic: "t", partitionMetadata: partitions(6), message: { key: "k", partition: 4 } })).toBe(4)
  })
})
