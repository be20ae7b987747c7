// One sync of a destination, and of all of a tenant's destinations side by side. A sync sends, in order: the deletions
// erasures queued, the removals of profiles the destination's purpose (or audience) no longer allows, and the
// consenting profiles that changed since the last good sync (or entered the audience). Delivery is at least once:
// each confirmed batch is recorded at once (export_state), so a run that dies re-sends at most the batch in flight,
// which the destination takes idempotently (upsert by external id, webhook Idempotency-Key = batch id, file named
// by batch id). Each request waits for the destination's token bucket, has a timeout, and is retried a bounded
// number of times (Retry-After honoured); what still fails is dead-lettered by profile id for `cdp export replay`.
import { randomUUID } from "node:crypto"
import { Cause, Duration, Effect, Exit, Option, Schedule } from "effect"
import { consentingProfilesSql } from "../../consent/index.ts"
import { audienceChangesSince, getAudience, refuseUnusableAudience } from "../../identity/audiences/index.ts"
import {
  type CandidateRow, type ConsentFilter, type DeadLetter, type Delivery, exportCandidates, exportRemovals, changesHighWater, logDeliveries,
  openDeadLetters, pendingErasures, queueRemoteErasures, readCursor, recordDeadLetters, recordErasureAttempts, recordExportState, writeCursor,
} from "../../warehouse/exports.ts"
import { ErasuresUntracked, readBesideErasures, type ReadBesideErasures } from "../../warehouse/erasure.ts"
import { nextTurn } from "../../warehouse/turns.ts"
import { backgroundReads, type Warehouse } from "../../warehouse/warehouse.ts"
import { ObjectStore } from "../objectstore.ts"
import { AddressRefused } from "./address.ts"
import { type DestinationConfig, redactedRequestUrl } from "./config.ts"
import { makeFiles } from "./files.ts"
import { makeHubspot } from "./hubspot.ts"
import { batchIdOf, buildRecord, type DestinationClient, type ItemResult, type Operation, type OutRecord, type PlannedRequest, type SendResult } from "./record.ts"
import { makeSalesforce } from "./salesforce.ts"
import { bucketOf, type TokenBucket } from "./token-bucket.ts"
import { makeWebhook } from "./webhook.ts"

/** Messages ingested this long before the last cursor are looked at again: an insert in flight at the last run's
 * read may land with an older ingestion time. The fingerprints keep the overlap from re-sending anything. */
export const CURSOR_OVERLAP_MS = 60_000

const AUDIENCE_PAGE = 10_000

export const makeClient = Effect.fn("makeClient")(function* (config: DestinationConfig) {
  switch (config.type) {
    case "ndjson":
    case "csv":
      return makeFiles(config, yield* ObjectStore)
    case "webhook":
      return makeWebhook(config)
    case "hubspot":
      return makeHubspot(config)
    case "salesforce":
      return makeSalesforce(config)
  }
})

export interface SyncOptions {
  /** Every consenting profile, not only those changed since the cursor (a backfill: unchanged ones are still skipped). */
  readonly full?: boolean
  /** Plan only: nothing is sent or recorded. */
  readonly dryRun?: boolean
  /** A dry run's requests shown with their bodies (the first ones; every one is counted): DRY_RUN_SHOWN unless set. */
  readonly shown?: number
  /** A client per destination instead of the one its type makes (tests and the bench wrap them to count or kill). */
  readonly clients?: (config: DestinationConfig) => DestinationClient | undefined
}

export interface PlannedBatch extends PlannedRequest {
  readonly operation: Operation
  readonly batchId: string
  readonly records: number
  /** When the body shows fewer than `records` (the dry run's record budget ran out): how many it shows. */
  readonly recordsShown?: number
  readonly profileIds: ReadonlyArray<string>
}

export interface SyncReport {
  readonly tenant: string
  readonly destination: string
  readonly type: string
  readonly runId: string
  readonly erased: number
  readonly removed: number
  readonly upserted: number
  readonly unchanged: number
  readonly deadLettered: number
  readonly requests: number
  readonly retries: number
  readonly ms: number
  readonly cursorAdvanced: boolean
  /** Why the run stopped before the end (the destination's configuration, an unknown purpose, the warehouse). */
  readonly error?: string
  readonly planned?: ReadonlyArray<PlannedBatch>
  /** Dry run only: every request the sync would send and its records per operation (`planned` shows the first ones). */
  readonly plannedTotals?: PlannedTotals
}

