// GET /health: live means the process answers; ready means a message sent now gets what a 2xx promises: landed on the
// in-process bus, acknowledged by Kafka on the Kafka bus. Not ready (503, with the reasons) while draining, while the
// warehouse or the bus does not answer (or, on the in-process bus, the object store), while the data dir's disk is
// nearly full, or, on the in-process bus, while a consumer keeps failing (an outage) or no call of a consumer has
// completed for too long while records wait behind the call in progress (a wedged pipeline: one long call alone, a
// slow statement, refuses no one until a record queued behind it has waited the limit). A tenant's records waiting long while calls keep
// completing (tenants take turns, ingest/bus.ts) are that tenant's backlog, bounded by its own 429 (ingest/collector.ts
// maxPendingPerTenant): listed in `warnings`, refusing no sender (the tenant is named in the log, not in the answer:
// /health is public). On Kafka a consumer's trouble delays no 2xx (the message waits in Kafka until the consumer is
// back): it is listed in `warnings`, and senders are not refused for it.
import type { StatsFs } from "node:fs"
import { statfs } from "node:fs/promises"
import { dirname } from "node:path"
import { Duration, Effect, Option, Schedule } from "effect"
import { Warehouse } from "../warehouse/warehouse.ts"
import { EventBus, type TopicBacklog } from "./bus.ts"
import { ObjectStore } from "./objectstore.ts"
import { Pipeline } from "./pipeline.ts"

export interface HealthOptions {
  /** Not ready while the data dir's file system has fewer free bytes than this (default 256 MB). */
  readonly minFreeBytes?: number
  /**
   * Not ready while a topic's records have waited longer than this with no handler call completing (default 30 s); on
   * the in-process bus an older record while calls complete is only a warning.
   */
  readonly maxBacklogAgeMs?: number
  /** Whose file system must have room (default: the local object store's, else the embedded warehouse's directory). */
  readonly dataDir?: string
}

export const DEFAULT_MIN_FREE_BYTES = 256 * 1024 * 1024
export const DEFAULT_MAX_BACKLOG_AGE_MS = 30_000

/** Free space is read at most this often (senders are checked against it on every request). */
const DISK_CHECK_INTERVAL_MS = 1_000
/**
 * The bus is pinged this often in the background, so that while it does not answer (a Kafka broker stopped) a sender is
 * refused at once: before, each waited for its own publish to fail, up to the 30 s publish timeout.
 */
const BUS_CHECK_INTERVAL = Duration.seconds(1)
/**
 * On the in-process bus the object store is asked this often too, as a message is answered only once it is archived:
 * before, the collector learnt the store was down only once the archive consumer had failed, and the request then in
 * flight waited out the 30 s publish timeout behind the consumer's retries.
 */
const STORE_CHECK_INTERVAL_MS = 1_000
/**
 * While the store does not answer, the checks back off: 2, 4, 8... s apart, at most this. Checked every second, an
 * outage cost one S3 HEAD a second per server for as long as it lasted. Senders are refused from the first failed
 * check on, and a GET /health asks the store itself, so a store back is seen at once by the next /health (or at the
 * latest by the next check).
 */
const STORE_CHECK_MAX_MS = 30_000

/** How long after `failures` failed checks in a row the store is asked again. */
const storeRecheckMs = (failures: number) =>
  Math.min(STORE_CHECK_INTERVAL_MS * 2 ** Math.min(failures, 16), STORE_CHECK_MAX_MS)

export interface HealthReply {
  readonly status: number
  readonly body: unknown
}

