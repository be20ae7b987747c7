// The same messages give the same profiles however identity is handed them: the dev set's first 80 people (679
// messages, as the connectors read them, in the order `cdp ingest` lands them) fed to a fresh stage whole, one message
// a call, 10 and 500 a call, 1 to 50 a call (seeded), in time order, and interleaved with a second tenant's copy. Each
// message ends (landed, then moved) in the profile one resolution of the whole history gives it (a rebuild's answer),
// so pairwise precision and recall against the truth are the same; and what lookups and `cdp identity explain` read
// (each identifier's owner and holders, each link's latest status) is the same as after one call. What a message
// lands with depends on what its call held (a message lands before the evidence that moves it), and is not compared.
import { describe, expect, it } from "vitest"
import type { CanonicalEvent } from "../../ingest/message.ts"
import {
  changedKeys, devsetPerson, devsetSample, difference, fixedBatches, interleave, type Landed, landBatches, pairwise, randomBatches, wholeHistory,
} from "./batching-harness.ts"

describe("identity of the dev set's first 80 people, however it is batched", () => {
  it("every message ends in the whole history's profile; identifiers and links read the same as after one call", async () => {
    const events = await devsetSample(80)
    const byTime = [...events].sort((a, b) => a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.messageId < b.messageId ? -1 : 1)
    const globex = events.map((e): CanonicalEvent => ({ ...e, tenant: "globex" }))
    const whole = wholeHistory([...events, ...globex])
    const acme = (m: ReadonlyMap<string, string>) => new Map([...m].filter(([k]) => k.startsWith("acme")))
    const score = pairwise(acme(whole), devsetPerson)
    const together = await landBatches([events])
    const batchings: ReadonlyArray<readonly [string, ReadonlyArray<ReadonlyArray<CanonicalEvent>>]> = [
      ["one a call", fixedBatches(events, 1)],
      ["10 a call", fixedBatches(events, 10)],
      ["500 a call", fixedBatches(events, 500)],
      ["1 to 50 a call", randomBatches(events, 7, 50)],
      ["in time order, 1 to 50 a call", randomBatches(byTime, 13, 50)],
      ["two tenants interleaved, 1 to 50 a call", randomBatches(interleave([events, globex], 3), 11, 50)],
    ]
    const seen = (r: Landed) => ({
      messages: difference(new Map([...whole].filter(([k]) => r.current.has(k))), r.current),
      identifiers: changedKeys(together.nodes, acme(r.nodes)),
      links: changedKeys(together.links, acme(r.links)),
    })
    const same = { messages: { otherPart: 0, otherId: 0, examples: [] }, identifiers: { count: 0, examples: [] }, links: { count: 0, examples: [] } }
    expect(seen(together)).toEqual(same)
    expect(pairwise(acme(together.current), devsetPerson)).toEqual(score)
    for (const [name, batches] of batchings) {
      const r = await landBatches(batches)
      expect(r.current.size, name).toBe(batches.flat().length)
      expect(seen(r), name).toEqual(same)
      expect(pairwise(acme(r.current), devsetPerson), name).toEqual(score)
      if (name.startsWith("two tenants")) {
        expect(pairwise(new Map([...r.current].filter(([k]) => k.startsWith("globex"))), devsetPerson), name).toEqual(score)
      }
    }
  }, 120_000)
})