export interface PlannedTotals {
  readonly requests: number
  readonly upsert: number
  readonly remove: number
  readonly erase: number
}

/**
 * Requests a dry run shows with their bodies unless asked for more or fewer: a backfill of a million profiles would
 * otherwise build every body in memory and answer them all at once.
 */
export const DRY_RUN_SHOWN = 20
/** The most a dry run shows (CLI --limit, the API's "limit"). */
export const MAX_DRY_RUN_SHOWN = 1000
/**
 * The most records a dry run shows the bodies of, in all: a file destination sends 10,000 records a request, so a few
 * requests shown whole were every record of a tenant. A request past it is shown with the records left (`recordsShown`).
 */
export const MAX_DRY_RUN_RECORDS = 1000

/** What a dry run plans: the first requests in full (up to MAX_DRY_RUN_RECORDS records), every one counted. */
interface Plan {
  readonly shown: number
  readonly batches: Array<PlannedBatch>
  totals: PlannedTotals
  /** Records shown so far, in all the batches shown. */
  recordsShown: number
}

interface Outcome {
  readonly ok: Array<Extract<ItemResult, { ok: true }>>
  readonly dead: Array<{ readonly record: OutRecord; readonly reason: string; readonly attempts: number; readonly batchId: string }>
}

const chunks = <A>(xs: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size))
  return out
}

/** Exponential backoff with full jitter, when the destination gave no Retry-After. */
const backoffMs = (attempt: number) => Math.round(Math.random() * Math.min(30_000, 250 * 2 ** attempt))

interface Run {
  readonly config: DestinationConfig
  readonly client: DestinationClient
  readonly bucket: TokenBucket
  readonly runId: string
  requests: number
  retries: number
}

const sendOnce = (run: Run, op: Operation, records: ReadonlyArray<OutRecord>, batchId: string) =>
  Effect.tryPromise({
    try: (signal) => run.client.send(op, records, batchId, signal),
    catch: (e) => e,
  }).pipe(
    Effect.timeoutOption(Duration.millis(run.config.timeoutMs)),
    Effect.map((o): SendResult => Option.isSome(o) ? o.value : { kind: "retry", status: 0, detail: `no answer within ${run.config.timeoutMs} ms` }),
    // A host name answering an address cdp does not send to is not tried again: its batch is dead-lettered now.
    Effect.catch((e) => e instanceof AddressRefused
      ? Effect.succeed<SendResult>({ kind: "retry", status: 0, detail: `not sent: ${e.message}`.slice(0, 300), giveUp: true })
      : Effect.fail(e)),
    // A connection refused or reset, a DNS failure: the destination may be back later.
    Effect.catch((e) => Effect.succeed<SendResult>({ kind: "retry", status: 0, detail: `network: ${(e as Error)?.cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error)?.message ?? String(e)}`.slice(0, 300) })),
  )

/**
 * Sends one batch until every record is confirmed, refused or out of attempts. A request the destination refuses
 * whole (400, 409, 422) is split in halves, so one bad record does not dead-letter its neighbours.
 */
