// The relationship types over time (`cdp relations report`, and the listening report's section): for each day, week
// or month between two dates, the profiles per type as of the period's end and the movements between types since the
// period before.
import { Effect } from "effect"
import { readRuns, readStoredTypes } from "../../warehouse/relations.ts"
import { RELATIONSHIP_TYPES } from "./classify.ts"
import { PeriodInvalid, scoresAsOf } from "./compute.ts"
import type { RelationsConfig } from "./config.ts"

export type SeriesEvery = "day" | "week" | "month"
export const SERIES_EVERY: ReadonlyArray<SeriesEvery> = ["day", "week", "month"]

/** A series longer than this is refused: each period may be a compute of every profile. */
export const MAX_PERIODS = 400

export interface TypeMovement {
  readonly from: string
  readonly to: string
  readonly profiles: number
}

export interface SeriesPeriod {
  /** First and last day of the period (YYYY-MM-DD, inclusive). */
  readonly start: string
  readonly end: string
  /** "stored": the latest run whose date falls in the period; "computed": computed as of `end` (not stored); "missing": neither. */
  readonly source: "stored" | "computed" | "missing"
  /** The date the distribution is as of (null when missing). */
  readonly asOf: string | null
  readonly profiles: number
  /** Profiles per type, every type listed (0 when missing). */
  readonly byType: Readonly<Record<string, number>>
  /** The date the movements are counted from: the last earlier period with scores, or the baseline (null: none). */
  readonly since: string | null
  /** Profiles whose type changed since `since` ("none": not scored then), most first. */
  readonly movements: ReadonlyArray<TypeMovement>
}

export interface RelationSeries {
  readonly tenant: string
  readonly from: string
  readonly to: string
  readonly every: SeriesEvery
  readonly computeMissing: boolean
  readonly types: ReadonlyArray<string>
  /**
   * The scores the first period's movements are counted from: as of the day before `from` (stored, or computed with
   * `computeMissing`), else the latest run stored before `from`; null when there is none.
   */
  readonly baseline: { readonly asOf: string | null; readonly source: SeriesPeriod["source"]; readonly profiles: number }
  readonly periods: ReadonlyArray<SeriesPeriod>
  /** All movements of the series added up, most first. */
  readonly movements: ReadonlyArray<TypeMovement>
  /** Set when no period has scores: what to run. */
  readonly message?: string
}

const DAY_MS = 86_400_000
const ms = (day: string) => Date.parse(`${day}T00:00:00Z`)
const day = (t: number) => new Date(t).toISOString().slice(0, 10)

/** The last day of the day, ISO week (Monday to Sunday) or calendar month holding `t`. */
const endOfPeriod = (t: number, every: SeriesEvery): number => {
  if (every === "day") return t
  const d = new Date(t)
  if (every === "week") return t + ((7 - d.getUTCDay()) % 7) * DAY_MS
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)
}

/** The periods between `from` and `to` (both inclusive): whole days, weeks or months, the first and last cut to the range. */
export const periodsBetween = (from: string, to: string, every: SeriesEvery) => {
  if (from > to) return Effect.fail(new PeriodInvalid({ message: `from ${from} is after to ${to}`, field: "from" }))
  const periods: Array<{ start: string; end: string }> = []
  for (let t = ms(from); t <= ms(to); ) {
    const end = Math.min(endOfPeriod(t, every), ms(to))
    periods.push({ start: day(t), end: day(end) })
    if (periods.length > MAX_PERIODS) {
      return Effect.fail(new PeriodInvalid({
        message: `every ${every} gives more than ${MAX_PERIODS} periods from ${from} to ${to}: use a longer period or a shorter range`, field: "every",
      }))
    }
    t = end + DAY_MS
  }
  return Effect.succeed(periods)
}

const countByType = (types: ReadonlyMap<string, string>) => {
  const byType: Record<string, number> = Object.fromEntries(RELATIONSHIP_TYPES.map((t) => [t, 0]))
  for (const t of types.values()) byType[t] = (byType[t] ?? 0) + 1
  return byType
}

