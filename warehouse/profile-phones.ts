// Which digit runs seen in a profile's answer are one of its phone numbers, for masking it (ingest/mask.ts): the
// profile's phone identifiers are matched in the engine, so a read never takes a profile's identifiers (there may be
// 100,000) into the process, only the runs it asked about that matched.
import { Effect } from "effect"
import { type ProfileScope, scopeCondition } from "./identity.ts"
import { Warehouse } from "./warehouse.ts"

/**
 * Of `runs` (digits without leading zeros, 7 or more), those that end one of the profile's phones (as stored or as
 * sent, digits without leading zeros) or that one of its phones ends: "2079460958" is +44 20 7946 0958's.
 */
export const phoneRunsOf = Effect.fn("phoneRunsOf")(function* (scope: ProfileScope, runs: ReadonlyArray<string>) {
  if (runs.length === 0) return new Set<string>()
  const warehouse = yield* Warehouse
  const { mine, params } = scopeCondition(scope)
  const rows = yield* warehouse.query<{ run: string }>(
    "SELECT DISTINCT run FROM (SELECT arrayFilter(r -> endsWith(d, r) OR endsWith(r, d), {runs:Array(String)}) AS matched FROM (" +
      "SELECT DISTINCT replaceRegexpOne(replaceRegexpAll(x, '[^0-9]', ''), '^0+', '') AS d FROM identity_observations " +
      `ARRAY JOIN sightings AS s ARRAY JOIN [s.value, s.raw] AS x WHERE ${mine} AND s.kind = 'phone') WHERE length(d) >= 7) ARRAY JOIN matched AS run`,
    { params: { ...params, runs } })
  return new Set(rows.map((r) => r.run))
})