const deliverBatch = (run: Run, op: Operation, batch: ReadonlyArray<OutRecord>): Effect.Effect<Outcome, unknown, Warehouse> =>
  Effect.gen(function* () {
    const out: Outcome = { ok: [], dead: [] }
    let pending = batch
    let attempt = 0
    while (pending.length > 0) {
      attempt++
      const batchId = batchIdOf(run.config.name, op, pending)
      yield* run.bucket.take
      const started = Date.now()
      const result = yield* sendOnce(run, op, pending, batchId)
      const answeredAt = Date.now()
      run.requests++
      const failedItems = result.kind === "done" ? result.items.filter((i) => !i.ok).length : pending.length
      // A destination asking to wait longer than maxRetryAfterMs is not waited for: its batch is dead-lettered now.
      const tooLong = result.kind === "retry" && result.retryAfterMs !== undefined && result.retryAfterMs > run.config.maxRetryAfterMs
      const dying = result.kind === "refused" ? pending.length <= 1 || ![400, 409, 413, 422].includes(result.status)
        : result.kind === "retry" ? result.giveUp === true || attempt >= run.config.maxAttempts || tooLong : false
      const delivery: Delivery = {
        tenant: run.config.tenant, destination: run.config.name, runId: run.runId, batchId, operation: op, attempt,
        outcome: result.kind === "done" ? (failedItems === 0 ? "delivered" : "partial") : result.kind === "refused" ? (dying ? "refused" : "split") : dying ? "dead-lettered" : "retry",
        httpStatus: result.status, records: pending.length, failed: failedItems, detail: result.detail, durationMs: Date.now() - started, atMs: Date.now(),
      }
      yield* logDeliveries([delivery])
      if (result.kind === "done") {
        // At most maxRetryAfterMs, as a Retry-After: the budget's window is the answer's word (a header of years paused
        // the destination's bucket, shared by every later run in the process, for good). A request still refused after
        // it is dead-lettered by the retry path, which bounds its wait the same way.
        if (result.pauseMs !== undefined) run.bucket.pause(Math.min(result.pauseMs, run.config.maxRetryAfterMs), answeredAt)
        const byKey = new Map(pending.map((r) => [r.key, r]))
        const again: Array<OutRecord> = []
        for (const item of result.items) {
          const record = byKey.get(item.key)!
          if (item.ok) out.ok.push(item)
          else if (item.retryable && attempt < run.config.maxAttempts) again.push(record)
          else out.dead.push({ record, reason: item.detail, attempts: attempt, batchId })
        }
        if (again.length > 0) {
          run.retries++
          yield* Effect.sleep(Duration.millis(backoffMs(attempt)))
        }
        pending = again
      } else if (result.kind === "refused") {
        if (dying) {
          for (const record of pending) out.dead.push({ record, reason: result.detail, attempts: attempt, batchId })
          pending = []
        } else {
          const half = Math.ceil(pending.length / 2)
          for (const part of [pending.slice(0, half), pending.slice(half)]) {
            const sub = yield* deliverBatch(run, op, part)
            out.ok.push(...sub.ok)
            out.dead.push(...sub.dead)
          }
          pending = []
        }
      } else {
        const wait = result.retryAfterMs ?? backoffMs(attempt)
        if (dying) {
          const why = tooLong ? `${result.detail}; asked to wait ${Math.round(wait / 1000)} s, more than maxRetryAfterMs` : result.detail
          for (const record of pending) out.dead.push({ record, reason: why, attempts: attempt, batchId })
          pending = []
        } else {
          run.retries++
          // Every batch of this destination waits, not only this one; other destinations are not touched.
          run.bucket.pause(wait, answeredAt)
        }
      }
    }
    return out
  })

/** When this process cannot tell whom erasures removed since the read: the sync fails, and its next run sends the rest. */
const untracked = (e: { readonly message: string }) => new Error(`${e.message}: this sync stops here, and its next run sends what is left`)

/** The profiles erased since the sync read whom to send. */
const erasedSinceRead = (guard: ReadBesideErasures) => Effect.mapError(guard.erased, untracked)

/** `write`, given the profiles erased since the sync read, beside no erasure of its tenant. */
const besideUnerased = <A>(guard: ReadBesideErasures, write: (erased: ReadonlySet<string>) => Effect.Effect<A, unknown, Warehouse>) =>
  Effect.mapError(guard.beside(write), (e) => e instanceof ErasuresUntracked ? untracked(e) : e)

/**
 * Sends records in the destination's batch size; `onBatch` records each batch's outcome as soon as it is known. With a
 * guard, records of profiles erased since the sync read them are neither sent nor recorded (deliverBeside).
 */
const deliver = (
  run: Run, op: Operation, records: ReadonlyArray<OutRecord>, onBatch: (o: Outcome) => Effect.Effect<void, unknown, Warehouse>, guard?: ReadBesideErasures,
) =>
  Effect.gen(function* () {
    let ok = 0
    let dead = 0
    for (const batch of chunks(records, run.client.maxBatch(op))) {
      const o = guard === undefined ? yield* deliverBatch(run, op, batch) : yield* deliverBeside(run, op, batch, onBatch, guard)
      if (guard === undefined) yield* onBatch(o)
      ok += o.ok.length
      dead += o.dead.length
    }
    return { ok, dead }
  })

