// The consent stage reads the ledger of each batch's profiles. It read every row of them, whole histories: a person
// whose browser changes its preferences now and then, or a flood restating them, made each batch of theirs read back
// (and decide over: every message looked through every row of its profile) more, batch after batch. Seen on cdp serve
// (one tenant flooding, a ledger of 5,000 rows): 32-663 ms reading and 43-939 ms deciding in each batch of 3,000-7,000
// messages, while another tenant's batches waited. Only what can decide a message of the batch is read back: per
// profile, purpose and device the row in effect before the batch's earliest message, and the rows since.
import { createHash } from "node:crypto"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { DEFAULT_POLICIES, makeConsentStage, STRIPPED_MARK } from "../../consent/index.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { insertLedgerRows, type LedgerRow } from "../../warehouse/consent.ts"
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
})
