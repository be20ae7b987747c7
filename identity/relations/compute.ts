// Bringing every profile's relationship to a date (`cdp relations compute`), the distribution and movements between
// two dates (`cdp relations summary`), and one profile's evidence (`cdp relations explain`).
import { Data, Duration, Effect, Schedule } from "effect"
import {
  type ProfileHistory, readLatestScore, readLatestScores, RUN_EARLIEST_DAY, RUN_LATEST_DAY, readProfileHistories, readRuns, relationTenants, readStoredScores, type SignalSource, type StoredScore, storeScores,
} from "../../warehouse/relations.ts"
import { besideErasures, readBesideErasures } from "../../warehouse/erasure.ts"
import { backgroundReads } from "../../warehouse/warehouse.ts"
import { classify, RELATIONSHIP_TYPES, type RelationshipType } from "./classify.ts"
import { inSlices, pauseAt, type Steps } from "../slices.ts"
import type { RelationsConfig } from "./config.ts"
import { signalsOf, signalsWhenLastSeen } from "./signals.ts"

export class NoRelationsYet extends Data.TaggedError("NoRelationsYet")<{ readonly tenant: string }> {
  override get message() {
    return `no relationship scores for tenant "${this.tenant}" yet: run cdp relations compute first`
  }
}

export class ProfileNotScored extends Data.TaggedError("ProfileNotScored")<{ readonly profileId: string; readonly asOf: string }> {
  override get message() {
    return `profile ${this.profileId} has no relationship scores as of ${this.asOf} (no activity up to then, or it was merged since: run cdp relations compute)`
  }
}

/** A period whose end is not after its start, or that would hold too many periods; `field` names the parameter to mend. */
export class PeriodInvalid extends Data.TaggedError("PeriodInvalid")<{ readonly message: string; readonly field: string }> {}

export class ComputeRunning extends Data.TaggedError("ComputeRunning")<{ readonly tenant: string }> {
  override get message() {
    return `tenant "${this.tenant}" is computing its relationships already; retry when it ends`
  }
}

/** A date as YYYY-MM-DD (UTC). */
export const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10)

const round = (x: number | null, digits = 3) => (x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits)

/** One profile's scores as of a date, from its history. */
export const scoreProfile = (history: ProfileHistory, asOf: string, config: RelationsConfig): StoredScore => {
  const signals = signalsOf(history, asOf, config)
  const r = classify(signals, config, signalsWhenLastSeen(history, asOf, config, signals))
  return {
    profileId: history.profileId,
    relationshipType: r.type,
    healthScore: r.healthScore,
    churnRisk: r.churnRisk,
    sentimentLevel: round(signals.sentimentLevel),
    sentimentTrend: round(signals.sentimentTrend),
    factors: r.factors,
    signals: Object.fromEntries(Object.entries(signals).map(([k, v]) => [k, typeof v === "number" ? round(v) : v])),
  }
}

/** Each history's scores, pausing between profiles (a tenant's are seconds of JavaScript: see identity/slices.ts). */
function* scoring(histories: ReadonlyArray<ProfileHistory>, asOf: string, config: RelationsConfig): Steps<Array<StoredScore>> {
  const scores: Array<StoredScore> = []
  for (let i = 0; i < histories.length; i++) {
    scores.push(scoreProfile(histories[i]!, asOf, config))
    if (pauseAt(i)) yield
  }
  return scores
}

/**
 * Every profile's scores as of a date, computed (not stored). Scored in slices: in `cdp serve` a compute shares the
 * event loop with every request and batch (20,000 profiles scored at once held it 1.4 s).
 */
export const scoresAsOf = Effect.fn("scoresAsOf")(function* (tenant: string, asOf: string, config: RelationsConfig, source: SignalSource = "incremental") {
  // On the background connection: on the pipeline's, every tenant's landing waited behind a tenant's whole history.
  const histories = yield* backgroundReads(readProfileHistories(tenant, asOf, source))
  return yield* inSlices(scoring(histories, asOf, config))
})

export interface ComputeResult {
  readonly tenant: string
  readonly asOf: string
  readonly profiles: number
  readonly byType: Readonly<Record<string, number>>
  readonly seconds: number
}

const distribution = (scores: ReadonlyArray<StoredScore>) => {
  const byType: Record<string, number> = Object.fromEntries(RELATIONSHIP_TYPES.map((t) => [t, 0]))
  for (const s of scores) byType[s.relationshipType] = (byType[s.relationshipType] ?? 0) + 1
  return byType
}

// Tenants computing in this process: a compute reads every profile's signals, so a second one for the same tenant
// (an API call beside the scheduled one) would only do the same work again.
const computing = new Set<string>()

/** Why a day (YYYY-MM-DD on the calendar) cannot be a run's (the days its as_of column holds), or undefined. */
export const notARunDay = (day: string): string | undefined =>
  day < RUN_EARLIEST_DAY || day > RUN_LATEST_DAY
    ? `${day} is outside the days relationship scores are kept for (${RUN_EARLIEST_DAY} to ${RUN_LATEST_DAY})` : undefined