/**
 * One batch beside erasures of the sync's tenant. A record of a profile erased since the sync read it is left out before
 * the batch is sent. A destination that can erase (a CRM, a webhook) is sent to holding no erasure back (a batch may
 * wait minutes for its budget); its outcome is recorded under a hold (besideErasures), and a record it took for a
 * profile erased meanwhile is queued for erasure there instead of recorded (export_state would keep the profile id,
 * and the erasure, which queued deletions from export_state, none for it). A file destination cannot erase: it is
 * written and recorded under the hold, as a record written after an erasure would stay.
 */
const deliverBeside = (
  run: Run, op: Operation, batch: ReadonlyArray<OutRecord>, onBatch: (o: Outcome) => Effect.Effect<void, unknown, Warehouse>, guard: ReadBesideErasures,
): Effect.Effect<Outcome, unknown, Warehouse> =>
  Effect.gen(function* () {
    const unerased = (erased: ReadonlySet<string>) => batch.filter((r) => !erased.has(r.profileId))
    if (!run.client.supports.has("erase")) {
      return yield* besideUnerased(guard, (erased) => Effect.tap(deliverBatch(run, op, unerased(erased)), onBatch))
    }
    const sent = yield* deliverBatch(run, op, unerased(yield* erasedSinceRead(guard)))
    return yield* besideUnerased(guard, (erased) => Effect.gen(function* () {
      if (erased.size === 0) return yield* Effect.as(onBatch(sent), sent)
      yield* queueRemoteErasures(guard.tenant, run.config.name, sent.ok.filter((i) => erased.has(i.key)).map((i) => i.remoteId))
      const kept: Outcome = { ok: sent.ok.filter((i) => !erased.has(i.key)), dead: sent.dead.filter((d) => !erased.has(d.record.profileId)) }
      yield* onBatch(kept)
      return kept
    }))
  })

/** How long building records runs before the event loop gets a turn (as the warehouse parses an answer's rows). */
const BUILD_SLICE_MS = 20

/**
 * Each candidate's record (buildRecord: its fields and fingerprint), giving the event loop a turn every BUILD_SLICE_MS:
 * a tenant's 100,000 profiles built at once held cdp serve's loop, so every tenant's requests, for 0.7 s of CPU.
 */
const buildRecords = (config: DestinationConfig, rows: ReadonlyArray<CandidateRow>) =>
  Effect.gen(function* () {
    const out = new Array<OutRecord>(rows.length)
    let sliceStarted = performance.now()
    for (let i = 0; i < rows.length; i++) {
      out[i] = buildRecord(config, undefined, rows[i]!)
      if ((i & 63) === 63 && performance.now() - sliceStarted >= BUILD_SLICE_MS) {
        yield* Effect.promise(nextTurn)
        sliceStarted = performance.now()
      }
    }
    return out
  })

/** Plans an operation's requests: counts them all, and builds (bodies included) only those the plan still shows. */
const plan = (run: Run, op: Operation, records: ReadonlyArray<OutRecord>, into: Plan) => {
  const size = run.client.maxBatch(op)
  const batches = chunks(records, size)
  into.totals = { ...into.totals, requests: into.totals.requests + batches.length, [op]: into.totals[op] + records.length }
  for (const batch of batches.slice(0, Math.max(0, into.shown - into.batches.length))) {
    const left = MAX_DRY_RUN_RECORDS - into.recordsShown
    if (left <= 0) break
    const batchId = batchIdOf(run.config.name, op, batch)
    const shown = batch.length <= left ? batch : batch.slice(0, left)
    into.recordsShown += shown.length
    const request = run.client.plan(op, shown, batchId)
    into.batches.push({
      operation: op, batchId, records: batch.length, ...(shown.length < batch.length ? { recordsShown: shown.length } : {}),
      // Its URL as the status shows the destination's: a webhook's path and query are its credential.
      profileIds: shown.map((r) => r.profileId).filter((p) => p !== ""), ...request, url: redactedRequestUrl(run.config, request.url),
    })
  }
}

const deadLettersOf = (op: Operation, o: Outcome): Array<DeadLetter> =>
  o.dead.map((d) => ({ batchId: d.batchId, profileId: d.record.profileId, operation: op, reason: d.reason, attempts: d.attempts }))

/** What the audience feed says since the cursor: the latest change per profile, and the cursor after it. */
const audienceChanges = (tenant: string, audience: string, cursor: string) =>
  Effect.gen(function* () {
    const latest = new Map<string, "entered" | "exited">()
    let c = cursor
    for (;;) {
      const page = yield* audienceChangesSince(tenant, audience, c, AUDIENCE_PAGE)
      for (const ch of page.changes) latest.set(ch.profileId, ch.change)
      if (page.changes.length < AUDIENCE_PAGE || page.cursor === c) return { latest, cursor: page.cursor }
      c = page.cursor
    }
  })

