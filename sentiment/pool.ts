// A small pool of scoring worker threads (sentiment/score-worker.ts): the pipeline's sentiment stage scores each
// batch there, so /health and new requests are answered while texts are scored. A worker that dies is replaced and
// its texts are scored again, one at a time; a text that a worker dies on again is left unscored, saying why.
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"
import { Effect, type Scope } from "effect"
import type { SentimentConfig } from "./tenants.ts"
import { MODEL_VERSION, type SentimentResult } from "./score.ts"

export interface ScoreRequest {
  readonly tenant: string
  readonly text: string
}

/** What the pool posts to a worker. */
export interface ScoreJob {
  readonly id: number
  readonly requests: ReadonlyArray<ScoreRequest>
}

/** What a worker posts back: once when it has loaded, then one reply per job. */
export type WorkerReply =
  | { readonly _tag: "ready" }
  | { readonly _tag: "scored"; readonly id: number; readonly results: ReadonlyArray<SentimentResult> }

export interface ScoringPool {
  readonly size: number
  /** One result per request, in order. Never fails: a text that cannot be scored comes back unscored with a reason. */
  readonly score: (requests: ReadonlyArray<ScoreRequest>) => Effect.Effect<ReadonlyArray<SentimentResult>>
  /** Workers started since the pool opened, replacements included. */
  readonly started: () => number
}

export interface ScoringPoolOptions {
  readonly config: SentimentConfig
  /** Worker threads; default one per core but one, at least one and at most four. */
  readonly size?: number
  /** The worker's script (tests wrap the real one). */
  readonly script?: URL
  /** How long a job may take before its worker is stopped as stuck; default JOB_TIMEOUT_MS. */
  readonly jobTimeoutMs?: number
}

const WORKER_SCRIPT = new URL("./score-worker.ts", import.meta.url)

/** Leaves a core to the event loop; small, since a text takes milliseconds (scoring is linear and capped). */
export const defaultPoolSize = (): number => Math.max(1, Math.min(4, availableParallelism() - 1))

/** A batch is cut into jobs of at most this many texts and characters: spread over the workers, cheap to retry. */
const JOB_TEXTS = 200
const JOB_CHARS = 1_000_000
/** Workers in a row that die before they are ready: the script cannot start, and starting more would spin. */
const MAX_START_FAILURES = 3
/**
 * A job takes well under a second (at most JOB_CHARS characters, each text scored on its first MAX_SCORED_CHARS);
 * a worker still busy after this is stuck on a bug, and is stopped like one that died.
 */
const JOB_TIMEOUT_MS = 60_000

interface Job {
  readonly requests: ReadonlyArray<ScoreRequest>
  /** Deaths of a worker while it held these texts. */
  readonly deaths: number
  readonly done: (results: ReadonlyArray<SentimentResult>) => void
}

interface Slot {
  readonly worker: Worker
  ready: boolean
  job: { readonly id: number; readonly job: Job; readonly timer: NodeJS.Timeout } | undefined
  error: string | undefined
}

const unscored = (reason: string): SentimentResult => ({
  status: "unscored", score: 0, label: "neutral", evidence: [], aspects: [], reason, model: MODEL_VERSION,
})

/** Cuts requests into jobs; `done` gets all results, in order, once every job is back. */
const jobsOf = (requests: ReadonlyArray<ScoreRequest>, done: (results: ReadonlyArray<SentimentResult>) => void): Job[] => {
  const results = new Array<SentimentResult>(requests.length)
  const jobs: Job[] = []
  let left = 0
  let start = 0
  const cut = (end: number): void => {
    const from = start
    left++
    jobs.push({
      requests: requests.slice(from, end), deaths: 0,
      done: (part) => {
        for (let k = 0; k < part.length; k++) results[from + k] = part[k]!
        if (--left === 0) done(results)
      },
    })
    start = end
  }
  let chars = 0
  for (let i = 0; i < requests.length; i++) {
    if (i > start && (i - start >= JOB_TEXTS || chars + requests[i]!.text.length > JOB_CHARS)) {
      cut(i)
      chars = 0
    }
    chars += requests[i]!.text.length
  }
  if (requests.length > 0) cut(requests.length)
  return jobs
}