/** Whether this process is computing the tenant's relationships now (a compute for it would be ComputeRunning). */
export const isComputing = (tenant: string) => computing.has(tenant)

interface ComputeOptions {
  readonly tenant: string
  readonly asOf: string
  readonly config: RelationsConfig
  readonly source?: SignalSource
}

/**
 * Brings every profile's scores to `asOf` from the data up to it and stores them as the current run; fails with
 * ComputeRunning while this process computes the tenant already.
 */
export const computeRelations = Effect.fn("computeRelations")(function* (options: ComputeOptions) {
  const outside = notARunDay(options.asOf)
  if (outside !== undefined) return yield* new PeriodInvalid({ message: `asOf ${outside}`, field: "asOf" })
  if (computing.has(options.tenant)) return yield* new ComputeRunning({ tenant: options.tenant })
  computing.add(options.tenant)
  return yield* Effect.gen(function* () {
    const started = performance.now()
    const scores = yield* scoreBesideErasures(options)
    return {
      tenant: options.tenant, asOf: options.asOf, profiles: scores.length, byType: distribution(scores),
      seconds: Math.round((performance.now() - started) / 10) / 100,
    } satisfies ComputeResult
  }).pipe(Effect.ensuring(Effect.sync(() => computing.delete(options.tenant))))
})

const COMPUTE_ATTEMPTS = 3

/**
 * Every profile's scores, read beside erasures of the tenant (a minute at a million events: an erasure does not wait
 * for that) and stored beside none, without the profiles an erasure removed since the read began. When more erasures
 * ran meanwhile than this process keeps track of, it reads again; the last attempt holds erasures off throughout.
 */
const scoreBesideErasures = (options: ComputeOptions) =>
  Effect.gen(function* () {
    const read = scoresAsOf(options.tenant, options.asOf, options.config, options.source)
    const store = (scores: ReadonlyArray<StoredScore>) => Effect.as(storeScores(options.tenant, options.asOf, scores, Date.now()), scores)
    for (let attempt = 1; attempt < COMPUTE_ATTEMPTS; attempt++) {
      const reading = readBesideErasures(options.tenant)
      const scores = yield* read
      const stored = yield* reading.beside((erased) => store(erased.size === 0 ? scores : scores.filter((s) => !erased.has(s.profileId)))).pipe(
        Effect.catchTag("ErasuresUntracked", () => Effect.succeed(undefined)))
      if (stored !== undefined) return stored
      yield* Effect.logInfo("relations compute read beside more erasures than this process keeps track of; reading again").pipe(
        Effect.annotateLogs({ tenant: options.tenant, attempt }))
    }
    return yield* besideErasures(options.tenant)(Effect.flatMap(read, store))
  })

/** When a run was computed, in ms (the warehouse gives "YYYY-MM-DD hh:mm:ss.sss", UTC). */
const computedMs = (computedAt: string) => Date.parse(`${computedAt.replace(" ", "T")}Z`)

/**
 * `cdp serve`'s schedule (CDP_RELATIONS_EVERY): every tenant with activity whose latest run was computed more than
 * `everyMs` ago is brought to today; one never computed counts from the schedule's start (a new server does not
 * compute every tenant while it starts up). Checked every `tickMs` (default a minute, or `everyMs` when shorter), from
 * the stored runs, so a restart neither skips a due compute nor repeats one. A failure is logged and retried at the
 * next tick; it never stops the server.
 */
export const keepRelationsCurrent = (options: { readonly everyMs: number; readonly config: RelationsConfig; readonly tickMs?: number }) => {
  const startedMs = Date.now()
  const due = (tenant: string) =>
    Effect.map(readRuns(tenant), (runs) => {
      const latest = runs.length === 0 ? startedMs : Math.max(...runs.map((r) => computedMs(r.computedAt)))
      return Date.now() - latest >= options.everyMs
    })
  const bring = (tenant: string) =>
    computeRelations({ tenant, asOf: dayOf(Date.now()), config: options.config }).pipe(
      Effect.tap((r) => Effect.logInfo("relations computed").pipe(Effect.annotateLogs({ tenant, asOf: r.asOf, profiles: r.profiles, seconds: r.seconds }))),
      Effect.catchTag("ComputeRunning", () => Effect.void),
      Effect.catchCause((cause) => Effect.logWarning("relations compute failed").pipe(Effect.annotateLogs({ tenant, cause: String(cause).slice(0, 300) }))),
    )
  const once = Effect.gen(function* () {
    for (const tenant of yield* relationTenants()) if (yield* due(tenant)) yield* bring(tenant)
  }).pipe(Effect.catchCause((cause) => Effect.logWarning("relations schedule failed").pipe(Effect.annotateLogs({ cause: String(cause).slice(0, 300) }))))
  return Effect.repeat(once, Schedule.spaced(Duration.millis(options.tickMs ?? Math.min(options.everyMs, 60_000))))
}