const removalRecord = (r: { profile_id: string; remote_id: string }): OutRecord =>
  ({ key: r.profile_id, profileId: r.profile_id, remoteId: r.remote_id, fields: {}, fingerprint: "" })

const erasureRecord = (remoteId: string): OutRecord => ({ key: remoteId, profileId: "", remoteId, fields: {}, fingerprint: "" })

/** The body of one destination's sync (its errors become the report's `error`). */
const syncBody = (config: DestinationConfig, options: SyncOptions, run: Run, counts: { erased: number; removed: number; upserted: number; unchanged: number; deadLettered: number }, planned: Plan) =>
  Effect.gen(function* () {
    const { tenant, name } = config
    const dry = options.dryRun === true
    const consent: ConsentFilter = yield* consentingProfilesSql(tenant, config.purpose)
    const highWater = yield* changesHighWater(tenant)
    const cursor = yield* readCursor(tenant, name)
    const sinceMs = options.full === true || cursor === undefined ? undefined : cursor.cursorMs - CURSOR_OVERLAP_MS

    let audienceCursor = cursor?.audienceCursor ?? ""
    let entered: Array<string> | undefined
    let exited: Array<string> = []
    // Why the audience may not be exported now (its purpose was removed from the policy), or undefined.
    let unusable: unknown
    if (config.audience !== undefined) {
      // An audience whose purpose was removed from the policy sends no one new until it has one again, but what takes
      // people out of the destination still goes (its exits, withdrawals, erasures): a person who withdrew or was erased
      // must not stay in a CRM because of the audience's state. A deleted audience's feed is read too (its members'
      // exits are the last changes in it).
      const audience = yield* Effect.exit(getAudience(tenant, config.audience))
      if (audience._tag === "Success") {
        const refused = yield* Effect.exit(refuseUnusableAudience(audience.value))
        if (refused._tag === "Failure") {
          const e = Cause.findErrorOption(refused.cause)
          if (Option.isNone(e)) return yield* Effect.failCause(refused.cause)
          unusable = e.value
        }
      }
      const changes = yield* audienceChanges(tenant, config.audience, options.full === true ? "" : audienceCursor)
      audienceCursor = changes.cursor
      entered = [...changes.latest].filter(([, c]) => c === "entered").map(([p]) => p)
      exited = [...changes.latest].filter(([, c]) => c === "exited").map(([p]) => p)
    }

    // 1. Erasures: the destination's records of erased people (by its record id).
    if (run.client.supports.has("erase")) {
      const pending = yield* pendingErasures(tenant, name)
      const records = pending.map((p) => erasureRecord(p.remoteId))
      if (dry) plan(run, "erase", records, planned)
      else {
        const byRemote = new Map(pending.map((p) => [p.remoteId, p]))
        yield* deliver(run, "erase", records, (o) => {
          counts.erased += o.ok.length
          return recordErasureAttempts(tenant, name, [
            ...o.ok.map((i) => ({ ...byRemote.get(i.key)!, attempts: byRemote.get(i.key)!.attempts + 1, done: true, error: "" })),
            // Never dead-lettered: an erasure stays pending, retried by every run, until the destination confirms it.
            ...o.dead.map((d) => ({ ...byRemote.get(d.record.key)!, attempts: byRemote.get(d.record.key)!.attempts + 1, done: false, error: d.reason })),
          ])
        })
      }
    }

    // 2. Removals: withdrawn consent, gone from the audience, or merged away. From here on, what was read of a profile
    // erased meanwhile is neither sent nor recorded (deliverBeside).
    const guard = readBesideErasures(tenant)
    const removals = (yield* exportRemovals({ tenant, destination: name, consent, alsoIds: exited })).map(removalRecord)
    const sendRemovals = config.onWithdrawal === "delete" && run.client.supports.has("remove")
    const toSend = sendRemovals ? removals.filter((r) => r.remoteId !== "" || config.type === "ndjson" || config.type === "csv") : []
    if (dry) plan(run, "remove", toSend, planned)
    else {
      const sentKeys = new Set(toSend.map((r) => r.key))
      // Not sent (kept there, or never given a record id): only marked as no longer updated; the record id stays, so
      // an erasure can still delete it.
      const kept = yield* besideUnerased(guard, (erased) => Effect.gen(function* () {
        const kept = removals.filter((r) => !sentKeys.has(r.key) && !erased.has(r.profileId))
        yield* recordExportState(tenant, name, kept.map((r) => ({ profileId: r.profileId, fingerprint: "", present: false, remoteId: r.remoteId })))
        return kept
      }))
      counts.removed += kept.length
      yield* deliver(run, "remove", toSend, (o) =>
        Effect.gen(function* () {
          counts.removed += o.ok.length
          counts.deadLettered += o.dead.length
          yield* recordExportState(tenant, name, o.ok.map((i) => ({ profileId: i.key, fingerprint: "", present: false, remoteId: "" })))
          yield* recordDeadLetters(tenant, name, deadLettersOf("remove", o))
        }), guard)
    }

    // No upsert while the audience may not be exported, and the cursors stay where they were, so the entries held back
    // are sent once it is mended (the removals sent now are not sent again: those profiles are no longer present).
    if (unusable !== undefined) return yield* Effect.fail(unusable)

    // 3. Upserts: consenting profiles (members, for an audience) that changed or are not there yet.
    const exitedSet = new Set(exited)
    let rows: ReadonlyArray<CandidateRow>
    if (entered !== undefined) {
      // The entries and those it holds, out of the same candidates: read again by a list of their ids, the statement
      // bound every member's id (past 32 kB it cannot be written in), which took chDB's process-wide turn.
      const candidates = yield* exportCandidates({ tenant, destination: name, consent, sinceMs, onlyIds: undefined })
      const ids = new Set([...entered, ...candidates.filter((r) => r.present === 1).map((r) => r.profile_id)])
      rows = candidates.filter((r) => ids.has(r.profile_id) && !exitedSet.has(r.profile_id))
    } else {
      rows = yield* exportCandidates({ tenant, destination: name, consent, sinceMs })
    }
    const built = yield* buildRecords(run.client.config, rows)
    const records: Array<OutRecord> = []
    const wasPresent = new Set<string>()
    for (const [i, row] of rows.entries()) {
      const record = built[i]!
      if (row.present === 1) wasPresent.add(row.profile_id)
      // The destination has this very content, or refused it (dead-lettered): nothing new to send until it changes.
      if (row.fingerprint === record.fingerprint) counts.unchanged++
      else records.push(record)
    }
    if (dry) plan(run, "upsert", records, planned)
    else {
      const byKey = new Map(records.map((r) => [r.key, r]))
      yield* deliver(run, "upsert", records, (o) =>
        Effect.gen(function* () {
          counts.upserted += o.ok.length
          counts.deadLettered += o.dead.length
          yield* recordExportState(tenant, name, [
            ...o.ok.map((i) => ({ profileId: i.key, fingerprint: byKey.get(i.key)!.fingerprint, present: true, remoteId: i.remoteId })),
            // Refused content is remembered, so later runs do not send it again unchanged; what the destination holds
            // (present, its record id) stays as it was.
            ...o.dead.map((d) => ({ profileId: d.record.key, fingerprint: d.record.fingerprint, present: wasPresent.has(d.record.key), remoteId: d.record.remoteId })),
          ])
          yield* recordDeadLetters(tenant, name, deadLettersOf("upsert", o))
        }), guard)
      // The run got to the end: what it read is delivered or dead-lettered, so the next run starts from here.
      yield* writeCursor(tenant, name, highWater ?? cursor?.cursorMs ?? 0, audienceCursor)
      return true
    }
    return false
  })

