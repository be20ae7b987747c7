import { Deferred, Effect, Fiber, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type Observation, resolveGraph } from "../../identity/graph.ts"
import { recordOperation } from "../../identity/operations.ts"
import { fingerprintOf } from "../../identity/snapshot.ts"
import { defaultIdentityConfig, makeIdentityStage } from "../../identity/stage.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { loadObservations, loadOperations } from "../../warehouse/identity.ts"
import { loadLatestSnapshot } from "../../warehouse/identity-snapshots.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { eventOn } from "../support/events.ts"
import { gatedWarehouse } from "../support/gated-warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withWarehouse = <A, E>(program: Effect.Effect<A, E, Warehouse | Scope.Scope>) => withEmbeddedWarehouse(dir, program)

const profiles = (outcomes: ReadonlyArray<{ _tag: string }>) =>
  outcomes.map((o) => (o._tag === "ok" ? (o as unknown as { value: CanonicalEvent }).value.profileId : o._tag))

describe("identity stage", () => {
  it("joins a browser, its login and a mail into one profile, records the move of earlier messages, and keeps it after a restart", async () => {
    const first = await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(defaultIdentityConfig())
      const browsing = yield* stage([eventOn("view", 1, { anonymousId: "a1" })])
      const mail = yield* stage([eventOn("mail", 2, { source: "email", channel: "email", identifiers: [{ kind: "email", value: "Ann@X.example" }] })])
      const login = yield* stage([eventOn("identify", 3, { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example " } })])
      const warehouse = yield* Warehouse
      const moved = yield* warehouse.query<{ message_id: string; profile_id: string }>("SELECT message_id, profile_id FROM event_profiles ORDER BY message_id")
      const merges = yield* warehouse.query<{ kind: string; messages: string }>("SELECT kind, messages FROM profile_merges")
      return { browsing: profiles(browsing)[0], mail: profiles(mail)[0], login: profiles(login)[0], moved, merges }
    }))
    expect(first.browsing).not.toBe(first.mail)
    expect([first.browsing, first.mail]).toContain(first.login)
    expect(first.moved).toEqual([expect.objectContaining({ profile_id: first.login })])
    expect(first.merges).toEqual([{ kind: "merge", messages: "1" }])
    const afterRestart = await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(defaultIdentityConfig())
      return profiles(yield* stage([eventOn("later", 9, { anonymousId: "a1" })]))[0]
    }))
    expect(afterRestart).toBe(first.login)
  })

  it("batch by batch against the warehouse, every message ends in the profile a full resolution gives it; the snapshot holds identifiers, no message", async () => {
    const ann = { kind: "email", value: "ann@x.example" } as const
    const batches: Array<Array<CanonicalEvent>> = [
      [eventOn("view1", 1, { anonymousId: "a1" }), eventOn("view2", 1, { anonymousId: "a2" }),
        eventOn("mailA", 2, { source: "email", channel: "email", identifiers: [ann] })],
      // The login ties the first browser to the address: both stored parts move whole (read back by identifier).
      [eventOn("login", 3, { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example" } })],
      // A second user id on the same browser is refused: the part is resolved again from what is stored.
      [eventOn("view3", 4, { anonymousId: "a1" }), eventOn("alias", 5, { type: "identify", anonymousId: "a1", userId: "u2" })],
      [eventOn("later", 6, { type: "identify", anonymousId: "a2", userId: "u2" }), eventOn("call", 6, { source: "email", channel: "email", identifiers: [ann, { kind: "phone", value: "+447700900001" }] })],
      // The login again (a replay), and the second browser's view sent again with the address (other identifiers).
      [eventOn("login", 3, { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example" } }),
        eventOn("view2", 1, { anonymousId: "a2", identifiers: [ann] })],
    ]
    const result = await withWarehouse(Effect.gen(function* () {
      const current = new Map<string, string>()
      {
        const { stage } = yield* makeIdentityStage(defaultIdentityConfig())
        for (const batch of batches) {
          const out = profiles(yield* stage(batch))
          // As events shows them: the sink lands a message once (a copy sent again is a duplicate), then moves apply.
          batch.forEach((e, i) => { if (!current.has(e.messageId)) current.set(e.messageId, out[i]!) })
        }
      }
      const warehouse = yield* Warehouse
      const moved = yield* warehouse.query<{ message_id: string; profile_id: string }>(
        "SELECT message_id, argMax(profile_id, version) AS profile_id FROM event_profiles GROUP BY message_id")
      for (const m of moved) current.set(m.message_id, m.profile_id)
      const stored = yield* loadObservations()
      return { current, moved, stored }
    }))
    const full = resolveGraph("acme", result.stored as ReadonlyArray<Observation>)
    for (const o of result.stored) expect([o.messageId, result.current.get(o.messageId)]).toEqual([o.messageId, full.profileOf.get(full.anchorOf.get(o.messageId)!)])
    expect(result.moved.length).toBeGreaterThan(0)
    const snapshot = await withWarehouse(loadLatestSnapshot())
    const bytes = Buffer.from(snapshot!.bytes)
    expect(bytes.includes("ann@x.example")).toBe(true)
    for (const id of ["view1", "mailA", "login", "alias", "later"]) expect(bytes.includes(id)).toBe(false)
  })

  it("a placeholder typed as an e-mail is refused with its reason and links nobody", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(defaultIdentityConfig())
      const out = profiles(yield* stage([
        eventOn("c1", 1, { source: "chat", channel: "chat", anonymousId: "v1", identifiers: [{ kind: "email", value: "test@test.com" }] }),
        eventOn("c2", 1, { source: "chat", channel: "chat", anonymousId: "v2", identifiers: [{ kind: "email", value: "test@test.com" }] }),
      ]))
      const warehouse = yield* Warehouse
      const refused = yield* warehouse.query<{ reason: string }>("SELECT arrayJoin(refused).reason AS reason FROM identity_observations ORDER BY message_id")
      return { out, refused }
    }))
    expect(result.out[0]).not.toBe(result.out[1])
    expect(result.refused).toEqual([{ reason: expect.stringMatching(/placeholder/) }, { reason: expect.stringMatching(/placeholder/) }])
  })

  it("a tenant's reload after its operator's decision holds back no other tenant's batches or reloads, and every decision holds after", async () => {
    const config = defaultIdentityConfig()
    const result = await withWarehouse(Effect.gen(function* () {
      // Once armed, the next read of the stored observations (acme's reload loading its graph) stalls until released.
      const gate = yield* gatedWarehouse()
      const identity = yield* makeIdentityStage(config).pipe(Effect.provideService(Warehouse, gate.warehouse))
      const visitor = (tenant: string, id: string, email: string) => eventOn(id, 2, { tenant, type: "identify", anonymousId: id, traits: { email } })
      const [ann, bob] = profiles(yield* identity.stage([
        eventOn("ann", 1, { tenant: "acme", type: "identify", userId: "ua", traits: { email: "ann@a.example" } }),
        eventOn("bob", 1, { tenant: "globex", type: "identify", userId: "ub", traits: { email: "bob@b.example" } }),
      ]))
      // Before any decision a visitor typing the address joins its owner.
      const early = profiles(yield* identity.stage([visitor("acme", "a1", "ann@a.example"), visitor("globex", "b1", "bob@b.example")]))

      yield* recordOperation({ tenant: "acme", kind: "remove", a: "email:ann@a.example", b: "", reason: "test" })
      gate.arm()
      const held = yield* Effect.forkChild(identity.reloadTenant("acme"))
      yield* Deferred.await(gate.reached)
      const batch = yield* identity.stage([eventOn("b2", 2, { tenant: "globex", userId: "ub" })]).pipe(Effect.timeoutOption("10 seconds"))
      yield* recordOperation({ tenant: "globex", kind: "remove", a: "email:bob@b.example", b: "", reason: "test" })
      const other = yield* identity.reloadTenant("globex").pipe(Effect.timeoutOption("10 seconds"))
      yield* gate.release
      yield* Fiber.join(held)

      const late = profiles(yield* identity.stage([visitor("acme", "a2", "ann@a.example"), visitor("globex", "b3", "bob@b.example")]))
      const snapshot = yield* loadLatestSnapshot()
      return { ann, bob, early, batch: batch._tag, other: other._tag, late, fingerprint: snapshot?.fingerprint, now: fingerprintOf(config.rules, yield* loadOperations()) }
    }))
    expect(result.early).toEqual([result.ann, result.bob])
    expect(result.batch, "globex's batch waited for acme's reload").toBe("Some")
    expect(result.other, "globex's reload waited for acme's").toBe("Some")
    // Both removals hold in the running graph: the address joins its owner no more.
    expect(result.late[0]).not.toBe(result.ann)
    expect(result.late[1]).not.toBe(result.bob)
    // The snapshot written after them is one the next start uses (made with exactly the stored decisions).
    expect(result.fingerprint).toBe(result.now)
  }, 60_000)
})
