// CDP_DESTINATIONS of a size no deployment has is refused in one line naming where, instead of being taken: found by
// probing `cdp export status` with 100,000 destinations for one tenant, which had not answered after 120 s (each
// destination's status is five warehouse reads: 1,000 destinations took 49 s, 5,000 took 241 s, at load 22), and
// `cdp serve` runs a loop per destination.
import { describe, expect, it } from "vitest"
import { parseDestinations } from "../../ingest/destinations/index.ts"

const destinations = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `d${i}`, type: "ndjson", purpose: "Analytics" }))

describe("the size of CDP_DESTINATIONS", () => {
  it("takes 100 destinations for a tenant and refuses 101, naming the tenant and the limit", () => {
    expect(parseDestinations(JSON.stringify({ acme: destinations(100), globex: destinations(100) }))).toHaveLength(200)
    expect(() => parseDestinations(JSON.stringify({ acme: destinations(101) }))).toThrow("/acme: must NOT have more than 100 items")
    expect(() => parseDestinations(JSON.stringify({ acme: destinations(100_000) }))).toThrow("/acme: must NOT have more than 100 items")
  })

  it("takes 1,000 mapped fields for a destination and refuses more, naming the destination", () => {
    const fields = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, "trait:x"]))
    expect(parseDestinations(JSON.stringify({ acme: [{ name: "crm", type: "csv", purpose: "Analytics", fields: fields(1000) }] }))).toHaveLength(1)
    expect(() => parseDestinations(JSON.stringify({ acme: [{ name: "crm", type: "csv", purpose: "Analytics", fields: fields(200_000) }] })))
      .toThrow("/acme/0/fields: must NOT have more than 1000 properties")
  })
})