/** One destination's sync. Never fails: what went wrong is in the report (one destination down stops no other). */
export const syncDestination = Effect.fn("syncDestination")(function* (config: DestinationConfig, options: SyncOptions = {}) {
  const started = Date.now()
  const client = options.clients?.(config) ?? (yield* makeClient(config))
  const run: Run = { config, client, bucket: bucketOf(config.tenant, config.name, config.ratePerSecond, config.burst), runId: `run_${randomUUID()}`, requests: 0, retries: 0 }
  const counts = { erased: 0, removed: 0, upserted: 0, unchanged: 0, deadLettered: 0 }
  const planned: Plan = { shown: options.shown ?? DRY_RUN_SHOWN, batches: [], totals: { requests: 0, upsert: 0, remove: 0, erase: 0 }, recordsShown: 0 }
  // Its reads on the background connection (backgroundReads): a tenant's consenting profiles read in one statement on
  // the pipeline's connection (25,000 in 2.9 s) held every tenant's landing behind it. Its writes stay there.
  const exit = yield* Effect.exit(backgroundReads(syncBody(config, options, run, counts, planned)))
  const error = Exit.isSuccess(exit) ? undefined : errorText(exit.cause)
  if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
  return {
    tenant: config.tenant, destination: config.name, type: config.type, runId: run.runId, ...counts, requests: run.requests, retries: run.retries,
    ms: Date.now() - started, cursorAdvanced: Exit.isSuccess(exit) && exit.value,
    ...(error === undefined ? {} : { error }), ...(options.dryRun === true ? { planned: planned.batches, plannedTotals: planned.totals } : {}),
  } satisfies SyncReport as SyncReport
})

