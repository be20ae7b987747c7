// jsonLargerThan (ingest/bus.ts) tells the pipeline a record too large for a record of the Kafka bus without writing
// most records out: its walk's bound must never be under the JSON's bytes, or a record too large would be published
// and refused by the broker (test/integration/kafka-large-records.test.ts).
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { jsonLargerThan } from "../../ingest/bus.ts"

const bytesOf = (v: unknown) => Buffer.byteLength(JSON.stringify(v))

describe("jsonLargerThan", () => {
  it("says whether a value's JSON passes the limit, for any JSON value and limits around its size", () => {
    // Strings of any code unit: escapes (\u0000), quotes, 2- to 4-byte characters and lone surrogates.
    const text = fc.string({ unit: "binary", maxLength: 40 })
    // Long runs of one character, so a bound per character too small shows past the bound per value.
    const run = fc.tuple(fc.constantFrom("a", "\u0001", "\"", "\u00e9", "\u20ac", "\u{1F600}", "\ud800"), fc.integer({ min: 0, max: 3_000 }))
      .map(([c, n]) => c.repeat(n))
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: "small" }, text, run, fc.double({ noNaN: true }), fc.boolean(), fc.constant(null),
        fc.array(tie("node"), { maxLength: 6 }), fc.dictionary(text, tie("node"), { maxKeys: 6 })),
    })).node
    fc.assert(fc.property(value, fc.integer({ min: -40, max: 40 }), (v, shift) => {
      const max = Math.max(0, bytesOf(v) + shift)
      expect(jsonLargerThan(v, max)).toBe(bytesOf(v) > max)
    }), { numRuns: 2_000 })
  })

  it("measures a value nested deeper than the stack goes", () => {
    let deep: unknown = "x"
    for (let i = 0; i < 200_000; i++) deep = [deep]
    expect(jsonLargerThan(deep, 1_000_000)).toBe(false)
    expect(jsonLargerThan(deep, 100_000)).toBe(true)
  })
})