/** Stored scores of a date when a run brought them there, else computed now (not stored). */
const scoresFor = (tenant: string, asOf: string, config: RelationsConfig) =>
  Effect.gen(function* () {
    const stored = yield* readStoredScores(tenant, asOf)
    return stored.length > 0 ? stored : yield* scoresAsOf(tenant, asOf, config)
  })

export interface Movement {
  readonly profileId: string
  readonly from: RelationshipType | "none"
  readonly to: RelationshipType
  readonly churnRisk: number
}

export interface Summary {
  readonly tenant: string
  readonly from: string
  readonly to: string
  /** Profiles per type at both dates. */
  readonly distribution: ReadonlyArray<{ readonly type: string; readonly from: number; readonly to: number }>
  /** How many profiles moved from one type to another (including "none": not yet seen at `from`). */
  readonly movements: ReadonlyArray<{ readonly from: string; readonly to: string; readonly profiles: number }>
  /** Every profile whose type changed, riskiest first. */
  readonly changed: ReadonlyArray<Movement>
}

/** The distribution per type at `from` and `to`, and the profiles whose type changed between them. */
export const summarise = Effect.fn("summarise")(function* (options: {
  readonly tenant: string
  readonly from?: string | undefined
  readonly to?: string | undefined
  readonly config: RelationsConfig
}) {
  const runs = yield* readRuns(options.tenant)
  const to = options.to ?? runs[0]?.asOf
  if (to === undefined) return yield* new NoRelationsYet({ tenant: options.tenant })
  const from = options.from ?? dayOf(Date.parse(`${to}T00:00:00Z`) - options.config.windowDays * 86_400_000)
  if (from >= to) return yield* new PeriodInvalid({ message: `to ${to} must be after from ${from}`, field: options.from === undefined ? "to" : "from" })
  const before = yield* scoresFor(options.tenant, from, options.config)
  const after = yield* scoresFor(options.tenant, to, options.config)
  const was = new Map(before.map((s) => [s.profileId, s.relationshipType as RelationshipType]))
  const changed: Array<Movement> = []
  const moves = new Map<string, number>()
  for (const s of after) {
    const prior = was.get(s.profileId) ?? "none"
    if (prior === s.relationshipType) continue
    changed.push({ profileId: s.profileId, from: prior, to: s.relationshipType as RelationshipType, churnRisk: s.churnRisk })
    const key = `${prior}>${s.relationshipType}`
    moves.set(key, (moves.get(key) ?? 0) + 1)
  }
  const a = distribution(before)
  const b = distribution(after)
  return {
    tenant: options.tenant, from, to,
    distribution: RELATIONSHIP_TYPES.map((type) => ({ type, from: a[type] ?? 0, to: b[type] ?? 0 })),
    movements: [...moves].map(([k, profiles]) => ({ from: k.split(">")[0]!, to: k.split(">")[1]!, profiles }))
      .sort((x, y) => y.profiles - x.profiles || (x.from + x.to < y.from + y.to ? -1 : 1)),
    changed: changed.sort((x, y) => y.churnRisk - x.churnRisk || (x.profileId < y.profileId ? -1 : 1)),
  } satisfies Summary
})

export interface RelationExplanation extends StoredScore {
  readonly asOf: string
}

/** One profile's stored scores and evidence, from the latest run (or the run of `asOf`). */
export const explainRelation = Effect.fn("explainRelation")(function* (tenant: string, profileId: string, asOf?: string) {
  const runs = yield* readRuns(tenant)
  const date = asOf ?? runs[0]?.asOf
  if (date === undefined) return yield* new NoRelationsYet({ tenant })
  const [score] = yield* readStoredScores(tenant, date, profileId)
  if (score === undefined) return yield* new ProfileNotScored({ profileId, asOf: date })
  return { ...score, asOf: date } satisfies RelationExplanation
})

/**
 * A profile's relationship as traits (relationship_type, health_score, churn_risk, sentiment_trend,
 * relationship_factors), stated by "relations" as of the latest run's date: what `cdp profile show` adds.
 */
export const relationshipTraits = Effect.fn("relationshipTraits")(function* (tenant: string, profileId: string) {
  return traitsOfScore(yield* readLatestScore(tenant, profileId))
})

/** relationshipTraits of many profiles in one statement (profile documents), by profile ({} for one not scored). */
export const relationshipTraitsOf = Effect.fn("relationshipTraitsOf")(function* (tenant: string, profileIds: ReadonlyArray<string>) {
  const scores = yield* readLatestScores(tenant, profileIds)
  return new Map(profileIds.map((p) => [p, traitsOfScore(scores.get(p))]))
})

const traitsOfScore = (score: Effect.Success<ReturnType<typeof readLatestScore>>) => {
  if (score === undefined) return {}
  const stated = (value: unknown) => ({ value, source: "relations", at: score.asOf })
  return {
    relationship_type: stated(score.relationshipType),
    health_score: stated(score.healthScore),
    churn_risk: stated(score.churnRisk),
    ...(score.sentimentTrend === null ? {} : { sentiment_trend: stated(score.sentimentTrend) }),
    relationship_factors: stated(score.factors),
  }
}