const errorText = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.findErrorOption(cause)
  if (Option.isSome(e)) {
    const v = e.value as { message?: unknown }
    return typeof v?.message === "string" && v.message !== "" ? v.message : String(e.value)
  }
  return Cause.pretty(cause).split("\n")[0]!.slice(0, 300)
}

/** Several destinations at once, each in its own fiber: a slow or failing one delays none of the others. */
export const syncDestinations = (configs: ReadonlyArray<DestinationConfig>, options: SyncOptions = {}) =>
  Effect.forEach(configs, (c) => syncDestination(c, options), { concurrency: "unbounded" })

/**
 * `cdp serve`'s export loops (CDP_EXPORT_EVERY): one per destination, each syncing `everyMs` after its previous sync
 * ended, so a slow or failing destination delays only itself. Only counts are logged.
 */
/** The destinations (tenant, name) a sync or replay of this process is sending to now. */
const sending = new Set<string>()
const sendingKey = (c: DestinationConfig) => `${c.tenant}\u0000${c.name}`

/**
 * `effect` run as the one sync or replay of these destinations in this process, or the destinations already being sent
 * to: the schedule (keepExportsCurrent) and the API's runs and replays take turns, never sending the same batches twice
 * at once.
 */
export const sendingAlone = <A, E, R>(configs: ReadonlyArray<DestinationConfig>, effect: Effect.Effect<A, E, R>)
  : Effect.Effect<{ readonly done: A } | { readonly busy: ReadonlyArray<DestinationConfig> }, E, R> =>
  Effect.suspend((): Effect.Effect<{ readonly done: A } | { readonly busy: ReadonlyArray<DestinationConfig> }, E, R> => {
    const busy = configs.filter((c) => sending.has(sendingKey(c)))
    if (busy.length > 0) return Effect.succeed({ busy })
    for (const c of configs) sending.add(sendingKey(c))
    return effect.pipe(
      Effect.map((done) => ({ done })),
      Effect.ensuring(Effect.sync(() => { for (const c of configs) sending.delete(sendingKey(c)) })),
    )
  })

export const keepExportsCurrent = (configs: ReadonlyArray<DestinationConfig>, everyMs: number) =>
  Effect.forEach(configs, (config) => {
    // A tick while a run or replay through the API is sending to the destination is skipped: the next one catches up.
    const once = sendingAlone([config], syncDestination(config)).pipe(
      Effect.tap((o) => {
        if ("busy" in o) return Effect.void
        const r = o.done
        const counts = { destination: r.destination, tenant: r.tenant, upserted: r.upserted, removed: r.removed, erased: r.erased, deadLettered: r.deadLettered, ms: r.ms }
        return r.error !== undefined || r.deadLettered > 0 ? Effect.logWarning("export sync incomplete").pipe(Effect.annotateLogs({ ...counts, error: r.error ?? "" }))
          : r.upserted + r.removed + r.erased > 0 ? Effect.logInfo("export synced").pipe(Effect.annotateLogs(counts))
          : Effect.void
      }),
      Effect.catchCause((cause) => Effect.logWarning("export sync failed").pipe(Effect.annotateLogs({ destination: config.name, cause: String(cause).slice(0, 300) }))),
    )
    return Effect.repeat(once, Schedule.spaced(Duration.millis(everyMs)))
  }, { concurrency: "unbounded", discard: true })

