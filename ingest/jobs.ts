// Work a server runs in the background for a request: a relationship compute, a replay of the archive, a rescore,
// retention. Such work takes minutes on a large warehouse, longer than a proxy or a console waits for an answer, and
// held on one request it would die with that request. Here it runs in the server's scope (it ends when the server
// stops), and is followed by its id until then: GET /v1/operations/{id} (ingest/operations-route.ts).
import { randomBytes } from "node:crypto"
import { Effect, Fiber } from "effect"
import { type QueryReply, refuse } from "./query-route.ts"

export const OPERATIONS_PATH = "/v1/operations"

/** Operations a server remembers; past it, the oldest one that ended is forgotten. */
const MAX_REMEMBERED = 1000

export interface Job {
  readonly id: string
  /** What it does: "relations-compute", "replay", "rescore", "retention". */
  readonly kind: string
  /** The tenant it is for; undefined: every tenant. */
  readonly tenant: string | undefined
  /** What it was asked with (dates, source...), as its followers see them. */
  readonly params: Readonly<Record<string, unknown>>
  readonly startedAt: string
  readonly fiber: Fiber.Fiber<QueryReply>
  /** Its answer once it ended: 2xx with what it did, or the refusal it ended with. */
  readonly ended: { readonly at: string; readonly reply: QueryReply } | undefined
}

export interface Jobs {
  /** Starts `work` in the server's scope; its answer is kept on the job when it ends. */
  readonly start: (kind: string, tenant: string | undefined, params: Readonly<Record<string, unknown>>, work: Effect.Effect<QueryReply>) => Effect.Effect<Job>
  readonly get: (id: string) => Job | undefined
  /** The latest job of a kind for a tenant (undefined: every tenant), running or ended. */
  readonly latest: (kind: string, tenant: string | undefined) => Job | undefined
  /** Every job remembered, newest first. */
  readonly list: () => ReadonlyArray<Job>
}

/** A server's jobs; they are interrupted when the scope it is made in closes (the server stops). */
export const makeJobs = Effect.fn("makeJobs")(function* () {
  const scope = yield* Effect.scope
  const jobs = new Map<string, { -readonly [K in keyof Job]: Job[K] }>()
  const forget = () => {
    if (jobs.size <= MAX_REMEMBERED) return
    for (const [id, job] of jobs) {
      if (job.ended !== undefined) {
        jobs.delete(id)
        return
      }
    }
  }
  return {
    start: (kind, tenant, params, work) =>
      Effect.gen(function* () {
        const job: { -readonly [K in keyof Job]: Job[K] } = {
          id: `op_${randomBytes(9).toString("base64url")}`, kind, tenant, params, startedAt: new Date().toISOString(),
          fiber: undefined as unknown as Fiber.Fiber<QueryReply>, ended: undefined,
        }
        const kept = work.pipe(Effect.tap((reply) => Effect.sync(() => { job.ended = { at: new Date().toISOString(), reply } })))
        job.fiber = yield* Effect.forkIn(kept, scope)
        jobs.set(job.id, job)
        forget()
        return job
      }),
    get: (id) => jobs.get(id),
    latest: (kind, tenant) => {
      let found: Job | undefined
      for (const job of jobs.values()) if (job.kind === kind && job.tenant === tenant) found = job
      return found
    },
    list: () => [...jobs.values()].reverse(),
  } satisfies Jobs
})

/** Whether a job is under way. */
export const isRunning = (job: Job | undefined): job is Job => job !== undefined && job.ended === undefined

/** The answer of a job that ended (what a waiting request gets), or of one when it ends. */
export const awaitJob = (job: Job): Effect.Effect<QueryReply> => Fiber.join(job.fiber)

/**
 * What a job's followers see: what it is, its state and times, and once it ended what it did (`result`: its answer
 * without the success flag) or why it failed (`failure`: the refusal's status, rule and message).
 */
export const jobView = (job: Job) => {
  const reply = job.ended?.reply
  const body = (reply?.body ?? {}) as Record<string, unknown>
  const { success, ...result } = body
  return {
    success: true, id: job.id, kind: job.kind, tenant: job.tenant ?? null, ...job.params, startedAt: job.startedAt,
    statusUrl: `${OPERATIONS_PATH}/${job.id}`,
    ...(job.ended === undefined ? { status: "running" } : { finishedAt: job.ended.at }),
    ...(reply === undefined ? {} : success === true
      ? { status: "done", result }
      : { status: "failed", failure: { status: reply.status, rule: String(body["rule"] ?? ""), error: String(body["error"] ?? "") } }),
  }
}

/**
 * The 409 for a job of a kind asked while one runs (one of a kind at a time), or undefined. It names the running one
 * (id, start, tenant) only to a token that may see it: `viewer` is the tenant the asking token is bound to, undefined
 * for an unbound token; another tenant's is not named.
 */
export const refuseIfRunning = (jobs: Jobs, kind: string, what: string, viewer: string | undefined): QueryReply | undefined => {
  const running = jobs.list().find((j) => j.kind === kind && isRunning(j))
  if (running === undefined) return undefined
  const told = viewer === undefined || running.tenant === viewer
    ? `(${running.id}, since ${running.startedAt}${running.tenant === undefined ? "" : `, tenant "${running.tenant}"`}); follow it at GET ${OPERATIONS_PATH}/${running.id} and`
    : "for another tenant;"
  return refuse(409, "operation_running", `a ${what} is running already ${told} ask again when it ends`, undefined, { "retry-after": "30" })
}

/** The 202 that answers a job started (or joined): its view, with where to follow it. */
export const accepted = (job: Job): QueryReply => ({ status: 202, body: jobView(job), headers: { location: `${OPERATIONS_PATH}/${job.id}` } })
