import fc from "fast-check"
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { nodeKey, type Observation, type Sighting } from "../../identity/graph.ts"
import { compileBlockRules, DEFAULT_BLOCK_RULES } from "../../identity/guardrails.ts"
import { separateIdentifiers } from "../../identity/decisions.ts"
import { recordOperation } from "../../identity/operations.ts"
import { type Needed, TenantGraph } from "../../identity/resolver.ts"
import { rebuildIdentity } from "../../identity/rebuild.ts"
import { catchUp, loadIdentity } from "../../identity/snapshot.ts"
import { defaultIdentityConfig, makeIdentityStage } from "../../identity/stage.ts"
import { identityConfigOf } from "../../identity/config.ts"
import { storeIdentity } from "../../warehouse/identity.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withWarehouse = <A, E>(program: Effect.Effect<A, E, Warehouse | Scope.Scope>) => withEmbeddedWarehouse(dir, program)

const config = defaultIdentityConfig()

/** A browser, its login with an e-mail, a mail, and a second person: enough for merges. */
const history = [
  eventOn("view", 1, { anonymousId: "a1" }),
  eventOn("mail", 2, { source: "email", channel: "email", identifiers: [{ kind: "email", value: "ann@x.example" }] }),
  eventOn("login", 3, { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example" } }),
  eventOn("other", 4, { anonymousId: "b1", userId: "u2" }),
]

/** The profile of each message's identifier in a loaded graph (the graph holds identifiers, not messages). */
const IDENTIFIER: Readonly<Record<string, string>> = {
  view: "anonymous_id:a1", mail: "email:ann@x.example", login: "user_id:u1", other: "user_id:u2", later: "anonymous_id:b1",
}
const profilesOf = (graph: TenantGraph, ids: ReadonlyArray<string>) => ids.map((id) => graph.profileOfNode(IDENTIFIER[id]!))

const ids = ["view", "mail", "login", "other", "later"]

describe("identity snapshot", () => {
  it("a restart loads the snapshot written at shutdown plus the observations stored after it, and gets what a full load gets", async () => {
    await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(config)
      yield* stage(history.slice(0, 2))
      yield* stage(history.slice(2))
    }))
    const result = await withWarehouse(Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const [rows] = yield* warehouse.query<{ n: string }>("SELECT count() AS n FROM identity_snapshots")
      // Stored after the snapshot (a process that stopped before it wrote its next one).
      yield* storeIdentity({
        observations: [{ tenant: "acme", messageId: "later", timestamp: "2024-10-05T00:00:00.000Z", sightings: [
          { kind: "anonymous_id", value: "b1", raw: "b1", trust: "verified" }, { kind: "email", value: "ann@x.example", raw: "ann@x.example", trust: "stated" },
        ], refused: [] }],
        links: [], moved: [], merges: [], nodes: [],
      })
      const fromSnapshot = yield* loadIdentity(config.rules, config.extract.blocked, true, 0)
      const full = yield* loadIdentity(config.rules, config.extract.blocked, false)
      return { snapshotRows: Number(rows!.n), fromSnapshot, full }
    }))
    expect(result.snapshotRows).toBeGreaterThan(0)
    expect(result.fromSnapshot.source).toBe("snapshot")
    // Only what was stored since the snapshot is read again, not the four messages before it.
    expect(result.fromSnapshot.observationsRead).toBe(1)
    expect(result.full.observationsRead).toBe(5)
    const a = profilesOf(result.fromSnapshot.resolver.graph("acme"), ids)
    expect(a).toEqual(profilesOf(result.full.resolver.graph("acme"), ids))
    expect(a.every((p) => p !== undefined)).toBe(true)
    expect(a[0]).toBe(a[2])
  })

  it("a member catches up with what another member stored since it loaded, reading only that, and gets what a full load gets", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const other = yield* makeIdentityStage(config)
      yield* other.stage(history.slice(0, 2))
      const member = yield* loadIdentity(config.rules, config.extract.blocked, true)
      // Stored by the other member after this one loaded: the login ties the browser to the mailed address.
      yield* other.stage(history.slice(2))
      const before = profilesOf(member.resolver.graph("acme"), ["view", "mail"])
      const caught = yield* catchUp(member, config.extract.blocked, 0)
      const full = yield* loadIdentity(config.rules, config.extract.blocked, false)
      return { before, caught, full }
    }))
    // Before catching up, this member's graph holds the browser and the address as two people.
    expect(result.before[0]).not.toBe(result.before[1])
    expect(result.caught.observationsRead).toBe(2)
    expect(result.caught.syncedUntilMs).toBeGreaterThan(0)
    const caught = profilesOf(result.caught.resolver.graph("acme"), ["view", "mail", "login", "other"])
    expect(caught).toEqual(profilesOf(result.full.resolver.graph("acme"), ["view", "mail", "login", "other"]))
    expect(caught[0]).toBe(caught[1])
  })

  it("a worker's snapshot (other members store too) holds what they stored before it, so a start from it misses nothing", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const worker = yield* makeIdentityStage(config, { everyMessages: 1, everyMs: 0, minMessages: 1 }, true)
      const other = yield* makeIdentityStage(config)
      // Stored by another member: this worker has not read it when it writes its snapshot after the next batch.
      yield* other.stage(history.slice(2))
      yield* worker.stage(history.slice(0, 2))
      const restored = yield* loadIdentity(config.rules, config.extract.blocked, true, 0)
      const full = yield* loadIdentity(config.rules, config.extract.blocked, false)
      return { restored, full }
    }))
    expect(result.restored.source).toBe("snapshot")
    const restored = profilesOf(result.restored.resolver.graph("acme"), ["view", "mail", "login", "other"])
    expect(restored).toEqual(profilesOf(result.full.resolver.graph("acme"), ["view", "mail", "login", "other"]))
    expect(restored[0]).toBe(restored[2])
  })

  it("a rebuild that normalises stored values again drops every snapshot: the next start reads every observation", async () => {
    await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(config)
      yield* stage(history)
    }))
    const result = await withWarehouse(Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const count = () => Effect.map(warehouse.query<{ n: string }>("SELECT count() AS n FROM identity_snapshots"), (rows) => Number(rows[0]!.n))
      const before = yield* count()
      yield* rebuildIdentity(config, undefined, { reread: true })
      const after = yield* count()
      const loaded = yield* loadIdentity(config.rules, config.extract.blocked, true)
      return { before, after, loaded }
    }))
    expect(result.before).toBeGreaterThan(0)
    expect(result.after).toBe(0)
    expect(result.loaded.source).toBe("observations")
    expect(result.loaded.snapshotNotUsed).toBe("none is stored")
    expect(result.loaded.observationsRead).toBe(history.length)
  })

  it("a missing or corrupt snapshot means the full load, with the same graph; a corrupt newer one leaves the older in use", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(config)
      yield* stage(history)
      const warehouse = yield* Warehouse
      const missing = yield* loadIdentity(config.rules, config.extract.blocked, true)
      const snapshotted = yield* makeIdentityStage(config, { everyMessages: 1, everyMs: 0, minMessages: 1 })
      yield* snapshotted.stage([eventOn("later", 5, { anonymousId: "a1" })])
      const good = yield* loadIdentity(config.rules, config.extract.blocked, true)
      // Bytes flipped in the newest snapshot's chunk: its checksum no longer matches.
      yield* warehouse.command("INSERT INTO identity_snapshots SELECT taken_at + INTERVAL 1 SECOND, covers_until, fingerprint, checksum, chunks, seq, " +
        "base64Encode(reverse(base64Decode(chunk))) FROM identity_snapshots")
      const corrupt = yield* loadIdentity(config.rules, config.extract.blocked, true)
      yield* warehouse.command("DELETE FROM identity_snapshots WHERE taken_at < (SELECT max(taken_at) FROM identity_snapshots)")
      const corruptOnly = yield* loadIdentity(config.rules, config.extract.blocked, true)
      yield* warehouse.command("TRUNCATE TABLE identity_snapshots")
      yield* warehouse.command("INSERT INTO identity_snapshots VALUES (now64(3), now64(3), 'x', 'y', 3, 0, 'AAAA')")
      const partial = yield* loadIdentity(config.rules, config.extract.blocked, true)
      return { missing, good, corrupt, corruptOnly, partial }
    }))
    expect(result.missing.source).toBe("observations")
    expect(result.good.source).toBe("snapshot")
    // The older snapshot is still stored (a newer one replaces it only once written whole) and is as good.
    expect(result.corrupt.source).toBe("snapshot")
    expect(result.corruptOnly.source).toBe("observations")
    expect(result.corruptOnly.snapshotNotUsed).toMatch(/^none is complete \(the snapshot taken .* is corrupt/)
    expect(result.partial.source).toBe("observations")
    expect(result.partial.snapshotNotUsed).toMatch(/incomplete \(1 of 3 chunks/)
    const expected = profilesOf(result.good.resolver.graph("acme"), ids)
    expect(profilesOf(result.corrupt.resolver.graph("acme"), ids)).toEqual(expected)
    expect(profilesOf(result.corruptOnly.resolver.graph("acme"), ids)).toEqual(expected)
    expect(profilesOf(result.partial.resolver.graph("acme"), ids)).toEqual(expected)
  })

  it("a snapshot is not used once an operator decided something after it, or a value in it is blocked now", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(config, { everyMessages: 1, everyMs: 0, minMessages: 1 })
      yield* stage(history)
      const blocked = compileBlockRules({ ...DEFAULT_BLOCK_RULES, values: { ...DEFAULT_BLOCK_RULES.values, email: ["ann@x.example"] } })
      const blockedNow = yield* loadIdentity(config.rules, blocked, true)
      const before = yield* loadIdentity(config.rules, config.extract.blocked, true)
      yield* recordOperation({ tenant: "acme", kind: "separate", a: "anonymous_id:a1", b: "email:ann@x.example", reason: "two people" })
      const after = yield* loadIdentity(config.rules, config.extract.blocked, true)
      return { blockedNow, before, after }
    }))
    expect(result.blockedNow.source).toBe("observations")
    // Why, by kind only (the value is personal data and the line is logged).
    expect(result.blockedNow.snapshotNotUsed).toMatch(/holds an identifier of kind email that today's block rules refuse$/)
    expect(result.blockedNow.snapshotNotUsed).not.toContain("ann@")
    // The blocked address is not in the graph at all; the browser and the login are still one person.
    const [view, mail, login] = profilesOf(result.blockedNow.resolver.graph("acme"), ["view", "mail", "login"])
    expect(mail).toBeUndefined()
    expect(view).toBe(login)
    expect(result.before.source).toBe("snapshot")
    expect(result.after.source).toBe("observations")
    expect(result.after.snapshotNotUsed).toMatch(/^operators' identity decisions changed after it was taken/)
    const [viewAfter, mailAfter] = profilesOf(result.after.resolver.graph("acme"), ["view", "mail"])
    expect(mailAfter).toBeDefined()
    expect(mailAfter).not.toBe(viewAfter)
  })

  it("after an operator's link, a block rule on the linked value costs one full load, not one at every start", async () => {
    const blockedConfig = identityConfigOf({ "*": { blockedValues: { email: ["ann@x.example"] } } })
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(config, { everyMessages: 1, everyMs: 0, minMessages: 1 })
      yield* stage(history)
      yield* recordOperation({ tenant: "acme", kind: "link", a: "email:ann@x.example", b: "user_id:u2", reason: "same person" })
      // The first start under the new rule cannot use a snapshot holding the address from messages; it writes one.
      const first = yield* makeIdentityStage(blockedConfig, { everyMessages: 1, everyMs: 0, minMessages: 1 })
      yield* first.stage([eventOn("later", 5, { anonymousId: "b1" })])
      const restarted = yield* loadIdentity(blockedConfig.rules, blockedConfig.extract.blocked, true)
      const full = yield* loadIdentity(blockedConfig.rules, blockedConfig.extract.blocked, false)
      return { restarted, full }
    }))
    expect(result.restarted.snapshotNotUsed).toBeUndefined()
    expect(result.restarted.source).toBe("snapshot")
    const graph = result.restarted.resolver.graph("acme")
    expect(profilesOf(graph, ids)).toEqual(profilesOf(result.full.resolver.graph("acme"), ids))
    // The operator's link holds (the address joins u2), the messages' sightings of the address link nothing.
    const [view, mail, login, other] = profilesOf(graph, ["view", "mail", "login", "other"])
    expect(mail).toBe(other)
    expect(view).toBe(login)
    expect(mail).not.toBe(view)
  })

  it("a suggestion dismissed while the pipeline runs (no reload: the graph does not change) leaves its later snapshots usable", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(config, { everyMessages: 1, everyMs: 0, minMessages: 1 })
      yield* stage(history.slice(0, 2))
      // As decideSuggestion records a dismissal: stored, no reload of the running graph.
      yield* recordOperation({ tenant: "acme", kind: "dismiss", a: "suggestion-1", b: "", reason: "not the same person" })
      // This batch's snapshot is written with the fingerprint the graph was loaded with, before the dismissal.
      yield* stage(history.slice(2))
      return yield* loadIdentity(config.rules, config.extract.blocked, true)
    }))
    expect(result.snapshotNotUsed).toBeUndefined()
    expect(result.source).toBe("snapshot")
  })

  it("an operator's decision in a running pipeline (reload, then the tenant's rebuild) leaves a snapshot the next start uses", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage, reload } = yield* makeIdentityStage(config)
      yield* stage(history)
      yield* separateIdentifiers("acme", "anonymous_id:a1", "email:ann@x.example", "two people", config, reload)
      const restarted = yield* loadIdentity(config.rules, config.extract.blocked, true)
      const full = yield* loadIdentity(config.rules, config.extract.blocked, false)
      return { restarted, full }
    }))
    expect(result.restarted.snapshotNotUsed).toBeUndefined()
    expect(result.restarted.source).toBe("snapshot")
    const [view, mail] = profilesOf(result.restarted.resolver.graph("acme"), ["view", "mail"])
    expect(mail).not.toBe(view)
    expect(profilesOf(result.restarted.resolver.graph("acme"), ids)).toEqual(profilesOf(result.full.resolver.graph("acme"), ids))
  })

  it("a snapshot stored twice (an insert retried after it landed) or beside another of the same millisecond is still used", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(config, { everyMessages: 1, everyMs: 0, minMessages: 1 })
      yield* stage(history)
      const warehouse = yield* Warehouse
      yield* warehouse.command("INSERT INTO identity_snapshots SELECT * FROM identity_snapshots")
      const twice = yield* loadIdentity(config.rules, config.extract.blocked, true)
      yield* warehouse.command("INSERT INTO identity_snapshots SELECT taken_at, covers_until, fingerprint, 'other', 2, seq, chunk FROM identity_snapshots LIMIT 1")
      const sameMs = yield* loadIdentity(config.rules, config.extract.blocked, true)
      return { twice, sameMs }
    }))
    expect(result.twice.source).toBe("snapshot")
    expect(result.sameMs.source).toBe("snapshot")
  })

  it("a snapshot made with other graph rules is not used, and the start says so", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(config, { everyMessages: 1, everyMs: 0, minMessages: 1 })
      yield* stage(history)
      return yield* loadIdentity({ ...config.rules, defaultLimit: config.rules.defaultLimit + 1 }, config.extract.blocked, true)
    }))
    expect(result.source).toBe("observations")
    expect(result.snapshotNotUsed).toMatch(/^it was made with other identity graph rules: the snapshot taken \d{4}-/)
  })

  it("a full load read page by page (a page of 2 observations) makes the graph one page makes", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(config)
      yield* stage(history.slice(0, 2))
      yield* stage([...history.slice(2), eventOn("later", 5, { anonymousId: "b1", identifiers: [{ kind: "email", value: "ann@x.example" }] })])
      const paged = yield* loadIdentity(config.rules, config.extract.blocked, false, 0, 2)
      const whole = yield* loadIdentity(config.rules, config.extract.blocked, false)
      return { paged, whole }
    }))
    expect(result.paged.observationsRead).toBe(5)
    const paged = profilesOf(result.paged.resolver.graph("acme"), ids)
    expect(paged).toEqual(profilesOf(result.whole.resolver.graph("acme"), ids))
    expect(paged[0]).toBe(paged[2])
    expect(paged[0]).not.toBe(paged[3])
  })

  it("a graph restored from its state resolves every later batch as the original does (property)", () => {
    const sighting = fc.record({
      kind: fc.constantFrom("user_id", "email", "phone", "anonymous_id"),
      value: fc.constantFrom("1", "2", "3", "4", "5", "6"),
      trust: fc.constantFrom("verified", "stated", "unverified"),
    }) as fc.Arbitrary<Sighting>
    const observations = fc.uniqueArray(
      fc.record({ messageId: fc.string({ minLength: 1, maxLength: 5 }), timeMs: fc.integer({ min: 0, max: 20 }), sightings: fc.array(sighting, { maxLength: 3 }) }),
      { selector: (x) => x.messageId, maxLength: 40 },
    )
    fc.assert(fc.property(observations, fc.nat(), (obs: Array<Observation>, cut) => {
      const at = cut % (obs.length + 1)
      const first = obs.slice(0, at)
      // What the warehouse would give back of the first batch.
      const stored = (needed: Needed) => first.filter((o) =>
        needed.messages.includes(o.messageId) || o.sightings.some((s) => needed.nodes.includes(nodeKey(s.kind, s.value))))
      const original = new TenantGraph("t")
      original.resolve(first)
      const restored = TenantGraph.fromState(structuredClone(original.toState()))
      const a = original.resolve(obs.slice(at), stored)
      const b = restored.resolve(obs.slice(at), stored)
      expect([...b.profiles]).toEqual([...a.profiles])
      expect(b.moved).toEqual(a.moved)
      expect(b.partMoves).toEqual(a.partMoves)
      for (const o of obs) for (const s of o.sightings) expect(restored.profileOfNode(nodeKey(s.kind, s.value))).toBe(original.profileOfNode(nodeKey(s.kind, s.value)))
    }), { numRuns: 500 })
  })
})
