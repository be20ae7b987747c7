import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type Observation, resolveGraph, type Sighting } from "../../identity/graph.ts"
import { IdentityResolver, TenantGraph } from "../../identity/resolver.ts"
import { StoredObservations } from "../support/observations.ts"

const observations = fc.uniqueArray(
  fc.record({
    messageId: fc.string({ minLength: 1, maxLength: 6 }),
    timeMs: fc.integer({ min: 0, max: 30 }),
    sightings: fc.array(fc.record({
      kind: fc.constantFrom("user_id", "email", "phone", "anonymous_id"),
      value: fc.constantFrom("1", "2", "3", "4", "5", "6", "7"),
      trust: fc.constantFrom("verified", "stated", "unverified"),
    }) as fc.Arbitrary<Sighting>, { minLength: 1, maxLength: 3 }),
  }),
  { selector: (x) => x.messageId, maxLength: 50 },
)

/** Splits `items` into consecutive batches at the given cut points. */
const batches = <A>(items: ReadonlyArray<A>, cuts: ReadonlyArray<number>): Array<ReadonlyArray<A>> => {
  const points = [...new Set(cuts.map((c) => c % (items.length + 1)))].sort((a, b) => a - b)
  const out: Array<ReadonlyArray<A>> = []
  let from = 0
  for (const p of [...points, items.length]) {
    out.push(items.slice(from, p))
    from = p
  }
  return out
}

