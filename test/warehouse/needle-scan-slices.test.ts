// A data-subject request about a person with many identifiers must not hold the embedded engine (one statement at a
// time per process) for long: seen on cdp serve, an access about a person with 10,000 identifiers took 6 min 35 s and
// /health and another tenant's consent read each waited up to 20 s behind one of its statements. The needle search
// over a table now runs as statements over slices of each part, so another statement waits at most about one slice.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { findRows } from "../../warehouse/erasure.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"
import { connectionWaits } from "../support/connection-waits.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ROWS = Number(process.env["NEEDLE_SCAN_ROWS"] ?? 300_000)
const NEEDLES = 2_000

describe("the needle search of a DSR", () => {
  it(`over ${ROWS} rows with ${NEEDLES} identifiers lets another statement in within seconds, and finds the same rows`, () =>
    withPipeline(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      yield* w.command(
        "INSERT INTO event_rows (tenant, message_id, type, event, user_id, profile_id, channel, source, timestamp, received_at, properties, traits, context, extra) " +
          "SELECT 'acme', concat('m', toString(number)), 'identify', '', concat('u', toString(intDiv(number, 20))), " +
          "concat('prof_', toString(intDiv(number, 20))), 'web', 'segment', now64(3) - toIntervalSecond(number % 7776000), now64(3), " +
          "concat('{\"note\":\"ask u', toString(number), '@x.example about order ', toString(number % 97), '\"}'), " +
          "concat('{\"email\":\"u', toString(intDiv(number, 20)), '@x.example\"}'), '{}', '{}' " +
          `FROM numbers(${ROWS})`)
      // The subject: their own messages by id, and mentions of their addresses in others' rows (every 1000th row).
      // Half of the addresses as sent in capitals: the search ignores case.
      const address = (i: number) => (i % 80 === 0 ? `U${i * 25}@X.Example` : `u${i * 25}@x.example`)
      const needles = Array.from({ length: NEEDLES }, (_, i) => (i % 40 === 0 ? address(i) : `anon-big-${i}`))
      const subject = { tenant: "acme", messageIds: ["m7", "m8"], profileIds: [], needles }
      const locator = { table: "event_rows", messageId: "message_id", profileIds: ["profile_id"], needleMatch: "redact" as const }

      const { result: found, took, whole } = yield* connectionWaits(findRows(locator, subject))

      expect(found.mine.map((r) => r["message_id"]).sort()).toEqual(["m7", "m8"])
      // Rows mentioning u{k}@x.example as a whole token: the note of row k, and the e-mail trait of rows 20k..20k+19.
      const expected = new Set<string>()
      for (let i = 0; i < NEEDLES; i += 40) {
        const k = i * 25
        if (k < ROWS) expected.add(`m${k}`)
        for (let j = 0; j < 20; j++) if (k * 20 + j < ROWS) expected.add(`m${k * 20 + j}`)
      }
      expected.delete("m7")
      expected.delete("m8")
      expect(new Set(found.mentions.map((r) => String(r["message_id"])))).toEqual(expected)
      // As one statement, a read waited for the whole search (33 s at 300,000 rows; 9.4 of 9.4 s at load 11): now for
      // about a slice of it. Bounded by the search's own time in this run, which grows with the machine's load as a
      // slice's does (a fixed 15 s could be missed by chance on a loaded machine; 1.5-2 s of 7.7 s were seen in CI).
      expect(whole, `a read took ${Math.round(whole)} ms beside a search of ${Math.round(took)} ms`).toBeLessThan(took / 2)
    })), 600_000)
})