export interface Health {
  /** The full report, pinging the warehouse. */
  readonly report: (draining: boolean) => Effect.Effect<HealthReply>
  /** Why a message sent now could not land, from what is already known (no ping); undefined when it can. */
  readonly refusal: Effect.Effect<string | undefined>
  /**
   * Completes, with the reason, once a backend a message waits on is known not to answer (the bus, or on the
   * in-process bus the object store): a request waiting for the pipeline is then answered 503 at once instead of
   * at its publish timeout. Never completes while they answer.
   */
  readonly outage: Effect.Effect<string>
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`
const megabytes = (bytes: number) => `${Math.floor(bytes / 1024 / 1024)} MB`
const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())

/**
 * Runs checks of one backend so that each result is applied (`apply`) only when no check started after it has been
 * applied already; every check still answers its own result to whoever ran it.
 */
const inStartOrder = () => {
  let started = 0
  let applied = 0
  return <A>(check: Effect.Effect<A>, apply: (result: A) => void) =>
    Effect.suspend(() => {
      const ticket = ++started
      return Effect.tap(check, (result) => Effect.sync(() => {
        if (ticket < applied) return
        applied = ticket
        apply(result)
      }))
    })
}

export const makeHealth = (options: HealthOptions = {}) =>
  Effect.gen(function* () {
    const pipeline = yield* Pipeline
    const warehouse = yield* Warehouse
    const bus = yield* EventBus
    const store = yield* Effect.serviceOption(ObjectStore)
    const minFreeBytes = options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES
    const maxBacklogAgeMs = options.maxBacklogAgeMs ?? DEFAULT_MAX_BACKLOG_AGE_MS
    const diskPath = options.dataDir ??
      (Option.isSome(store) && store.value.backend.kind === "local" ? store.value.backend.location
        : warehouse.backend.kind === "embedded" ? warehouse.backend.location : undefined)
    const startedAt = Date.now()

    let disk: { readonly at: number; readonly freeBytes: number | undefined } = { at: 0, freeBytes: undefined }
    const freeBytes = Effect.promise(async () => {
      if (diskPath === undefined) return undefined
      if (Date.now() - disk.at < DISK_CHECK_INTERVAL_MS) return disk.freeBytes
      // A directory not made yet (the object store makes its own on first write): measure where it will be.
      let stats: StatsFs | undefined
      for (let path = diskPath; stats === undefined; path = dirname(path)) {
        stats = await statfs(path).catch(() => undefined)
        if (path === dirname(path)) break
      }
      disk = { at: Date.now(), freeBytes: stats === undefined ? undefined : stats.bavail * stats.bsize }
      return disk.freeBytes
    })

    /**
     * What stops a topic's pipeline: its consumer failing, or no call completing for the limit while records wait behind
     * the call in progress (a bus that does not tell, Kafka's, is judged by the oldest record's age).
     */
    const backlogProblems = (backlog: Record<string, TopicBacklog>) =>
      Object.entries(backlog).flatMap(([topic, b]) => {
        const oldest = `the oldest of ${b.pending} records`
        const limit = `(limit ${seconds(maxBacklogAgeMs)})`
        const stalled = b.stalledMs ?? b.oldestAgeMs
        return [
          ...(b.failing === undefined ? [] : [
            `topic ${topic}: its consumer has failed ${b.failing.attempts} times since ${iso(b.failing.sinceMs)} (${b.failing.error}); retrying`,
          ]),
          ...(stalled <= maxBacklogAgeMs ? []
            : stalled < b.oldestAgeMs
            ? [`topic ${topic}: no call of its consumer has completed for ${seconds(stalled)} while ${oldest} has waited ${seconds(b.oldestAgeMs)} ${limit}`]
            : [`topic ${topic}: ${oldest} has waited ${seconds(b.oldestAgeMs)} ${limit}`]),
        ]
      })
    /**
     * A tenant's backlog on a moving pipeline (in-process bus): the oldest record past the limit while calls keep
     * completing. Shown; no sender is refused for it. Which tenant is logged (once while it stays the same), never
     * answered: anyone may ask /health, and a tenant must not learn of another.
     */
    const slowTopics = (backlog: Record<string, TopicBacklog>) =>
      Object.entries(backlog).filter(([, b]) =>
        b.stalledMs !== undefined && b.stalledMs <= maxBacklogAgeMs && b.oldestAgeMs > maxBacklogAgeMs)
    const backlogSlow = (backlog: Record<string, TopicBacklog>) =>
      slowTopics(backlog).map(([topic, b]) =>
        `topic ${topic}: the oldest of ${b.pending} records has waited ${seconds(b.oldestAgeMs)} (limit ${seconds(maxBacklogAgeMs)}) ` +
        `while its consumer's calls keep completing (the last ${seconds(b.stalledMs!)} ago): one tenant's backlog behind the turns, refusing no sender`)
    /** The tenant last logged as having the old backlog, per topic. */
    const slowLogged = new Map<string, string>()
    const logSlow = (backlog: Record<string, TopicBacklog>) =>
      Effect.forEach(slowTopics(backlog), ([topic, b]) => {
        const tenant = b.oldestTenant ?? ""
        if (slowLogged.get(topic) === tenant) return Effect.void
        slowLogged.set(topic, tenant)
        return Effect.logWarning("a tenant's records wait past the backlog limit while the pipeline moves; no sender is refused").pipe(
          Effect.annotateLogs({ topic, tenant, pending: b.pending, oldestSeconds: Math.round(b.oldestAgeMs / 1000) }))
      }, { discard: true }).pipe(Effect.andThen(Effect.sync(() => {
        for (const topic of [...slowLogged.keys()]) if (!slowTopics(backlog).some(([t]) => t === topic)) slowLogged.delete(topic)
      })))

    const diskProblem = (free: number | undefined) =>
      free !== undefined && free < minFreeBytes
        ? `the disk of ${diskPath} has ${megabytes(free)} free (needs ${megabytes(minFreeBytes)})`
        : undefined

    // On Kafka a 2xx waits only for Kafka's ack: what the consumers do with the message later cannot break it.
    const consumersStopIngest = bus.backend.kind === "memory"

    const busProblem = (up: boolean) => up ? [] : [`the bus (${bus.backend.kind} ${bus.backend.location}) does not answer`]
    // On the in-process bus a message is answered once its raw text is archived, so a store that does not answer
    // stops ingestion; behind Kafka the edge answers once Kafka has it and the consumers archive when the store is
    // back (their retries show as a failing consumer), so the store's state is shown but takes no edge out.
    const objects = Option.isSome(store) ? store.value : undefined
    const objectsStopIngest = objects?.ping !== undefined && bus.backend.kind === "memory"
    const storeProblem = (down: string | undefined) =>
      down === undefined || !objectsStopIngest ? [] : [`the object store (${objects!.backend.kind} ${objects!.backend.location}) does not answer: ${down}`]

    // What the checks found last (the background ones and /health's own), each check's result kept only if no check
    // started after it has been kept already: a check that hung for seconds, started while a backend did not answer,
    // must not undo what a later one found (a store back, seen by /health, was taken for down again 3 s later and
    // refused the next sender).
    let busAnswers = true
    let storeDown: string | undefined
    const busChecks = inStartOrder()
    const storeChecks = inStartOrder()
    const checkBus = busChecks(bus.ping, (up) => { busAnswers = up })
    const checkStore = (ping: Effect.Effect<string | undefined>) => storeChecks(ping, (down) => { storeDown = down })
    const outageNow = () => [...busProblem(busAnswers), ...storeProblem(storeDown)]
    /** Requests waiting for the pipeline, told when an outage becomes known. */
    const waiting = new Set<(why: string) => void>()
    const tellWaiting = () => {
      const problems = outageNow()
      if (problems.length === 0 || waiting.size === 0) return
      const why = `not ready: ${problems.join("; ")}`
      for (const w of [...waiting]) w(why)
      waiting.clear()
    }
    yield* Effect.forkScoped(checkBus.pipe(
      Effect.tap(() => Effect.sync(tellWaiting)),
      Effect.repeat(Schedule.spaced(BUS_CHECK_INTERVAL)),
    ))
    if (objectsStopIngest) {
      let failures = 0
      yield* Effect.forkScoped(checkStore(objects!.ping!).pipe(
        Effect.tap((down) => Effect.sync(() => {
          failures = down === undefined ? 0 : failures + 1
          tellWaiting()
        })),
        Effect.andThen(Effect.suspend(() => Effect.sleep(storeRecheckMs(failures)))),
        Effect.forever,
      ))
    }
    const outage = Effect.callback<string>((resume) => {
      const problems = outageNow()
      if (problems.length > 0) return resume(Effect.succeed(`not ready: ${problems.join("; ")}`))
      const told = (why: string) => resume(Effect.succeed(why))
      waiting.add(told)
      return Effect.sync(() => { waiting.delete(told) })
    })

    const refusal = Effect.gen(function* () {
      const problems = [...busProblem(busAnswers), ...storeProblem(storeDown), ...(consumersStopIngest ? backlogProblems(yield* bus.backlog) : [])]
      const disk = diskProblem(yield* freeBytes)
      if (disk !== undefined) problems.unshift(disk)
      return problems.length === 0 ? undefined : `not ready: ${problems.join("; ")}`
    })

    const report = (draining: boolean) =>
      Effect.gen(function* () {
        const warehouseUp = yield* warehouse.ping
        // What the report finds is news for the refusal and the waiting requests too.
        const busUp = yield* checkBus
        const backlog = yield* bus.backlog
        const pending = yield* bus.pending
        const free = yield* freeBytes
        const objectsDown = objects?.ping === undefined ? undefined : yield* (objectsStopIngest ? checkStore(objects.ping) : objects.ping)
        tellWaiting()
        const reasons = [
          ...(draining ? ["draining: the collector is shutting down"] : []),
          ...(warehouseUp ? [] : [`the warehouse (${warehouse.backend.kind} ${warehouse.backend.location}) does not answer`]),
          ...busProblem(busUp),
          ...storeProblem(objectsDown),
          ...(consumersStopIngest ? backlogProblems(backlog) : []),
          ...[diskProblem(free)].filter((p) => p !== undefined),
        ]
        yield* logSlow(backlog)
        const warnings = [...(consumersStopIngest ? [] : backlogProblems(backlog)), ...backlogSlow(backlog)]
        const ready = reasons.length === 0
        const { lastLandedAt, lastWarehouseError } = pipeline.landing
        return {
          status: ready ? 200 : 503,
          body: {
            status: ready ? "ok" : draining ? "draining" : "degraded",
            live: true,
            ready,
            reasons,
            warnings,
            uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
            backends: {
              warehouse: { ...warehouse.backend, state: warehouseUp ? "up" : "down" },
              bus: {
                ...bus.backend, state: !busUp ? "down" : backlogProblems(backlog).length + backlogSlow(backlog).length === 0 ? "up" : "degraded", pending,
                oldestPendingSeconds: Math.max(0, ...Object.values(backlog).map((b) => b.oldestAgeMs)) / 1000,
              },
              ...(objects === undefined ? {} : {
                objects: { ...objects.backend, state: objectsDown === undefined ? "up" : "down", ...(objectsDown === undefined ? {} : { error: objectsDown }) },
              }),
              disk: { path: diskPath ?? null, freeBytes: free ?? null, minFreeBytes, state: diskProblem(free) === undefined ? "ok" : "low" },
            },
            landing: {
              lastLandedAt: iso(lastLandedAt),
              lastWarehouseError: lastWarehouseError === undefined ? null : { ...lastWarehouseError, at: iso(lastWarehouseError.at) },
            },
            counters: pipeline.counters,
          },
        }
      })

    return { report, refusal, outage } satisfies Health
  })
