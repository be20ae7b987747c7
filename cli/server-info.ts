// What a running `cdp serve` tells other cdp commands on the same data directory: where it listens, and (in a
// file only the data directory's owner can read) its admin token, an API token of the admin role (ingest/auth.ts) that
// the commands present to its routes. The embedded engine allows one process per data directory, so `cdp query`,
// `cdp profile show`, `cdp dsr` and `cdp token` go through the server while it runs.
import { randomBytes } from "node:crypto"
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Data, Effect } from "effect"
import type { ProfileWithConsent } from "../ingest/profile-route.ts"
import type { QueryScope } from "../warehouse/warehouse.ts"
import { knownTenantsNow } from "./config.ts"

const SERVE_FILE = "serve.json"
const TOKEN_FILE = "admin-token"

export const adminToken = (dataDir: string): string => {
  const file = join(dataDir, TOKEN_FILE)
  if (existsSync(file)) return readFileSync(file, "utf8").trim()
  const token = randomBytes(24).toString("base64url")
  writeFileSync(file, `${token}\n`, { mode: 0o600 })
  return token
}

/** Announces the server for as long as the scope lasts. */
export const announceServer = (dataDir: string, url: string, tenants: ReadonlyArray<string> = []) =>
  Effect.acquireRelease(
    Effect.sync(() => writeFileSync(join(dataDir, SERVE_FILE), JSON.stringify({ pid: process.pid, url, tenants }), { mode: 0o600 })),
    () => Effect.sync(() => rmSync(join(dataDir, SERVE_FILE), { force: true })),
  )

/** The running server of a data directory, if there is one. */
export const runningServer = (dataDir: string): RunningServer | undefined => {
  try {
    const info = JSON.parse(readFileSync(join(dataDir, SERVE_FILE), "utf8")) as { pid: number; url: string; tenants?: unknown }
    process.kill(info.pid, 0)
    const tenants = Array.isArray(info.tenants) ? info.tenants.filter((t): t is string => typeof t === "string") : []
    return { url: info.url, token: readFileSync(join(dataDir, TOKEN_FILE), "utf8").trim(), tenants }
  } catch {
    return undefined
  }
}

/** Where a running server listens and the admin token the commands present to it. */
export interface RunningServer {
  readonly url: string
  readonly token: string
  /** The tenant names with capitals it takes as written (its write keys': warehouse/tenant.ts knownSpellings). */
  readonly tenants: ReadonlyArray<string>
}

/**
 * The tenant names with capitals a command on `dataDir` takes as written: CDP_WRITE_KEYS's, and those of the write
 * keys of the cdp serve holding it (--write-key too), which the command then goes through.
 */
export const knownTenantsFor = (dataDir: string): ReadonlySet<string> => {
  const served = runningServer(dataDir)?.tenants ?? []
  return served.length === 0 ? knownTenantsNow() : new Set([...knownTenantsNow(), ...served])
}

/**
 * A caller of a running server's API routes with the admin token, whose failures become the command's own error
 * (`toError`): a refusal's message, prefixed with the field it names, or why the server did not answer.
 */
export const serverCaller = <E>(toError: (message: string) => E) =>
  <T>(server: RunningServer, method: string, path: string, body?: unknown): Effect.Effect<T, E> =>
    Effect.tryPromise({
      try: async () => {
        let res: Response
        try {
          res = await fetch(`${server.url}${path}`, {
            method,
            headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          })
        } catch (e) {
          throw new Error(`cdp serve at ${server.url} holds the data directory but did not answer (${(e as Error).message})`)
        }
        const text = await res.text()
        let answer: T & { error?: string; field?: string }
        try {
          answer = JSON.parse(text) as T & { error?: string; field?: string }
        } catch {
          throw new Error(`cdp serve at ${server.url} answered ${method} ${path.split("?", 1)[0]} with HTTP ${res.status} and no JSON`)
        }
        if (!res.ok) {
          const error = answer.error ?? `HTTP ${res.status}`
          throw new Error(answer.field === undefined || answer.field === "" ? error : `${answer.field.replace(/^\//, "")}: ${error}`)
        }
        return answer
      },
      catch: (e) => toError((e as Error).message),
    })