describe("online resolver", () => {
  it("a message as old as the part it joins, with a smaller id, names the profile as a full resolution does (found by the property below)", () => {
    const first: Observation = { messageId: "!", timeMs: 9, sightings: [{ kind: "user_id", value: "6", trust: "verified" }, { kind: "phone", value: "1", trust: "verified" }] }
    const second: Observation = { messageId: " ", timeMs: 9, sightings: [{ kind: "user_id", value: "6", trust: "verified" }] }
    const graph = new IdentityResolver().graph("t")
    const store = new StoredObservations()
    store.resolve(graph, [first])
    store.resolve(graph, [second])
    const full = resolveGraph("t", [first, second])
    expect(store.profileOf(" ")).toBe(full.profileOf.get(full.anchorOf.get(" ")!))
    expect(store.profileOf("!")).toBe(full.profileOf.get(full.anchorOf.get("!")!))
  })

  it("a message older than the profile it joins renames the profile: its messages' move is a merge, not a split (the demo's unexplained split)", () => {
    const graph = new IdentityResolver().graph("t")
    const web = (id: string, timeMs: number): Observation =>
      ({ messageId: id, timeMs, sightings: [{ kind: "email", value: "ann@x.example", trust: "verified" }, { kind: "anonymous_id", value: "a1", trust: "verified" }] })
    const store = new StoredObservations()
    store.resolve(graph, [web("w1", 20), web("w2", 30)])
    const before = store.profileOf("w1")
    // A post from before the first web visit arrives later (files are ingested one after the other) and names her.
    const r = store.resolve(graph, [{ messageId: "t1", timeMs: 10, sightings: [{ kind: "twitter_handle", value: "ann", trust: "verified" }, { kind: "email", value: "ann@x.example", trust: "stated" }] }])
    expect(store.profileOf("w1")).not.toBe(before)
    // The two web messages were stored before: the graph reports their part's move, not each message.
    expect(r.merges).toEqual([])
    expect(r.partMoves).toEqual([{ nodes: expect.arrayContaining(["email:ann@x.example", "anonymous_id:a1"]), fromProfile: before, toProfile: store.profileOf("w1"), kind: "merge" }])
    expect(r.allMoved.map((m) => m.messageId).sort()).toEqual(["w1", "w2"])
  })

  it("batch by batch, every message ends in the profile a full resolution gives it (property)", () => {
    fc.assert(fc.property(observations, fc.array(fc.nat(), { maxLength: 6 }), (obs, cuts) => {
      const resolver = new IdentityResolver()
      const graph = resolver.graph("t")
      const store = new StoredObservations()
      for (const batch of batches(obs, cuts)) store.resolve(graph, batch)
      const full = resolveGraph("t", obs)
      for (const o of obs) expect(store.profileOf(o.messageId)).toBe(full.profileOf.get(full.anchorOf.get(o.messageId)!))
    }), { numRuns: 2000 })
  })

  it("replaying messages changes nothing", () => {
    const obs: Array<Observation> = [
      { messageId: "a", timeMs: 1, sightings: [{ kind: "anonymous_id", value: "x", trust: "verified" }] },
      { messageId: "b", timeMs: 2, sightings: [{ kind: "anonymous_id", value: "x", trust: "verified" }, { kind: "user_id", value: "u", trust: "verified" }] },
    ]
    const graph = new IdentityResolver().graph("t")
    const store = new StoredObservations()
    store.resolve(graph, obs)
    const nodes = graph.nodeTotal
    const again = store.resolve(graph, obs)
    expect(again.allMoved).toEqual([])
    expect(again.profiles.get("a")).toBe(store.profileOf("b"))
    expect(graph.nodeTotal).toBe(nodes)
  })

  it("with thousands of messages and identifiers (past every index's growth), each message has a full resolution's profile, and replaying them or restoring the graph's state changes nothing", () => {
    const obs: Array<Observation> = []
    for (let i = 0; i < 6_000; i++) {
      const person = i % 1_500
      obs.push({
        messageId: `msg-${String(i).padStart(6, "0")}`, timeMs: i,
        sightings: [
          { kind: "anonymous_id", value: `anon-${person}-${i % 3}`, trust: "verified" },
          ...(i % 4 === 0 ? [{ kind: "email" as const, value: `p${person}@example.com`, trust: "stated" as const }] : []),
          ...(i % 7 === 0 ? [{ kind: "user_id" as const, value: `u${person}`, trust: "verified" as const }] : []),
        ],
      })
    }
    const graph = new IdentityResolver().graph("t")
    const store = new StoredObservations()
    for (let i = 0; i < obs.length; i += 500) store.resolve(graph, obs.slice(i, i + 500))
    const full = resolveGraph("t", obs)
    for (const o of obs) expect(store.profileOf(o.messageId)).toBe(full.profileOf.get(full.anchorOf.get(o.messageId)!))
    const replay = store.resolve(graph, obs.slice(1_000, 3_000))
    expect(replay.allMoved).toEqual([])
    for (const o of obs.slice(1_000, 3_000)) expect(replay.profiles.get(o.messageId)).toBe(full.profileOf.get(full.anchorOf.get(o.messageId)!))
    // The graph holds identifiers, not messages: its state has no message in it.
    const state = graph.toState()
    expect(JSON.stringify(state.nodeValue)).not.toContain("msg-")
    const restored = new IdentityResolver().restore(state)
    const again = store.resolve(restored, obs.slice(0, 500))
    expect(again.allMoved).toEqual([])
    for (const o of obs.slice(0, 500)) expect(again.profiles.get(o.messageId)).toBe(store.profileOf(o.messageId))
  })

  it("a message sent again with other identifiers after a restart from the graph's state replaces what it stated before, as a full resolution does", () => {
    const first: Observation = { messageId: "m", timeMs: 1, sightings: [{ kind: "anonymous_id", value: "x1", trust: "verified" }, { kind: "user_id", value: "ux", trust: "verified" }] }
    const other: Observation = { messageId: "n", timeMs: 2, sightings: [{ kind: "user_id", value: "ux", trust: "verified" }] }
    const again: Observation = { messageId: "m", timeMs: 1, sightings: [{ kind: "anonymous_id", value: "x1", trust: "verified" }] }
    const store = new StoredObservations()
    const before = new IdentityResolver().graph("t")
    store.resolve(before, [first, other])
    // What a snapshot stores and a restart puts back: the window of recent messages included (hashes, no ids).
    const state = before.toState()
    expect(state.recentKeys.length).toBe(2)
    const restored = TenantGraph.fromState(state)
    store.resolve(restored, [again])
    const full = resolveGraph("t", [again, other])
    expect(restored.profileOfNode("anonymous_id:x1")).toBe(full.profileOf.get("anonymous_id:x1"))
    expect(restored.profileOfNode("user_id:ux")).toBe(full.profileOf.get("user_id:ux"))
    expect(restored.profileOfNode("user_id:ux")).not.toBe(restored.profileOfNode("anonymous_id:x1"))
    expect(store.profileOf("m")).toBe(full.profileOf.get(full.anchorOf.get("m")!))
    expect(store.profileOf("n")).toBe(full.profileOf.get(full.anchorOf.get("n")!))
  })

  it("tenants have separate graphs: the same identifiers never link across tenants", () => {
    const resolver = new IdentityResolver()
    const o: Observation = { messageId: "m", timeMs: 1, sightings: [{ kind: "email", value: "e@x.example", trust: "verified" }] }
    const a = resolver.graph("acme").resolve([o]).profiles.get("m")
    const b = resolver.graph("globex").resolve([{ ...o, messageId: "n" }]).profiles.get("n")
    expect(a).not.toBe(b)
  })

  it("takes a tenant's whole history in one batch (as at start-up), however long, without overflowing the stack", () => {
    const history: Array<Observation> = []
    for (let i = 0; i < 200_000; i++) {
      history.push({ messageId: `m${i}`, timeMs: i, sightings: [{ kind: "anonymous_id", value: `a${i % 50_000}`, trust: "verified" }, { kind: "user_id", value: `u${i % 50_000}`, trust: "verified" }] })
    }
    const graph = new IdentityResolver().graph("t")
    const r = graph.resolve(history)
    expect(r.profiles.size).toBe(200_000)
    expect(r.profiles.get("m0")).toBe(r.profiles.get("m50000"))
  }, 60_000)
})
