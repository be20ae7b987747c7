// An export sync beside an erasure of the same tenant: a sync reads whom to send, then sends batch by batch (a batch may
// wait minutes for its destination's budget). A person erased after the read must not reach the CRM after their
// erasure, and if a batch already in flight took them, the CRM's record is queued for erasure; export_state never
// keeps their profile id. The erasure never waits for the sync's read or sends.
import { Deferred, Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject, verifyErased } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { type DestinationConfig, parseDestinations, replayDeadLetters, syncDestination } from "../../ingest/destinations/index.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { hubspotServer } from "../support/crm-replay-servers.ts"
import { gatedWarehouse } from "../support/gated-warehouse.ts"
import { exportTestDirs } from "../support/export-dirs.ts"
import { query } from "../support/pipeline.ts"
import { forkWatched, WHILE_HELD_TEST_TIMEOUT } from "../support/while-held.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"

let dir: string
const { keep } = exportTestDirs((d) => { dir = d })

const dest = (d: Record<string, unknown>): DestinationConfig => parseDestinations(JSON.stringify({ acme: [d] }))[0]!
const fast = { maxAttempts: 3, timeoutMs: 2000, maxRetryAfterMs: 5000 }

const people = submit([
  web("ann-1", 1, { type: "identify", userId: "ann", traits: { email: "ann@x.example", first_name: "Ann" }, context: prefs({ CrmSync: true }) }),
  web("bob-1", 2, { type: "identify", userId: "bob", traits: { email: "bob@x.example", first_name: "Bob" }, context: prefs({ CrmSync: true }) }),
])

const lettersOf = (profileId: string) =>
  query<{ n: string }>(`SELECT count() AS n FROM export_dead_letters WHERE tenant = 'acme' AND profile_id = '${profileId}'`)

const stateOf = (profileId: string) =>
  query<{ n: string }>(`SELECT count() AS n FROM export_state WHERE tenant = 'acme' AND profile_id = '${profileId}'`)