/**
 * Runs `direct` on the data directory itself, or `viaServer` when it is locked because `cdp serve` holds it (the
 * embedded engine allows one process per data directory).
 */
export const directOrServer = <A, E, E2>(
  backend: { readonly dataDir: string },
  direct: Effect.Effect<A, E>,
  viaServer: (server: RunningServer) => Effect.Effect<A, E2>,
): Effect.Effect<A, E | E2> =>
  Effect.catch(direct, (e): Effect.Effect<A, E | E2> => {
    const server = (e as { _tag?: string })._tag === "DataDirLocked" ? runningServer(backend.dataDir) : undefined
    return server === undefined ? Effect.fail(e) : viaServer(server)
  })

export class ServerQueryFailed extends Data.TaggedError("ServerQueryFailed")<{ readonly message: string }> {}

/** A call to the running server's API whose failure is ServerQueryFailed (what the commands going through it use). */
export const callServer = serverCaller((message) => new ServerQueryFailed({ message }))

/** Runs read-only SQL through a running server's POST /v1/query. */
export const queryThroughServer = (server: RunningServer, sql: string, scope: QueryScope) =>
  Effect.flatMap(callServer<{ rows?: Array<Record<string, unknown>> }>(server, "POST", "/v1/query", { sql, ...scope }), (body) =>
    body.rows === undefined ? Effect.fail(new ServerQueryFailed({ message: "the server's answer to POST /v1/query holds no rows" })) : Effect.succeed(body.rows))

/** A profile through a running server's GET /v1/profiles/{identifier}; its refusal (400, 404) is the message. */
export const profileThroughServer = (server: RunningServer, identifier: string, tenant: string, events: number) =>
  callServer<ProfileWithConsent>(server, "GET", `/v1/profiles/${encodeURIComponent(identifier)}?${new URLSearchParams({ tenant, events: String(events) })}`)

/**
 * Every item of a paged list route (ingest/pages.ts), following nextCursor: `key` names the answer's array, `path`
 * the route with its query (limit and cursor are added). With `upTo`, only the pages holding the first `upTo` items.
 */
export const allPages = <T, E>(
  call: <A>(server: RunningServer, method: string, path: string) => Effect.Effect<A, E>,
  server: RunningServer, path: string, key: string, upTo = Number.POSITIVE_INFINITY,
): Effect.Effect<Array<T>, E> =>
  Effect.gen(function* () {
    const got: Array<T> = []
    let cursor: string | null = null
    do {
      const limit = Math.min(1000, upTo - got.length)
      const query = new URLSearchParams({ limit: String(limit), ...(cursor === null ? {} : { cursor }) })
      const answer: Record<string, unknown> = yield* call<Record<string, unknown>>(server, "GET", `${path}${path.includes("?") ? "&" : "?"}${query}`)
      got.push(...(answer[key] as Array<T>))
      cursor = (answer["nextCursor"] as string | null | undefined) ?? null
    } while (cursor !== null && got.length < upTo)
    return got
  })

/** How often an operation a server runs in the background is asked about. */
const FOLLOW_EVERY_MS = 1000

/**
 * An operation through `cdp serve` (a relationship compute, a replay, a rescore, retention): started there with a
 * POST to `path` (it runs in the server, in the background: ingest/jobs.ts), then followed at the URL its 202 names
 * until it ends, so work longer than an HTTP client waits for an answer still reports what it did: its result.
 */
export const followOperation = <R>(server: RunningServer, path: string, body: Record<string, unknown>) =>
  Effect.gen(function* () {
    type Operation = { status: "running" | "done" | "failed"; statusUrl: string; result?: R; failure?: { error: string } }
    let op = yield* callServer<Operation>(server, "POST", path, body)
    while (op.status === "running") {
      yield* Effect.sleep(FOLLOW_EVERY_MS)
      op = yield* callServer<Operation>(server, "GET", op.statusUrl)
    }
    if (op.status === "failed" || op.result === undefined) return yield* new ServerQueryFailed({ message: op.failure?.error ?? `${path}: the operation failed` })
    return op.result
  })
