// Work a server runs in the background for a request: a relationship compute, a replay of the archive, a rescore,
// retention. Such work takes minutes on a large warehouse, longer than a proxy or a console waits for an answer, and
// held on one request it would die with that request. Here it runs in the server's scope (it ends when the server
// stops), and is followed by its id: GET /v1/operations/{id} (ingest/operations-route.ts). Given the warehouse, every
// state a job reaches is also recorded in it (warehouse/operations.ts), so it is still answered after the server
// stopped, and a job the server's end cut short is recorded as interrupted, not left running.
import { randomBytes } from "node:crypto"
import { Deferred, Effect, Fiber } from "effect"
import { interruptLeftRunning, type OperationRecord, storeOperation } from "../warehouse/operations.ts"
import { Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
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
  /** The id of the token that started it. */
  readonly askedBy: string
  readonly fiber: Fiber.Fiber<QueryReply>
  /** Its answer once it ended: 2xx with what it did, or the refusal it ended with. */
  readonly ended: { readonly at: string; readonly reply: QueryReply } | undefined
}

export interface Jobs {
  /** Starts `work` in the server's scope, for the token `askedBy`; its answer is kept on the job when it ends. */
  readonly start: (
    kind: string, tenant: string | undefined, params: Readonly<Record<string, unknown>>, work: Effect.Effect<QueryReply>, askedBy?: string,
  ) => Effect.Effect<Job>
  readonly get: (id: string) => Job | undefined
  /** The latest job of a kind for a tenant (undefined: every tenant), running or ended. */
  readonly latest: (kind: string, tenant: string | undefined) => Job | undefined
  /** Every job remembered, newest first. */
  readonly list: () => ReadonlyArray<Job>
}

/**
 * A server's jobs; they are interrupted when the scope it is made in closes (the server stops). With `warehouse`, their
 * states are recorded there; where this server alone runs operations over it (the embedded engine), what an earlier
 * run of a server left running is recorded as interrupted first.
 */
