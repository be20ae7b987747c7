// The consent stage reads the ledger of each batch's profiles. It read every row of them, whole histories: a person
// whose browser changes its preferences now and then, or a flood restating them, made each batch of theirs read back
// (and decide over: every message looked through every row of its profile) more, batch after batch. Seen on cdp serve
// (one tenant flooding, a ledger of 5,000 rows): 32-663 ms reading and 43-939 ms deciding in each batch of 3,000-7,000
// messages, while another tenant's batches waited. Only what can decide a message of the batch is read back: per
// profile, purpose and device the row in effect before the batch's earliest message, and the rows since.
import { createHash } from "node:crypto"
import { Effect } from "effect"
import fc from "fast-check"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { DEFAULT_POLICIES, DEFAULT_POLICY, makeConsentStage, stateFromRows, STRIPPED_MARK } from "../../consent/index.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { insertLedgerRows, ledgerOfProfiles, ledgerOfProfilesFrom, type LedgerRow } from "../../warehouse/consent.ts"
import { Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { ALL, prefs, web } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const HOUR = 3_600_000
const CHANGES = 2_000
const PURPOSES = ["Analytics", "Advertising", "Personalization", "CrmSync", "SocialListening"]

/** The device key the stage writes without the deployment's keys (consent/stage.ts legacyDeviceOf). */
const deviceOf = (anonymousId: string) => createHash("sha256").update(`acme\u0000${anonymousId}`).digest("hex").slice(0, 16)

/** Values the warehouse answered (an array's elements each): what reading the ledger brought back. */
const counting = (w: WarehouseShape, count: { values: number }): WarehouseShape => ({
  ...w,
  query: <T>(sql: string, options?: Parameters<WarehouseShape["query"]>[1]) =>
    w.query<T>(sql, options).pipe(Effect.map((rows) => {
      for (const row of rows as ReadonlyArray<Record<string, unknown>>) {
        for (const v of Object.values(row)) count.values += Array.isArray(v) ? v.length : 1
      }
      return rows
    })),
})

describe("the consent stage's ledger read", () => {
  it("a batch of a profile with a long consent history reads what decides it, not the history, and decides as before", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      // One browser of profile p1 changing all its preferences every hour for CHANGES hours, the last a refusal,
      // ending a day ago.
      const start = Date.now() - 24 * HOUR - CHANGES * HOUR
      const stateAt = (i: number) => (i % 2 === 0 ? "granted" : "denied") as LedgerRow["state"]
      const history: Array<LedgerRow> = []
      for (let i = 0; i < CHANGES; i++) {
        for (const purpose of PURPOSES) {
          history.push({
            tenant: "acme", messageId: `h${i}`, profileId: "p1", purpose, state: stateAt(i), basis: "consent",
            source: "segment_preferences", proof: "{}", device: deviceOf("a1"), atMs: start + i * HOUR, recordedAtMs: start + i * HOUR,
          })
        }
      }
      yield* insertLedgerRows(history)
      const count = { values: 0 }
      const stage = yield* makeConsentStage(DEFAULT_POLICIES).pipe(Effect.provideService(Warehouse, counting(yield* Warehouse, count)))
      const message = (id: string, atMs: number, fields: Partial<CanonicalEvent> = {}) =>
        web(id, new Date(atMs).toISOString(), { anonymousId: "a1", profileId: "p1", ...fields })
      const stripped = (o: { _tag: string; value?: CanonicalEvent }) => o._tag === "ok" && o.value?.extra[STRIPPED_MARK] === "Analytics"

      // Now: the last refusal is in effect, and the browser restating it changes nothing.
      const now = yield* stage([message("n1", Date.now()), message("n2", Date.now(), { context: prefs(ALL(false)) })])
      expect(now.map(stripped)).toEqual([true, true])
      expect(count.values, `the stage read ${count.values} values back for a batch of 2 messages`).toBeLessThan(200)

      // Late data: a message from the middle of the history is decided by the change in effect at its time.
      count.values = 0
      const late = yield* stage([message("l1", start + 1000.5 * HOUR), message("l2", start + 1001.5 * HOUR)])
      expect(late.map(stripped)).toEqual([stateAt(1000) === "denied", stateAt(1001) === "denied"])
      // It reads the history since then, and no more.
      expect(count.values).toBeGreaterThan(998 * PURPOSES.length)
      expect(count.values).toBeLessThan(1_010 * PURPOSES.length)
    })), 120_000)

  it("reads rows that give every state from its time on as the whole ledger does, whatever the versions and moves (property)", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const purposes = ["Analytics", "Advertising"]
      const devices = ["", "d1", "d2"]
      const row = fc.record({
        msg: fc.integer({ min: 0, max: 25 }), profile: fc.integer({ min: 0, max: 2 }), purpose: fc.constantFrom(...purposes),
        source: fc.constantFrom("segment_preferences", "tcf"), device: fc.constantFrom(...devices), at: fc.integer({ min: 0, max: 20 }),
        state: fc.constantFrom("granted", "denied"),
      })
      const move = fc.record({ msg: fc.integer({ min: 0, max: 25 }), profile: fc.integer({ min: 0, max: 3 }), version: fc.integer({ min: 1, max: 5 }) })
      let run = 0
      const base = Date.UTC(2024, 9, 1)
      const property = fc.asyncProperty(fc.array(row, { maxLength: 40 }), fc.array(move, { maxLength: 10 }), fc.integer({ min: 0, max: 22 }), (rows, moves, from) =>
        Effect.runPromise(Effect.gen(function* () {
          const tenant = `t${run++}`
          // Each row its own recording time: versions of a replacing key (message, purpose, source) are told apart by it.
          yield* insertLedgerRows(rows.map((r, i): LedgerRow => ({
            tenant, messageId: `m${r.msg}`, profileId: `P${r.profile}`, purpose: r.purpose, state: r.state as LedgerRow["state"], basis: "consent",
            source: r.source, proof: "{}", device: r.device, atMs: base + r.at * 1000, recordedAtMs: base + 100_000 + i,
          })))
          yield* warehouse.insert("event_profiles", moves.map((m) => ({ tenant, message_id: `m${m.msg}`, profile_id: `P${m.profile}`, version: m.version })))
          const profiles = ["P0", "P1", "P2", "P3"]
          const whole = yield* ledgerOfProfiles(tenant, profiles)
          const part = yield* ledgerOfProfilesFrom(tenant, profiles, base + from * 1000)
          for (const p of profiles) {
            const w = whole.filter((r) => r.profileId === p)
            const q = part.filter((r) => r.profileId === p)
            for (let t = from; t <= 21; t++) {
              const ms = base + t * 1000
              for (const purpose of purposes) {
                expect(stateFromRows(q, purpose, DEFAULT_POLICY.purposes[purpose]!, ms).state).toBe(stateFromRows(w, purpose, DEFAULT_POLICY.purposes[purpose]!, ms).state)
                for (const device of devices) {
                  const ofDevice = (rs: ReadonlyArray<LedgerRow>) => rs.filter((r) => r.device === device)
                  expect(stateFromRows(ofDevice(q), purpose, DEFAULT_POLICY.purposes[purpose]!, ms).state)
                    .toBe(stateFromRows(ofDevice(w), purpose, DEFAULT_POLICY.purposes[purpose]!, ms).state)
                }
              }
            }
            // Rows merged in from another profile are all read.
            expect(q.filter((r) => r.recordedProfileId !== p).length).toBe(w.filter((r) => r.recordedProfileId !== p).length)
          }
        }).pipe(Effect.provideService(Warehouse, warehouse))))
      // fast-check prints the seed and the shrunk counterexample of a failure.
      yield* Effect.promise(() => fc.assert(property, { numRuns: 40 }))
    })), 180_000)
})
