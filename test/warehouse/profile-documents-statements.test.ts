// A batch of profile documents (500 profiles, as the server's keeper builds them) is read in statements that name each
// list of ids once, and those that can be are written in whole (warehouse/inline-params.ts): a statement too long to
// write in is bound and takes chDB's process-wide turn, so every other statement with bound parameters (any tenant's
// landing, reads, audience refreshes) waits for it. The scopes' statement named the 500 profiles in four places, the
// run's statement its message ids in twelve (and their owners in five), and the identifiers' owners were asked about
// in one statement however many there were.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { inlineParams } from "../../warehouse/inline-params.ts"
import { identifierOwners } from "../../warehouse/identity.ts"
import { readDocumentParts } from "../../warehouse/profile-documents.ts"
import { type QueryOptions, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const PROFILES = 500
const PER_PROFILE = 20
// Ids of the length the product makes: a profile id is 27 characters (identity/graph.ts profileIdFor), a message id a UUID.
const PROFILE = "concat('prof_', leftPad(toString(intDiv(number, 20)), 22, '0'))"
const profileId = (n: number) => `prof_${String(n).padStart(22, "0")}`

/** PROFILES people of tenant acme, PER_PROFILE messages each (UUID ids), each message seeing the person's user id. */
const seed = Effect.gen(function* () {
  const w = yield* Warehouse
  const message = "UUIDNumToString(MD5(toString(number)))"
  yield* w.command("INSERT INTO event_rows (tenant, message_id, type, event, user_id, profile_id, channel, source, timestamp, received_at, properties, traits, context, extra) " +
    `SELECT 'acme', ${message}, 'track', 'Order Completed', concat('u', toString(intDiv(number, 20))), ${PROFILE}, 'web', 'segment', ` +
    `toDateTime64('2024-10-01 00:00:00', 3, 'UTC') + toIntervalSecond(number), toDateTime64('2024-10-01 00:00:00', 3, 'UTC'), '{}', '{}', '{}', '{}' FROM numbers(${PROFILES * PER_PROFILE})`)
  yield* w.command("INSERT INTO identity_observations (tenant, message_id, timestamp, sightings, refused) " +
    `SELECT 'acme', ${message}, toDateTime64('2024-10-01 00:00:00', 3, 'UTC'), [('user_id', concat('u', toString(intDiv(number, 20))), concat('u', toString(intDiv(number, 20))), 'verified')], [] ` +
    `FROM numbers(${PROFILES * PER_PROFILE})`)
})

/** The warehouse, with every query's statement and parameters kept in `seen`. */
const watching = (real: WarehouseShape, seen: Array<{ sql: string; params: Record<string, unknown> }>): WarehouseShape => ({
  ...real,
  query: <T>(sql: string, options?: QueryOptions) => {
    seen.push({ sql, params: options?.params ?? {} })
    return real.query<T>(sql, options)
  },
})

const occurrences = (sql: string, name: string) => sql.split(`{${name}:`).length - 1

describe("the statements of a batch of profile documents", () => {
  it("name the 500 profiles once in the scopes' statement, written in whole, and each of the run's id lists once", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      yield* seed
      const real = yield* Warehouse
      const seen: Array<{ sql: string; params: Record<string, unknown> }> = []
      const profiles = Array.from({ length: PROFILES }, (_, n) => profileId(n))
      const parts = yield* readDocumentParts("acme", profiles, Date.UTC(2024, 10, 1)).pipe(Effect.provideService(Warehouse, watching(real, seen)))
      expect(parts.size).toBe(PROFILES)
      expect([...parts.values()].every((p) => p.scope.ids.length === PER_PROFILE && p.summary.events.length === PER_PROFILE && p.identifiers !== undefined)).toBe(true)

      const scopes = seen.filter((s) => "scope_profiles" in s.params)
      expect(scopes).toHaveLength(1)
      expect(occurrences(scopes[0]!.sql, "scope_profiles")).toBe(1)
      expect(inlineParams(scopes[0]!.sql, scopes[0]!.params), "the scopes' statement written in").toBeDefined()

      const runs = seen.filter((s) => "doc_ids" in s.params)
      expect(runs).toHaveLength(1)
      for (const name of ["doc_ids", "doc_owners", "doc_landing", "doc_profiles"]) expect(occurrences(runs[0]!.sql, name), name).toBe(1)
    })), 60_000)

  it("ask who holds 2,000 identifiers of real length in statements written in whole, and find each owner", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      // Four identifiers a person: an e-mail, a user id and two anonymous ids (UUIDs), about 80 kB of values.
      const identifiers: Array<readonly [string, string]> = []
      const nodes: Array<Record<string, unknown>> = []
      for (let n = 0; n < PROFILES; n++) {
        const mine: Array<readonly [string, string]> = [
          ["email", `first.last.${n}@a-longer-domain.example`], ["user_id", crypto.randomUUID()],
          ["anonymous_id", crypto.randomUUID()], ["anonymous_id", crypto.randomUUID()],
        ]
        identifiers.push(...mine)
        for (const [kind, value] of mine) nodes.push({ tenant: "acme", kind, value, slice: 0, profile_id: profileId(n), shared: "", version: 1 })
      }
      yield* w.insert("identity_nodes", nodes)
      const seen: Array<{ sql: string; params: Record<string, unknown> }> = []
      const owners = yield* identifierOwners("acme", identifiers).pipe(Effect.provideService(Warehouse, watching(w, seen)))
      expect(owners.size).toBe(identifiers.length)
      for (const [i, [kind, value]] of identifiers.entries()) expect(owners.get(`${kind}\u0000${value}`)).toBe(profileId(Math.floor(i / 4)))
      expect(seen.length).toBeGreaterThan(1)
      for (const s of seen) expect(inlineParams(s.sql, s.params), `${(s.params["values"] as Array<string>).length} values`).toBeDefined()
    })), 60_000)
})