/**
 * `cdp export replay`: the destination's open dead letters sent again, each profile read afresh (with its consent
 * now: one no longer allowed is not sent, and its letter is closed). Letters that fail again stay open. Beside
 * erasures as a sync: what it read of a profile erased meanwhile is neither sent nor written back (no letter closed,
 * no state recorded for them: the erasure deleted theirs).
 */
export const replayDeadLetters = (config: DestinationConfig, options: Pick<SyncOptions, "clients"> = {}) =>
  backgroundReads(replayBody(config, options)) // its reads beside the pipeline's landing, as a sync's

const replayBody = Effect.fn("replayDeadLetters")(function* (config: DestinationConfig, options: Pick<SyncOptions, "clients">) {
  const started = Date.now()
  const client = options.clients?.(config) ?? (yield* makeClient(config))
  const run: Run = { config, client, bucket: bucketOf(config.tenant, config.name, config.ratePerSecond, config.burst), runId: `replay_${randomUUID()}`, requests: 0, retries: 0 }
  const guard = readBesideErasures(config.tenant)
  const letters = yield* openDeadLetters(config.tenant, config.name)
  const consent = yield* consentingProfilesSql(config.tenant, config.purpose)
  const close = (ids: ReadonlyArray<string>, op: string) =>
    recordDeadLetters(config.tenant, config.name, letters.filter((l) => l.operation === op && ids.includes(l.profileId)), true)
  // Letters closed unsent (no longer allowed, or nothing left to remove), but not those of profiles erased meanwhile.
  const closeUnsent = (ids: ReadonlyArray<string>, op: string) => besideUnerased(guard, (erased) => close(ids.filter((id) => !erased.has(id)), op))
  // A letter that fails again stays open, with the destination's new answer as its reason.
  const failedAgain = (o: Outcome, op: string) => {
    const why = new Map(o.dead.map((d) => [d.record.profileId, d]))
    return recordDeadLetters(config.tenant, config.name, letters.filter((l) => l.operation === op && why.has(l.profileId))
      .map((l) => ({ ...l, reason: why.get(l.profileId)!.reason, attempts: l.attempts + why.get(l.profileId)!.attempts })))
  }
  let delivered = 0
  let failed = 0
  let dropped = 0

  const upsertIds = [...new Set(letters.filter((l) => l.operation === "upsert").map((l) => l.profileId))]
  if (upsertIds.length > 0) {
    const rows = yield* exportCandidates({ tenant: config.tenant, destination: config.name, consent, onlyIds: upsertIds })
    const allowed = new Set(rows.map((r) => r.profile_id))
    const gone = upsertIds.filter((id) => !allowed.has(id))
    dropped += gone.length
    yield* closeUnsent(gone, "upsert")
    const records = yield* buildRecords(client.config, rows)
    const byKey = new Map(records.map((r) => [r.key, r]))
    yield* deliver(run, "upsert", records, (o) =>
      Effect.gen(function* () {
        delivered += o.ok.length
        failed += o.dead.length
        yield* recordExportState(config.tenant, config.name, o.ok.map((i) => ({ profileId: i.key, fingerprint: byKey.get(i.key)!.fingerprint, present: true, remoteId: i.remoteId })))
        yield* close(o.ok.map((i) => i.key), "upsert")
        yield* failedAgain(o, "upsert")
      }), guard)
  }
  const removeIds = [...new Set(letters.filter((l) => l.operation === "remove").map((l) => l.profileId))]
  if (removeIds.length > 0) {
    const still = (yield* exportRemovals({ tenant: config.tenant, destination: config.name, consent, alsoIds: removeIds })).filter((r) => removeIds.includes(r.profile_id))
    const stillIds = new Set(still.map((r) => r.profile_id))
    yield* closeUnsent(removeIds.filter((id) => !stillIds.has(id)), "remove")
    yield* deliver(run, "remove", still.map(removalRecord), (o) =>
      Effect.gen(function* () {
        delivered += o.ok.length
        failed += o.dead.length
        yield* recordExportState(config.tenant, config.name, o.ok.map((i) => ({ profileId: i.key, fingerprint: "", present: false, remoteId: "" })))
        yield* close(o.ok.map((i) => i.key), "remove")
        yield* failedAgain(o, "remove")
      }), guard)
  }
  return { destination: config.name, letters: letters.length, delivered, failed, dropped, requests: run.requests, ms: Date.now() - started }
})
