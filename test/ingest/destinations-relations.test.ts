// Relationship traits (type, health, churn risk, sentiment trend, as of) reach the CRMs: whole-profile records carry
// them once relations scored the profile, mapped fields can name them, and a new relations run re-sends the profiles
// whose traits moved even when no message of theirs landed since the last sync.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { computeRelations, DEFAULT_RELATIONS_CONFIG } from "../../identity/relations/index.ts"
import { type DestinationConfig, parseDestinations, syncDestination } from "../../ingest/destinations/index.ts"
import { changesHighWater, writeCursor } from "../../warehouse/exports.ts"
import { type ReplayServer, webhookServer } from "../support/crm-replay-servers.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"

let dir: string
type Hook = Awaited<ReturnType<typeof webhookServer>>
const servers: Array<ReplayServer> = []
beforeEach(() => { dir = freshDir() })
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()))
  removeDir(dir)
})

const SECRET = "whsec_0123456789abcdef"
const dest = (d: Record<string, unknown>): DestinationConfig => parseDestinations(JSON.stringify({ acme: [d] }))[0]!

describe("relationship traits in exports", () => {
  it("are sent once scored, by name in a mapping, and again after a relations run that moved them", async () => {
    const whole = await webhookServer(SECRET)
    const mapped = await webhookServer(SECRET)
    servers.push(whole, mapped)
    const wholeDest = dest({ name: "whole", type: "webhook", purpose: "CrmSync", url: whole.url, secret: SECRET })
    const mappedDest = dest({
      name: "mapped", type: "webhook", purpose: "CrmSync", url: mapped.url, secret: SECRET,
      fields: { id: "profile_id", kind: "relationship_type|=unscored", risk: "churn_risk", health: "health_score", asOf: "relationship_as_of" },
    })
    const relations = (asOf: string) => computeRelations({ tenant: "acme", asOf, config: DEFAULT_RELATIONS_CONFIG })
    const syncBoth = Effect.all([syncDestination(wholeDest), syncDestination(mappedDest)])
    // As if the last sync had run well after the latest change (past the cursor's 60 s overlap): a later sync then
    // reads only what changes after now, so messages that landed before are no reason to send anyone.
    const quietSince = Effect.gen(function* () {
      const highWater = yield* changesHighWater("acme")
      for (const name of ["whole", "mapped"]) yield* writeCursor("acme", name, highWater! + 61_000, "")
      yield* Effect.sleep("1100 millis")
    })
    const sent = (s: Hook) => [...s.records.values()].map((r) => r as Record<string, any>)
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* submit([1, 2].map((n) => web(`m${n}`, 1, {
        type: "identify", userId: `u${n}`, traits: { email: `p${n}@mail.example` }, context: prefs({ CrmSync: true }),
      })))
      const unscored = yield* syncBoth
      const beforeScores = { whole: sent(whole), mapped: sent(mapped) }
      yield* quietSince
      yield* relations("2024-10-05")
      const scored = yield* syncBoth
      const firstScores = { whole: sent(whole), mapped: sent(mapped) }
      const again = yield* syncBoth
      yield* quietSince
      const quiet = yield* syncBoth
      yield* relations("2025-06-01")
      const moved = yield* syncBoth
      return { unscored, beforeScores, scored, firstScores, again, quiet, moved, lastScores: { whole: sent(whole), mapped: sent(mapped) } }
    }))
    const counts = (runs: ReadonlyArray<{ upserted: number; unchanged: number; error?: unknown }>) => runs.map((x) => [x.upserted, x.unchanged, x.error])
    expect(counts(r.unscored)).toEqual([[2, 0, undefined], [2, 0, undefined]])
    expect(r.beforeScores.whole.every((x) => !("relationship" in x))).toBe(true)
    expect(r.beforeScores.mapped.map((x) => [x["kind"], x["risk"]])).toEqual([["unscored", undefined], ["unscored", undefined]])

    // Scored: no message landed since the first sync, and both profiles go out again with their relationship.
    expect(counts(r.scored)).toEqual([[2, 0, undefined], [2, 0, undefined]])
    for (const x of r.firstScores.whole) {
      expect(x["relationship"]).toEqual({ type: "new", healthScore: expect.any(Number), churnRisk: expect.any(Number), sentimentTrend: null, asOf: "2024-10-05" })
    }
    for (const x of r.firstScores.mapped) {
      expect(x).toMatchObject({ kind: "new", risk: expect.any(Number), health: expect.any(Number), asOf: "2024-10-05" })
    }
    // Read again within the cursor's overlap, and not sent: unchanged.
    expect(counts(r.again)).toEqual([[0, 2, undefined], [0, 2, undefined]])
    // Nothing changed since: nothing is even read.
    expect(counts(r.quiet)).toEqual([[0, 0, undefined], [0, 0, undefined]])
    // A later run moved them (new -> distant): sent again, with the new scores.
    expect(counts(r.moved)).toEqual([[2, 0, undefined], [2, 0, undefined]])
    expect(r.lastScores.mapped.map((x) => [x["kind"], x["asOf"]])).toEqual([["distant", "2025-06-01"], ["distant", "2025-06-01"]])
    expect(r.lastScores.whole.map((x) => x["relationship"]["type"])).toEqual(["distant", "distant"])
  }, 60_000)

  it("a mapping naming a source that does not exist is refused, listing the relationship sources", () => {
    expect(() => dest({ name: "m", type: "webhook", purpose: "CrmSync", url: "https://x.example", secret: SECRET, fields: { risk: "churn" } }))
      .toThrow(/must be profile_id, first_seen, last_seen, relationship_type, health_score, churn_risk, sentiment_trend, relationship_as_of/)
  })
})