const openPool = (options: ScoringPoolOptions) => {
  const size = options.size ?? defaultPoolSize()
  const script = options.script ?? WORKER_SCRIPT
  const jobTimeoutMs = options.jobTimeoutMs ?? JOB_TIMEOUT_MS
  const queue: Job[] = []
  const slots: Slot[] = []
  let nextId = 0
  let started = 0
  let startFailures = 0
  let broken: string | undefined
  let closed = false

  const dispatch = (): void => {
    for (const slot of slots) {
      if (queue.length === 0) return
      if (!slot.ready || slot.job !== undefined) continue
      const job = queue.shift()!
      const id = nextId++
      const timer = setTimeout(() => {
        slot.error = `still scoring after ${jobTimeoutMs / 1000} s`
        void slot.worker.terminate()
      }, jobTimeoutMs)
      slot.job = { id, job, timer }
      slot.worker.postMessage({ id, requests: job.requests } satisfies ScoreJob)
    }
  }

  /** A worker died holding `job`: its texts go back to the front of the queue, alone, or are left unscored. */
  const retry = (job: Job, why: string): void => {
    if (job.requests.length === 1) {
      if (job.deaths >= 1) {
        job.done([unscored(`not scored: the scoring worker stopped twice on this text (${why})`)])
      } else {
        queue.unshift({ ...job, deaths: job.deaths + 1 })
      }
      return
    }
    // Which text it died on is unknown: each is tried alone, and only the one it dies on again is given up.
    const results = new Array<SentimentResult>(job.requests.length)
    let left = job.requests.length
    const singles: Job[] = job.requests.map((request, k) => ({
      requests: [request], deaths: job.deaths + 1,
      done: ([result]) => {
        results[k] = result!
        if (--left === 0) job.done(results)
      },
    }))
    queue.unshift(...singles)
  }

  const spawn = (): Slot => {
    const worker = new Worker(script, { workerData: { config: options.config } })
    started++
    const slot: Slot = { worker, ready: false, job: undefined, error: undefined }
    worker.on("message", (reply: WorkerReply) => {
      if (closed) return
      if (reply._tag === "ready") {
        slot.ready = true
        startFailures = 0
      } else if (slot.job !== undefined && slot.job.id === reply.id) {
        const { job, timer } = slot.job
        clearTimeout(timer)
        slot.job = undefined
        job.done(reply.results)
      }
      dispatch()
    })
    // An uncaught exception in the worker; "exit" follows. Only its name is kept: a message might quote the text.
    worker.on("error", (e) => {
      slot.error = e instanceof Error ? ((e as NodeJS.ErrnoException).code ?? e.name) : "error"
    })
    worker.on("exit", (code) => {
      if (closed) return
      const why = `worker exited with code ${code}${slot.error === undefined ? "" : `, ${slot.error}`}`
      if (!slot.ready) startFailures++
      const held = slot.job?.job
      clearTimeout(slot.job?.timer)
      slot.job = undefined
      if (held !== undefined) retry(held, why)
      const index = slots.indexOf(slot)
      if (startFailures >= MAX_START_FAILURES) {
        broken = `not scored: the scoring workers cannot start (${why})`
        slots.splice(index, 1)
        if (slots.length === 0) for (const job of queue.splice(0)) job.done(job.requests.map(() => unscored(broken!)))
        return
      }
      slots[index] = spawn()
      dispatch()
    })
    return slot
  }

  for (let i = 0; i < size; i++) slots.push(spawn())

  return {
    size,
    started: () => started,
    submit: (requests: ReadonlyArray<ScoreRequest>, done: (results: ReadonlyArray<SentimentResult>) => void): void => {
      if (requests.length === 0) return done([])
      const refusal = closed ? "not scored: the pipeline was closing" : slots.length === 0 ? broken : undefined
      if (refusal !== undefined) return done(requests.map(() => unscored(refusal)))
      queue.push(...jobsOf(requests, done))
      dispatch()
    },
    close: async (): Promise<void> => {
      closed = true
      const waiting = [...queue.splice(0), ...slots.flatMap((s) => (s.job === undefined ? [] : [s.job.job]))]
      for (const slot of slots) {
        clearTimeout(slot.job?.timer)
        slot.job = undefined
      }
      for (const job of waiting) job.done(job.requests.map(() => unscored("not scored: the pipeline was closing")))
      await Promise.all(slots.map((s) => s.worker.terminate()))
    },
  }
}

/** A pool of scoring workers, open for the scope's lifetime: closing the scope stops them. */
export const makeScoringPool = (options: ScoringPoolOptions): Effect.Effect<ScoringPool, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(Effect.sync(() => openPool(options)), (pool) => Effect.promise(() => pool.close())),
    (pool): ScoringPool => ({
      size: pool.size,
      started: pool.started,
      score: (requests) => {
        const before = pool.started()
        return Effect.callback<ReadonlyArray<SentimentResult>>((resume) => {
          pool.submit(requests, (results) => resume(Effect.succeed(results)))
        }).pipe(Effect.tap(() => {
          const replaced = pool.started() - before
          if (replaced === 0) return Effect.void
          return Effect.logWarning("sentiment scoring workers died and were replaced").pipe(Effect.annotateLogs({ replaced }))
        }))
      },
    }),
  )