export const makeJobs = Effect.fn("makeJobs")(function* (warehouse?: WarehouseShape) {
  const scope = yield* Effect.scope
  const server = `srv_${randomBytes(6).toString("base64url")}`
  const jobs = new Map<string, { -readonly [K in keyof Job]: Job[K] }>()
  /** Records a state; a warehouse that fails to take it costs the record, never the job. */
  const record = (job: Job, status: OperationRecord["status"]) =>
    warehouse === undefined ? Effect.void : storeOperation(recordOfJob(job, server, status)).pipe(
      Effect.provideService(Warehouse, warehouse),
      Effect.catch((e) => Effect.logWarning(`operation ${job.id} (${job.kind}): its state "${status}" was not recorded: ${String(e)}`)),
    )
  if (warehouse !== undefined && warehouse.backend.kind !== "server") {
    yield* interruptLeftRunning(server).pipe(
      Effect.provideService(Warehouse, warehouse),
      Effect.catch((e) => Effect.logWarning(`operations left running by an earlier server were not marked interrupted: ${String(e)}`)),
    )
  }
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
    start: (kind, tenant, params, work, askedBy = "") =>
      Effect.gen(function* () {
        const job: { -readonly [K in keyof Job]: Job[K] } = {
          id: `op_${randomBytes(9).toString("base64url")}`, kind, tenant, params, startedAt: new Date().toISOString(), askedBy,
          fiber: undefined as unknown as Fiber.Fiber<QueryReply>, ended: undefined,
        }
        // The job is where the next request asking for one of its kind looks, with its fiber, before anything here
        // waits: put there after its "running" record was written, identical requests sent together all found none
        // running and all started. The record is written first in the job's own fiber, and waited for here.
        const recorded = yield* Deferred.make<void>()
        const kept = record(job, "running").pipe(
          Effect.andThen(Deferred.succeed(recorded, undefined)),
          Effect.andThen(work),
          Effect.tap((reply) => Effect.sync(() => { job.ended = { at: new Date().toISOString(), reply } })),
          Effect.tap(() => record(job, outcomeOf(job.ended?.reply).status)),
          Effect.onInterrupt(() => record(job, "interrupted")),
        )
        jobs.set(job.id, job)
        forget()
        job.fiber = yield* Effect.forkIn(kept, scope)
        yield* Deferred.await(recorded)
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

/** A job's state from its answer: running (none yet), done with what it did, or failed with why. */
const outcomeOf = (reply: QueryReply | undefined): { readonly status: OperationRecord["status"]; readonly outcome: Record<string, unknown> } => {
  if (reply === undefined) return { status: "running", outcome: {} }
  const body = (reply.body ?? {}) as Record<string, unknown>
  const { success, ...result } = body
  return success === true ? { status: "done", outcome: result }
    : { status: "failed", outcome: { status: reply.status, rule: String(body["rule"] ?? ""), error: String(body["error"] ?? "") } }
}

/** A job as the warehouse records it; `status` overrides the one its answer gives (interrupted). */
const recordOfJob = (job: Job, server: string, status?: OperationRecord["status"]): OperationRecord => {
  const state = outcomeOf(job.ended?.reply)
  return {
    id: job.id, kind: job.kind, tenant: job.tenant, params: job.params, status: status ?? state.status, startedAt: job.startedAt,
    finishedAt: job.ended?.at ?? (status === "interrupted" ? new Date().toISOString() : undefined), askedBy: job.askedBy, server,
    outcome: status === "interrupted" ? {} : state.outcome,
  }
}

/**
 * What an operation's followers see: what it is, who asked, its state and times, and once it ended what it did
 * (`result`: its answer without the success flag), why it failed (`failure`: the refusal's status, rule and message),
 * or that the server stopped while it ran (`interrupted`).
 */
export const operationView = (op: OperationRecord) => ({
  success: true, id: op.id, kind: op.kind, tenant: op.tenant ?? null, ...op.params, startedAt: op.startedAt, askedBy: op.askedBy,
  statusUrl: `${OPERATIONS_PATH}/${op.id}`, status: op.status,
  ...(op.finishedAt === undefined ? {} : { finishedAt: op.finishedAt }),
  ...(op.status === "done" ? { result: op.outcome } : {}),
  ...(op.status === "failed" ? { failure: op.outcome } : {}),
  ...(op.status === "interrupted" ? { interrupted: "the server stopped while it ran; nothing it did is undone: start it again to finish" } : {}),
})

/** What a job's followers see (operationView of its state now). */
export const jobView = (job: Job) => operationView(recordOfJob(job, ""))

/**
 * The 409 for a job of a kind asked while one that covers the same tenant runs, or undefined: `tenant` is the new
 * job's (undefined: every tenant), so one tenant's replay never holds another tenant's, while the same tenant's, and
 * one over every tenant, run one at a time. It names the running one (id, start, tenant) only to a token that may see
 * it: `viewer` is the tenant the asking token is bound to, undefined for an unbound token; another tenant's is not
 * named.
 */
export const refuseIfRunning = (jobs: Jobs, kind: string, what: string, viewer: string | undefined, tenant: string | undefined): QueryReply | undefined => {
  const running = jobs.list().find((j) => j.kind === kind && isRunning(j) && (j.tenant === undefined || tenant === undefined || j.tenant === tenant))
  if (running === undefined) return undefined
  const told = viewer === undefined || running.tenant === viewer
    ? `(${running.id}, since ${running.startedAt}${running.tenant === undefined ? "" : `, tenant "${running.tenant}"`}); follow it at GET ${OPERATIONS_PATH}/${running.id} and`
    : running.tenant === undefined ? `for every tenant (tenant "${viewer}" too);` : "for another tenant;"
  return refuse(409, "operation_running", `a ${what} is running already ${told} ask again when it ends`, undefined, { "retry-after": "30" })
}

/** The 202 that answers a job started (or joined): its view, with where to follow it. */
export const accepted = (job: Job): QueryReply => ({ status: 202, body: jobView(job), headers: { location: `${OPERATIONS_PATH}/${job.id}` } })