describe("an export sync beside an erasure", () => {
  it("a person erased after the sync read them is not sent, and the erasure does not wait for the sync", async () => {
    const hs = keep(await hubspotServer())
    const config = dest({ name: "crm", type: "hubspot", purpose: "CrmSync", token: "hs-token", url: hs.url, idProperty: "email", ...fast })
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* people
      const subject = yield* resolveSubject("acme", "user_id:ann")
      const gate = yield* gatedWarehouse({ query: (sql) => sql.includes("FROM profiles AS p LEFT JOIN"), afterQuery: true, armed: true })
      const syncing = yield* syncDestination(config).pipe(Effect.provideService(Warehouse, gate.warehouse), Effect.forkChild)
      yield* Deferred.await(gate.reached)
      const erasure = yield* forkWatched(eraseSubject(subject).pipe(Effect.exit))
      const endedWhileHeld = yield* erasure.endsWhileHeld
      yield* gate.release
      const report = yield* Fiber.join(syncing)
      return { endedWhileHeld, erased: yield* Fiber.join(erasure.fiber), report, ann: subject.profileIds[0]!, left: yield* verifyErased(subject), state: yield* stateOf(subject.profileIds[0]!) }
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7)))))
    expect(r.endedWhileHeld).toBe(true)
    expect(r.erased._tag).toBe("Success")
    expect([...hs.contacts.values()].map((c) => c.properties["email"])).toEqual(["bob@x.example"])
    expect(r.report.upserted).toBe(1)
    expect(r.state[0]!.n).toBe("0")
    expect(r.left).toEqual([])
  }, WHILE_HELD_TEST_TIMEOUT)

  it("a batch in flight when the erasure ran: the CRM's record is queued for erasure and deleted by the next run, nothing kept of them", async () => {
    const hs = keep(await hubspotServer())
    const config = dest({ name: "crm", type: "hubspot", purpose: "CrmSync", token: "hs-token", url: hs.url, idProperty: "email", ...fast })
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* people
      const subject = yield* resolveSubject("acme", "user_id:ann")
      // Held after HubSpot took the batch (its delivery is logged next), before the sync records what it sent.
      const gate = yield* gatedWarehouse({ insert: (table) => table === "export_deliveries", armed: true })
      const syncing = yield* syncDestination(config).pipe(Effect.provideService(Warehouse, gate.warehouse), Effect.forkChild)
      yield* Deferred.await(gate.reached)
      const sentBefore = [...hs.contacts.values()].map((c) => c.properties["email"]).sort()
      const erasure = yield* forkWatched(eraseSubject(subject).pipe(Effect.exit))
      const endedWhileHeld = yield* erasure.endsWhileHeld
      yield* gate.release
      const first = yield* Fiber.join(syncing)
      const ann = subject.profileIds[0]!
      const state = yield* stateOf(ann)
      const second = yield* syncDestination(config)
      return { sentBefore, endedWhileHeld, erased: yield* Fiber.join(erasure.fiber), first, second, state, left: yield* verifyErased(subject) }
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7)))))
    expect(r.sentBefore).toEqual(["ann@x.example", "bob@x.example"])
    expect(r.endedWhileHeld).toBe(true)
    expect(r.erased._tag).toBe("Success")
    expect(r.first.upserted).toBe(1)
    expect(r.state[0]!.n).toBe("0")
    expect(r.second.erased).toBe(1)
    expect(hs.gdprDeleted).toHaveLength(1)
    expect([...hs.contacts.values()].map((c) => c.properties["email"])).toEqual(["bob@x.example"])
    expect(r.left).toEqual([])
  }, WHILE_HELD_TEST_TIMEOUT)

  it("a replay of dead letters: a person erased after it read them is not sent, and no letter or state of theirs is written", async () => {
    const hs = keep(await hubspotServer())
    // Upserted by a work address nobody has yet: both people are dead-lettered unsent, then given one.
    const config = dest({ name: "crm", type: "hubspot", purpose: "CrmSync", token: "hs-token", url: hs.url, idProperty: "email", ...fast, fields: { email: "trait:work_email" } })
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* people
      const first = yield* syncDestination(config)
      yield* submit([
        web("ann-2", 3, { type: "identify", userId: "ann", traits: { work_email: "ann@work.example" }, context: prefs({ CrmSync: true }) }),
        web("bob-2", 4, { type: "identify", userId: "bob", traits: { work_email: "bob@work.example" }, context: prefs({ CrmSync: true }) }),
      ])
      const subject = yield* resolveSubject("acme", "user_id:ann")
      const gate = yield* gatedWarehouse({ query: (sql) => sql.includes("FROM profiles AS p LEFT JOIN"), afterQuery: true, armed: true })
      const replaying = yield* replayDeadLetters(config).pipe(Effect.provideService(Warehouse, gate.warehouse), Effect.forkChild)
      yield* Deferred.await(gate.reached)
      const erasure = yield* forkWatched(eraseSubject(subject).pipe(Effect.exit))
      const endedWhileHeld = yield* erasure.endsWhileHeld
      yield* gate.release
      const replay = yield* Fiber.join(replaying)
      const ann = subject.profileIds[0]!
      return { first, endedWhileHeld, erased: yield* Fiber.join(erasure.fiber), replay, letters: yield* lettersOf(ann), state: yield* stateOf(ann), left: yield* verifyErased(subject) }
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7)))))
    expect([r.first.upserted, r.first.deadLettered]).toEqual([0, 2])
    expect(r.endedWhileHeld).toBe(true)
    expect(r.erased._tag).toBe("Success")
    expect([...hs.contacts.values()].map((c) => c.properties["email"])).toEqual(["bob@work.example"])
    expect(r.replay.delivered).toBe(1)
    expect(r.letters[0]!.n).toBe("0")
    expect(r.state[0]!.n).toBe("0")
    expect(r.left).toEqual([])
  }, WHILE_HELD_TEST_TIMEOUT)
})
