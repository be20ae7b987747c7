// Consent applied late to stored messages (warehouse/sink.ts stripStoredEvents, removeStoredEvents) rewrites them with
// mutations. On the embedded engine these must not hold the engine's one connection while they rewrite parts, and one
// that fails or is interrupted must not stay in the table, where every later mutation of it waits behind it.
import { Effect, Exit, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { removeStoredEvents, stripStoredEvents } from "../../warehouse/sink.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { mutationRunning, readsMeanwhile, unfinished } from "../support/mutations.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const PARTS = 6
const PART_ROWS = 50_000
/** In each part, the row at this offset is stripped. */
const STRIPPED_AT = 7
const strippedIds = Array.from({ length: PARTS }, (_, i) => `m-${i * PART_ROWS + STRIPPED_AT}`)
const STRIP = { safeContext: ["locale"], personalProperty: "^(email|name)$", mark: "consent_stripped", purpose: "Analytics" }

/** 300,000 stored messages of acme in PARTS parts (one insert each), with a text and a score for the stripped ones. */
const stored = Effect.gen(function* () {
  const w = yield* Warehouse
  for (let i = 0; i < PARTS; i++) {
    yield* w.command(
      "INSERT INTO event_rows (tenant, message_id, type, event, anonymous_id, user_id, profile_id, channel, source, timestamp, received_at, " +
        "properties, traits, context, extra, identifiers) SELECT 'acme', concat('m-', toString(number)), 'track', 'Viewed', " +
        "concat('a-', toString(number % 1000)), concat('u-', toString(number % 1000)), concat('p-', toString(number % 1000)), 'web', 'web', " +
        "toDateTime64('2026-11-01 10:00:00', 3, 'UTC') + number, now64(3), " +
        // Text that compresses little, as messages' do: the mutation rewrites every part, for a while.
        "concat('{\"email\":\"', hex(sipHash128(number, 1)), '@x.example\",\"note\":\"', arrayStringConcat(arrayMap(i -> hex(sipHash128(number, i)), range(6)), ' '), '\"}'), " +
        "'{\"plan\":\"pro\"}', '{\"locale\":\"en-GB\",\"ip\":\"192.0.2.1\"}', '{}', [('email', 'ann@x.example')] " +
        `FROM numbers(${i * PART_ROWS}, ${PART_ROWS})`)
  }
  for (const id of strippedIds) {
    yield* w.command("INSERT INTO texts (tenant, message_id, profile_id, channel, timestamp, text) VALUES ('acme', {id:String}, 'p-7', 'web', now64(3), 'hello')", { id })
  }
})

const row = (id: string) => Effect.gen(function* () {
  const w = yield* Warehouse
  const [r] = yield* w.query<Record<string, unknown>>(
    "SELECT user_id, anonymous_id, traits, context, properties, extra, identifiers FROM event_rows WHERE message_id = {id:String}", { params: { id } })
  return r
})

const texts = Effect.gen(function* () {
  const w = yield* Warehouse
  const [c] = yield* w.query<{ n: string }>("SELECT count() AS n FROM texts")
  return Number(c!.n)
})

describe("consent applied to stored messages on the embedded engine", () => {
  it("stripping them lets a small read answer meanwhile, and leaves no mutation unfinished", { timeout: 120_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      yield* stored
      const { took, longest } = yield* readsMeanwhile(stripStoredEvents("acme", strippedIds, STRIP))
      expect(yield* row(strippedIds[3]!)).toEqual({
        user_id: "", anonymous_id: "", traits: "{}", context: '{"locale":"en-GB"}', properties: expect.stringMatching(/^\{"note":"[0-9A-F ]+"\}$/),
        extra: '{"consent_stripped":"Analytics"}', identifiers: [],
      })
      expect(yield* row("m-8")).toMatchObject({ user_id: "u-8", traits: '{"plan":"pro"}' })
      expect(yield* texts).toBe(0)
      expect(longest).toBeLessThan(took / 2)
      for (const table of ["event_rows", "texts", "sentiment"]) expect(yield* unfinished(table)).toEqual([])
    })))

  it("interrupted while its mutation runs, leaves no mutation unfinished, and stripping again works", { timeout: 120_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      yield* stored
      const strip = yield* Effect.forkChild(stripStoredEvents("acme", strippedIds, STRIP))
      expect(yield* mutationRunning("event_rows")).toBe(true)
      yield* Fiber.interrupt(strip)
      expect(Exit.hasInterrupts(yield* Fiber.await(strip))).toBe(true)
      expect(yield* unfinished("event_rows")).toEqual([])
      yield* stripStoredEvents("acme", strippedIds, STRIP)
      expect(yield* row(strippedIds[0]!)).toMatchObject({ user_id: "", extra: '{"consent_stripped":"Analytics"}' })
      expect(yield* unfinished("event_rows")).toEqual([])
    })))

  it("a strip that cannot run because another mutation of the table fails is stopped, naming that one, as a failed mutation of the table (not an unavailable warehouse)", { timeout: 120_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      yield* w.command("INSERT INTO event_rows (tenant, message_id, profile_id, timestamp, received_at) VALUES ('acme', 'm-1', 'p-1', now64(3), now64(3))")
      // Not the strip's: left failing by someone else.
      yield* w.command("ALTER TABLE event_rows UPDATE traits = toString(toUInt32(concat('x', message_id))) WHERE 1 SETTINGS mutations_sync = 0")
      // Stopped for that mutation, told by the message rather than by this machine's clock: a strip that did not look
      // at the table's other mutations fails on its own mutation's failure, or waits out its deadline (MUTATION_TIMEOUT_MS,
      // 10 minutes, past this test's timeout), either way not naming that one.
      const failure = yield* stripStoredEvents("acme", ["m-1"], STRIP).pipe(Effect.flip)
      expect(failure._tag).toBe("ErasureMutationFailed")
      expect(failure).toMatchObject({ table: "event_rows" })
      expect(failure.message).not.toContain("\n")
      expect(failure.message).toMatch(
        /^the consent strip's mutation of table event_rows cannot run while mutation_\d+\.txt of the table fails: Cannot parse string '…' as UInt32.*\(CANNOT_PARSE_TEXT\); it was stopped/)
      // Only the other one is left; the strip's was killed.
      const left = yield* unfinished("event_rows")
      expect(left.length).toBe(1)
      expect(failure.message).toContain(left[0]!.mutation_id)
    })))

  it("removing them deletes their rows, texts and scores and leaves no mutation unfinished", { timeout: 120_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      yield* w.command("INSERT INTO event_rows (tenant, message_id, profile_id, timestamp, received_at) VALUES ('acme', 'm-1', 'p-1', now64(3), now64(3)), ('acme', 'm-2', 'p-1', now64(3), now64(3))")
      yield* w.command("INSERT INTO texts (tenant, message_id, profile_id, channel, timestamp, text) VALUES ('acme', 'm-1', 'p-1', 'web', now64(3), 'hi')")
      yield* removeStoredEvents("acme", ["m-1"])
      expect(yield* w.query("SELECT message_id FROM event_rows")).toEqual([{ message_id: "m-2" }])
      expect(yield* texts).toBe(0)
      for (const table of ["event_rows", "texts", "sentiment"]) expect(yield* unfinished(table)).toEqual([])
    })))
})