const sorted = (moves: ReadonlyMap<string, number>): Array<TypeMovement> =>
  [...moves].map(([k, profiles]) => {
    const [from, to] = k.split(">") as [string, string]
    return { from, to, profiles }
  }).sort((a, b) => b.profiles - a.profiles || (a.from < b.from ? -1 : a.from > b.from ? 1 : a.to < b.to ? -1 : a.to > b.to ? 1 : 0))

/**
 * The series of relationship types from `from` to `to`. Each period reads the latest stored run (`cdp relations
 * compute`) dated inside it; a period without one is computed as of its last day when `computeMissing` (nothing is
 * stored), else shown as missing. Stored runs are the default because a compute reads every profile's signals, and a
 * weekly series over a quarter would be thirteen of them.
 */
export const relationSeries = Effect.fn("relationSeries")(function* (options: {
  readonly tenant: string
  readonly from: string
  readonly to: string
  readonly every: SeriesEvery
  readonly computeMissing: boolean
  readonly config: RelationsConfig
}) {
  const { tenant, from, to, every, computeMissing, config } = options
  const ranges = yield* periodsBetween(from, to, every)
  const runDates = [...new Set((yield* readRuns(tenant)).map((r) => r.asOf))].sort()

  const typesAsOf = (date: string) =>
    scoresAsOf(tenant, date, config).pipe(Effect.map((scores) => new Map(scores.map((s) => [s.profileId, s.relationshipType]))))
  /** The scores of a period: its latest stored run, else computed as of its end, else none. */
  const scoresOf = (start: string, end: string) =>
    Effect.gen(function* () {
      const stored = runDates.filter((d) => d >= start && d <= end).at(-1)
      if (stored !== undefined) return { source: "stored" as const, asOf: stored, types: yield* readStoredTypes(tenant, stored) }
      if (computeMissing) return { source: "computed" as const, asOf: end, types: yield* typesAsOf(end) }
      return { source: "missing" as const, asOf: null, types: undefined }
    })

  // The first period's movements count from the day before `from` (computed when asked), else the last run before it.
  const dayBefore = day(ms(from) - DAY_MS)
  const base = yield* scoresOf(runDates.includes(dayBefore) || computeMissing ? dayBefore : "0000-01-01", dayBefore)
  let previous = base.types === undefined ? undefined : { asOf: base.asOf!, types: base.types }
  const total = new Map<string, number>()
  const periods: Array<SeriesPeriod> = []
  for (const { start, end } of ranges) {
    const now = yield* scoresOf(start, end)
    if (now.types === undefined) {
      periods.push({
        start, end, source: "missing", asOf: null, profiles: 0, byType: countByType(new Map()), since: null, movements: [],
      })
      continue
    }
    const moves = new Map<string, number>()
    if (previous !== undefined) {
      for (const [profileId, type] of now.types) {
        const prior = previous.types.get(profileId) ?? "none"
        if (prior === type) continue
        const key = `${prior}>${type}`
        moves.set(key, (moves.get(key) ?? 0) + 1)
        total.set(key, (total.get(key) ?? 0) + 1)
      }
    }
    periods.push({
      start, end, source: now.source, asOf: now.asOf, profiles: now.types.size, byType: countByType(now.types),
      since: previous?.asOf ?? null, movements: sorted(moves),
    })
    previous = { asOf: now.asOf, types: now.types }
  }
  const scored = periods.some((p) => p.profiles > 0)
  return {
    tenant, from, to, every, computeMissing, types: RELATIONSHIP_TYPES,
    baseline: { asOf: base.asOf, source: base.source, profiles: base.types?.size ?? 0 },
    periods, movements: sorted(total),
    ...(scored ? {} : {
      message: computeMissing
        ? `no profile of tenant "${tenant}" has activity up to ${to}: nothing to score`
        : `no relationship scores stored for tenant "${tenant}" from ${from} to ${to}: run cdp relations compute --as-of DATE, or pass --compute-missing`,
    }),
  } satisfies RelationSeries
})
