// What the X search poller and the filtered stream share: configuration, the twitter-api-v2 client (pointable at a
// replay server), tagged errors a user can act on, and requests that honour the x-rate-limit-* headers.
import { createHash } from "node:crypto"
import http, { type IncomingMessage } from "node:http"
import https from "node:https"
import type { Socket } from "node:net"
import { createRequire } from "node:module"
import { Clock, Data, Duration, Effect } from "effect"
import type { ApiResponseError, ITwitterApiClientPlugin, TwitterApiv2, TwitterRateLimit, TwitterResponse } from "twitter-api-v2"
import { type JsonPartsReading, readJson } from "../json.ts"
import type { Rejection } from "../message.ts"
import { MAX_NAME_CHARS } from "../sources/twitter.ts"
import { decodeUtf8 } from "../utf8.ts"

const requireCjs = createRequire(import.meta.url)
/** twitter-api-v2 (about seventy modules), loaded with the first X client: most commands never call X. */
export const twitterApi = (): typeof import("twitter-api-v2") => requireCjs("twitter-api-v2") as typeof import("twitter-api-v2")

export interface XRule {
  readonly value: string
  readonly tag?: string
}

export interface XConfig {
  /** App-only bearer token (developer portal, "Keys and tokens"). */
  readonly bearerToken: string
  /** Recent-search queries, polled one after the other. */
  readonly queries: ReadonlyArray<string>
  /** Filtered-stream rules; the stream's rules are made equal to these. */
  readonly rules: ReadonlyArray<XRule>
  /** Where the API is ("https://api.x.com" when absent); an http URL of a replay server in tests. */
  readonly apiBase?: string
}

export class XConfigInvalid extends Data.TaggedError("XConfigInvalid")<{
  readonly variable: string
  readonly reason: string
}> {
  override get message() {
    return `${this.variable}: ${this.reason}`
  }
}

export class XUnauthorized extends Data.TaggedError("XUnauthorized")<{
  readonly endpoint: string
  readonly detail: string
}> {
  override get message() {
    return `X refused the bearer token (401 on ${this.endpoint}: ${this.detail}); check CDP_X_BEARER_TOKEN`
  }
}

export class XForbidden extends Data.TaggedError("XForbidden")<{
  readonly endpoint: string
  readonly detail: string
}> {
  override get message() {
    return `X does not allow this app to use ${this.endpoint} (403: ${this.detail}); check the app's project and access level`
  }
}

export class XRateLimited extends Data.TaggedError("XRateLimited")<{
  readonly endpoint: string
  /** 429 answers waited out before giving up; 0 when the announced reset was too far ahead to wait for. */
  readonly attempts: number
  /** When X said the window resets (ISO-8601), if it said so in a usable way. */
  readonly resetAt: string | null
}> {
  override get message() {
    if (this.attempts === 0) {
      return `X says the rate limit of ${this.endpoint} is spent until ${this.resetAt ?? "an unknown time"}, further ahead than any X window lasts; not waiting for it`
    }
    return `X kept answering 429 on ${this.endpoint} after ${this.attempts} waits${this.resetAt === null ? "" : ` (next reset ${this.resetAt})`}`
  }
}

/** X answered, but with something the connector cannot go on from (a body that is not a page, a pagination loop). */
export class XBadAnswer extends Data.TaggedError("XBadAnswer")<{
  readonly endpoint: string
  readonly detail: string
  /**
   * An answer refused as received: JSON the edge's reader refused (readJson), its text; or bytes that are not UTF-8,
   * those bytes (a dead letter keeps them as base64). And why.
   */
  readonly refused?: { readonly received: string | Buffer; readonly rejection: Rejection }
}> {
  override get message() {
    return `X answered ${this.endpoint} with something unusable: ${this.detail}`
  }
}

export class XRequestRejected extends Data.TaggedError("XRequestRejected")<{
  readonly endpoint: string
  readonly status: number
  readonly detail: string
}> {
  override get message() {
    return `X rejected ${this.endpoint} (${this.status}): ${this.detail}`
  }
}

export class XUnavailable extends Data.TaggedError("XUnavailable")<{
  readonly endpoint: string
  readonly reason: string
}> {
  override get message() {
    return `X API unreachable on ${this.endpoint}: ${this.reason}`
  }
}

export type XError = XBadAnswer | XUnauthorized | XForbidden | XRateLimited | XRequestRejected | XUnavailable

/** How hard to try. The defaults suit the real API; tests shrink the times. */
export interface XRetryPolicy {
  /** Added to a rate-limit reset before the next request, against clock drift between us and X. */
  readonly resetMarginMs: number
  /** Wait after a 429 that carries no usable reset time. */
  readonly fallbackWaitMs: number
  /** Consecutive 429 answers (each after waiting for the reset) before giving up. */
  readonly maxRateLimitRetries: number
  /** A reset further ahead than this is not waited for: the call fails with XRateLimited (X's longest window is a day). */
  readonly maxRateLimitWaitMs: number
  /** Exponential backoff for network errors and 5xx answers: first wait, cap, attempts. */
  readonly backoffInitialMs: number
  readonly backoffMaxMs: number
  readonly maxTransientRetries: number
  /**
   * A request whose answer goes silent this long, or is not complete in four times as long, is abandoned as an outage
   * (twitter-api-v2 sets no timeout: it waited for ever).
   */
  readonly requestTimeoutMs: number
  /**
   * An answer larger than this is refused (XBadAnswer) and its connection closed: twitter-api-v2 holds a whole answer in
   * memory, and a page of 100 tweets is well under a megabyte.
   */
  readonly maxAnswerBytes: number
}

export const DEFAULT_RETRY_POLICY: XRetryPolicy = {
  resetMarginMs: 1_000,
  fallbackWaitMs: 60_000,
  maxRateLimitRetries: 5,
  maxRateLimitWaitMs: 24 * 3_600_000 + 5 * 60_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 60_000,
  maxTransientRetries: 5,
  requestTimeoutMs: 30_000,
  maxAnswerBytes: 64 * 1024 * 1024,
}

/** What the connector is doing, for a CLI status line or a test; never carries tweet content or identifiers. */
export type XStatus =
  | { readonly kind: "rate_limit_wait"; readonly endpoint: string; readonly waitMs: number; readonly reason: "429" | "exhausted" }
  | { readonly kind: "retry"; readonly endpoint: string; readonly waitMs: number; readonly attempt: number; readonly reason: string }
  | { readonly kind: "page"; readonly query: string; readonly tweets: number; readonly resumed: boolean }
  /** The query's saved state could not be used (why, never its content): the pass starts over from the 7-day window. */
  | { readonly kind: "state_reset"; readonly query: string; readonly reason: string }
  | { readonly kind: "rules_synced"; readonly added: number; readonly deleted: number; readonly kept: number }
  | { readonly kind: "connected"; readonly connection: number }
  /**
   * A connection ended; `unreadableLines` counts its lines that were no tweet: not JSON, JSON null, false, 0 or "", an
   * error payload, a line of more than 10 items, the unended rest of a line when the connection ended.
   */
  | { readonly kind: "disconnected"; readonly connection: number; readonly reason: string; readonly unreadableLines: number }
  /** The 1st, 10th, 100th, ... such line of a connection: why it is unreadable and the start of the last one. */
  | { readonly kind: "unreadable_lines"; readonly connection: number; readonly count: number; readonly reason: string; readonly prefix: string }
  | { readonly kind: "reconnect_wait"; readonly waitMs: number; readonly attempt: number; readonly reason: string }

export interface XClientOptions {
  readonly policy?: Partial<XRetryPolicy>
  readonly onStatus?: (status: XStatus) => void
}

export interface XClient {
  readonly v2: TwitterApiv2
  readonly policy: XRetryPolicy
  readonly onStatus: (status: XStatus) => void
  /** The latest x-rate-limit-* values seen, per endpoint ("GET tweets/search/recent"). */
  readonly limits: Map<string, TwitterRateLimit>
  /** Cuts the bearer token out of what X (or a proxy in its place) said, before it goes into an error or a log. */
  readonly redact: (text: string) => string
}

/** Rewrites every request (plain and streaming) from https://api.x.com to `apiBase`, keeping path and query. */
const rebase = (apiBase: string): ITwitterApiClientPlugin => {
  const base = new URL(apiBase)
  const basePath = base.pathname.replace(/\/+$/, "")
  const move = (url: URL) => {
    url.protocol = base.protocol
    url.host = base.host
    url.pathname = basePath + url.pathname
  }
  return {
    onBeforeRequest: ({ computedParams }) => move(computedParams.url),
    onBeforeStreamRequestConfig: ({ params }) => {
      const url = new URL(params.url)
      move(url)
      params.url = url.toString()
    },
  }
}

const DEFAULT_API_BASE = "https://api.x.com"

export const makeXClient = (config: Pick<XConfig, "bearerToken" | "apiBase">, options: XClientOptions = {}): XClient => {
  const apiBase = config.apiBase ?? DEFAULT_API_BASE
  const plain = apiBase.startsWith("http:")
  const api = new (twitterApi().TwitterApi)(config.bearerToken, {
    // twitter-api-v2 pipes a compressed answer through zlib without an error listener: a body that says gzip and is not
    // threw an uncaught 'incorrect header check' (cdp serve died) and left the call waiting. Asked for uncompressed
    // answers, a body that is still not JSON is an ordinary failed parse.
    compression: false,
    ...(apiBase === DEFAULT_API_BASE ? {} : { plugins: [rebase(apiBase)] }),
    // twitter-api-v2 always calls https.request; an http target needs an http agent. Neither keeps a connection for the
    // next request (Node's https agent did): the watch on each request (answerWatch) gets six listeners added to its
    // socket by twitter-api-v2, never removed, which piled up on a reused connection (MaxListenersExceededWarning).
    httpAgent: plain ? new http.Agent({ keepAlive: false }) : new https.Agent({ keepAlive: false }),
  })
  return {
    v2: api.v2,
    policy: { ...DEFAULT_RETRY_POLICY, ...options.policy },
    onStatus: options.onStatus ?? (() => {}),
    limits: new Map(),
    redact: (text) => (config.bearerToken === "" ? text : text.split(config.bearerToken).join("[bearer token]")),
  }
}

/** What every plain call passes to twitter-api-v2: the whole response (for the rate-limit headers), the timeout, a watcher. */
export type CallOptions = ReturnType<typeof attempt>["options"]

/**
 * Watches one request through twitter-api-v2's requestEventDebugHandler: catches its socket, to close it once the
 * request is given up on (the library takes no abort signal and lets go of a request only when its socket closes), and
 * counts the bytes of an answer it reads whole (a plain call's, a stream connect's error), closing it past
 * `maxAnswerBytes`. `tooLarge` then says so.
 */
export const answerWatch = (client: Pick<XClient, "policy">) => {
  const maxBytes = client.policy.maxAnswerBytes
  let socket: Socket | undefined
  const state = { tooLarge: undefined as string | undefined }
  const cutOff = (res: IncomingMessage, size: string) => {
    state.tooLarge = `the answer is larger than ${maxBytes} bytes (${size}); it was not read further`
    res.destroy()
    socket?.destroy()
  }
  const watch = (event: string, data?: unknown) => {
    if (event === "socket") socket = (data as { socket?: Socket } | undefined)?.socket
    if (event !== "response") return
    const res = (data as { res: IncomingMessage }).res
    const declared = Number(res.headers["content-length"])
    if (declared > maxBytes) return cutOff(res, `it says ${declared}`)
    let bytes = 0
    res.on("data", (chunk: Buffer) => {
      bytes += chunk.length
      if (bytes > maxBytes && state.tooLarge === undefined) cutOff(res, "undeclared")
    })
  }
  return { watch, abandon: () => socket?.destroy(), state }
}

/** One try of a plain call: its options, and its watch. */
const attempt = (client: XClient) => {
  const { watch, abandon, state } = answerWatch(client)
  // The answer as bytes (forceParseMode), decoded and read by the edge's reader (xRequest): twitter-api-v2's JSON.parse
  // took a key named twice or an integer past 2^53 changed without a word, and built an object of 850,000 names for
  // seconds; its text mode (Buffer.toString) made a byte that is not UTF-8 a U+FFFD without a word.
  const options = {
    fullResponse: true as const, forceParseMode: "buffer" as const, timeout: client.policy.requestTimeoutMs, requestEventDebugHandler: watch,
  }
  return { options, abandon, state }
}

/** Pages without items in a row, each with a new next_token, after which paging stops: X gives no such chain. */
const MAX_EMPTY_PAGES = 10

/** Why following `token` would page for ever, if it would (else it is remembered as seen). */
export const endlessPaging = (token: string, seen: Set<string>, emptyInARow: number): string | undefined => {
  if (seen.has(token)) return `next_token ${JSON.stringify(token.slice(0, 40))} was handed out again (a pagination loop)`
  if (emptyInARow >= MAX_EMPTY_PAGES) return `${emptyInARow} pages in a row without items, each with a new next_token`
  seen.add(token)
  return undefined
}

/**
 * Why a page (or a stream payload) is not X's, when it holds far more items, users or partial errors than X sends in
 * one (`max`): each would become an item, a dead letter if it is no tweet or user (each error one), and a 64 MiB answer
 * holds millions. X sends at most one user a tweet (the authors: expansions=author_id), and an error for one it cannot.
 */
export const crowdedPage = (page: unknown, max: number, bound: string): string | undefined => {
  const data: unknown = (page as { data?: unknown } | null)?.data
  const users: unknown = (page as { includes?: { users?: unknown } | null } | null)?.includes?.users
  const errors: unknown = (page as { errors?: unknown } | null)?.errors
  const count = Array.isArray(data) ? data.length : 0
  if (count > max) return `${count} items, ${bound}; not read`
  if (Array.isArray(users) && users.length > max) return `${users.length} users, ${bound}; not read`
  // An error answer ({errors} without data) is not a page of tweets: what it holds is told as X's words, not read.
  return data !== undefined && Array.isArray(errors) && errors.length > max ? `${errors.length} errors, ${bound}; not read` : undefined
}

/** Exponential backoff: initial, 2x initial, 4x initial, ... capped (attempt counts from 1). */
export const backoffMs = (attempt: number, initialMs: number, maxMs: number): number =>
  Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1))

/** A reset header (epoch seconds) as epoch ms, when it is one: a positive number a Date can hold ("soon", 1e300 are not). */
const resetMsOf = (reset: number | undefined): number | undefined =>
  reset !== undefined && Number.isFinite(reset) && reset > 0 && reset * 1000 <= 8.64e15 ? reset * 1000 : undefined

/** A reset header as ISO-8601, for an error message; null when it is not a usable time. */
export const resetIso = (reset: number | undefined): string | null => {
  const ms = resetMsOf(reset)
  return ms === undefined ? null : new Date(ms).toISOString()
}

/** The later of the resets whose budget is spent (15-minute window, app or user 24-hour caps), in epoch ms. */
const exhaustedResetMs = (limit: TwitterRateLimit | undefined): number | undefined => {
  if (limit === undefined) return undefined
  let resetMs: number | undefined
  for (const window of [limit, limit.day, limit.userDay]) {
    const ms = window !== undefined && window.remaining <= 0 ? resetMsOf(window.reset) : undefined
    if (ms !== undefined) resetMs = Math.max(resetMs ?? 0, ms)
  }
  return resetMs
}

/** X's words for a failure: the v2 problem's detail (or title), then what each listed error says. */
const errorDetail = (error: ApiResponseError): string => {
  // Error bodies come as bytes too (forceParseMode): read by the edge's reader, a body it refuses (or that is not
  // UTF-8) is told by its words.
  const raw: unknown = error.data
  const text = Buffer.isBuffer(raw) ? decodeUtf8(raw) : raw
  if (Buffer.isBuffer(raw) && typeof text !== "string") return `${error.message} (X's error body: ${(text as Rejection).message})`
  const read = typeof text === "string" ? readJson(text) : undefined
  const body: unknown = read === undefined ? error.data : read._tag === "json" ? read.value : undefined
  const data = body as { detail?: unknown; title?: unknown; errors?: ReadonlyArray<{ message?: unknown; detail?: unknown }> } | undefined
  const parts: Array<string> = []
  if (typeof data?.detail === "string") parts.push(data.detail)
  else if (typeof data?.title === "string") parts.push(data.title)
  for (const e of Array.isArray(data?.errors) ? data.errors : []) {
    const text = typeof e?.message === "string" ? e.message : typeof e?.detail === "string" ? e.detail : undefined
    if (text !== undefined && !parts.includes(text)) parts.push(text)
  }
  return parts.length > 0 ? parts.join(" ") : error.message
}

/** How one failed call should be handled. */
export type Failure =
  | { readonly _tag: "fatal"; readonly error: XError }
  | { readonly _tag: "rateLimited"; readonly limit: TwitterRateLimit | undefined }
  | { readonly _tag: "transient"; readonly reason: string }

export const classify = (client: Pick<XClient, "redact">, endpoint: string, error: unknown): Failure => {
  if (error instanceof twitterApi().ApiResponseError) {
    const detail = client.redact(errorDetail(error))
    if (error.code === 401) return { _tag: "fatal", error: new XUnauthorized({ endpoint, detail }) }
    if (error.code === 403) return { _tag: "fatal", error: new XForbidden({ endpoint, detail }) }
    if (error.code === 429) return { _tag: "rateLimited", limit: error.rateLimit }
    if (error.code >= 500) return { _tag: "transient", reason: `${error.code} ${detail}` }
    return { _tag: "fatal", error: new XRequestRejected({ endpoint, status: error.code, detail }) }
  }
  // ApiRequestError (connection refused, reset, timeout) and ApiPartialResponseError (cut off mid-body): the first says
  // only "Request failed."; what happened is the Node error it was made with (its requestError getter reads a field
  // twitter-api-v2 1.29 never sets, hence _options.error).
  const carried = error as { requestError?: unknown; responseError?: unknown; _options?: { error?: unknown } } | null
  const inner = carried?.requestError ?? carried?._options?.error ?? carried?.responseError
  const message = error instanceof Error ? error.message : String(error)
  return { _tag: "transient", reason: client.redact(inner instanceof Error ? `${message} (${inner.message})` : message) }
}

const sleep = (ms: number) => (ms > 0 ? Effect.sleep(Duration.millis(Math.ceil(ms))) : Effect.void)

/**
 * Fails instead of sleeping when a reset is further ahead than any X window (a broken or hostile clock). What X said is
 * forgotten, so a later call asks X again instead of failing on the remembered reset for ever.
 */
export const boundedWait = (client: XClient, endpoint: string, waitMs: number, resetMs: number | undefined) =>
  waitMs > client.policy.maxRateLimitWaitMs
    ? Effect.suspend(() => {
      client.limits.delete(endpoint)
      return Effect.fail(new XRateLimited({ endpoint, attempts: 0, resetAt: resetMs === undefined ? null : resetIso(resetMs / 1000) }))
    })
    : Effect.succeed(waitMs)

/** Sleeps until an exhausted window resets, when the last answer said the budget is spent. */
export const waitForBudget = (client: XClient, endpoint: string, limit: TwitterRateLimit | undefined) =>
  Effect.gen(function* () {
    const resetMs = exhaustedResetMs(limit)
    if (resetMs === undefined) return
    const waitMs = resetMs + client.policy.resetMarginMs - (yield* Clock.currentTimeMillis)
    if (waitMs <= 0) return
    yield* boundedWait(client, endpoint, waitMs, resetMs)
    client.onStatus({ kind: "rate_limit_wait", endpoint, waitMs, reason: "exhausted" })
    yield* sleep(waitMs)
  })

/** Wait after a 429: until the reset X named (plus margin), else the fallback; and that reset, when there is one. */
export const rateLimitWaitMs = (client: XClient, limit: TwitterRateLimit | undefined, nowMs: number): { waitMs: number; resetMs: number | undefined } => {
  const resetMs = exhaustedResetMs(limit) ?? resetMsOf(limit?.reset)
  const untilReset = resetMs === undefined ? -1 : resetMs + client.policy.resetMarginMs - nowMs
  return untilReset > 0 ? { waitMs: untilReset, resetMs } : { waitMs: client.policy.fallbackWaitMs, resetMs: undefined }
}

/** An answer the connector can read: a JSON object (an empty body, or JSON of another kind, is none). */
const isJsonObject = (data: unknown): boolean => typeof data === "object" && data !== null && !Array.isArray(data)

/** An answer read whole by the edge's reader: what it refuses refuses the answer. */
export const readWhole = (text: string): JsonPartsReading => {
  const read = readJson(text)
  return read._tag === "json" ? { ...read, problems: [] } : read
}

/**
 * An answer's bytes as `read` reads their text, and what a refusal of it keeps. Bytes that are not UTF-8 are refused
 * (invalid_utf8, naming the offset) and kept as they are, never made U+FFFD; but an answer that is not JSON even so
 * (a proxy's page in Latin-1) is told as not_json, an outage as any answer that is not JSON.
 */
export const readAnswer = (bytes: Buffer, read: (text: string) => JsonPartsReading): { reading: JsonPartsReading; received: string | Buffer } => {
  const text = decodeUtf8(bytes)
  if (typeof text === "string") return { reading: read(text), received: text }
  const lenient = readJson(bytes.toString("utf8"))
  const notJson = lenient._tag === "refused" && lenient.rejection.rule === "not_json"
  return { reading: { _tag: "refused", rejection: notJson ? lenient.rejection : text }, received: bytes }
}

/**
 * Runs one API call (made with `fullResponse: true`), waiting first when the endpoint's budget is spent, waiting for
 * the reset after a 429, backing off on network errors and 5xx; 401, 403 and other 4xx fail at once. The answer is read
 * by `read` (the edge's reader, whole by default; the search reads its tweets as parts, each refused alone): text that
 * is not JSON is an outage, as before; JSON it refuses fails XBadAnswer keeping the text as received.
 */
export const xRequest = <T>(
  client: XClient,
  endpoint: string,
  call: (options: CallOptions) => Promise<TwitterResponse<T>>,
  read: (text: string) => JsonPartsReading = readWhole,
): Effect.Effect<TwitterResponse<T> & Pick<JsonPartsReading & { _tag: "json" }, "problems">, XError> =>
  Effect.gen(function* () {
    let rateLimited = 0
    let transient = 0
    while (true) {
      yield* waitForBudget(client, endpoint, client.limits.get(endpoint))
      // The timeout passed to twitter-api-v2 is for silence; an answer trickling in for ever is cut by this deadline,
      // and its connection closed (left to itself, it stayed open until the server closed it).
      const deadlineMs = client.policy.requestTimeoutMs * 4
      const current = attempt(client)
      const outcome = yield* Effect.promise(() =>
        call(current.options).then((response) => ({ ok: true as const, response }), (error: unknown) => ({ ok: false as const, error }))).pipe(
        Effect.timeoutOrElse({
          duration: Duration.millis(deadlineMs),
          orElse: () => Effect.sync(() => {
            current.abandon()
            return { ok: false as const, error: new Error(`no complete answer within ${deadlineMs} ms`) }
          }),
        }),
        Effect.onInterrupt(() => Effect.sync(current.abandon)),
      )
      if (current.state.tooLarge !== undefined) return yield* Effect.fail(new XBadAnswer({ endpoint, detail: current.state.tooLarge }))
      if (outcome.ok && outcome.response.rateLimit !== undefined) client.limits.set(endpoint, outcome.response.rateLimit)
      const body: unknown = outcome.ok ? outcome.response.data : undefined
      const answer = Buffer.isBuffer(body) && body.length > 0 ? readAnswer(body, read) : undefined
      const reading = answer?.reading
      if (outcome.ok && reading?._tag === "refused" && reading.rejection.rule !== "not_json") {
        const refused = { received: answer!.received, rejection: reading.rejection }
        return yield* Effect.fail(new XBadAnswer({ endpoint, detail: client.redact(reading.rejection.message), refused }))
      }
      // A 200 that is not a JSON object (an HTML error page of a proxy, an empty body) is an outage, not an empty page.
      if (outcome.ok && reading?._tag === "json" && isJsonObject(reading.value)) {
        return { ...outcome.response, data: reading.value as T, problems: reading.problems }
      }
      const failure: Failure = outcome.ok
        ? { _tag: "transient", reason: "X answered 200 with a body that is not a JSON object" }
        : classify(client, endpoint, outcome.error)
      if (failure._tag === "fatal") return yield* Effect.fail(failure.error)
      if (failure._tag === "rateLimited") {
        rateLimited++
        if (failure.limit !== undefined) client.limits.set(endpoint, failure.limit)
        if (rateLimited > client.policy.maxRateLimitRetries) {
          return yield* Effect.fail(new XRateLimited({ endpoint, attempts: rateLimited - 1, resetAt: resetIso(failure.limit?.reset) }))
        }
        const { waitMs, resetMs } = rateLimitWaitMs(client, failure.limit, yield* Clock.currentTimeMillis)
        yield* boundedWait(client, endpoint, waitMs, resetMs)
        client.onStatus({ kind: "rate_limit_wait", endpoint, waitMs, reason: "429" })
        yield* sleep(waitMs)
        // The wait covered the window; the budget check before the next call must not wait for it again.
        client.limits.delete(endpoint)
        continue
      }
      transient++
      if (transient > client.policy.maxTransientRetries) {
        return yield* Effect.fail(new XUnavailable({ endpoint, reason: failure.reason }))
      }
      const waitMs = backoffMs(transient, client.policy.backoffInitialMs, client.policy.backoffMaxMs)
      client.onStatus({ kind: "retry", endpoint, waitMs, attempt: transient, reason: failure.reason })
      yield* sleep(waitMs)
    }
  })

/** Short stable name for an object key (queries hold characters keys must not). */
export const keyHash = (text: string): string => createHash("sha256").update(text).digest("hex").slice(0, 16)

const KEY_SAFE = /^[A-Za-z0-9._\-=]+$/

/** Where a tenant's connector state lives in the ObjectStore. */
export const stateKeyPrefix = (tenant: string): string =>
  `connectors/x/${KEY_SAFE.test(tenant) && tenant !== "." && tenant !== ".." ? tenant : `t-${keyHash(tenant)}`}/`

const splitQueries = (text: string): Array<string> => text.split(";").map((q) => q.trim()).filter((q) => q !== "")

const parseQueries = (raw: string | undefined): Effect.Effect<Array<string>, XConfigInvalid> => {
  if (raw === undefined || raw.trim() === "") return Effect.succeed([])
  if (!raw.trim().startsWith("[")) return Effect.succeed(splitQueries(raw))
  return Effect.try({
    try: () => JSON.parse(raw) as unknown,
    catch: (e) => new XConfigInvalid({ variable: "CDP_X_QUERIES", reason: `not valid JSON (${(e as Error).message})` }),
  }).pipe(Effect.flatMap((value) =>
    Array.isArray(value) && value.every((q) => typeof q === "string" && q.trim() !== "")
      ? Effect.succeed(value.map((q: string) => q.trim()))
      : Effect.fail(new XConfigInvalid({ variable: "CDP_X_QUERIES", reason: "must be a JSON array of non-empty strings, or queries separated by ';'" }))))
}

const parseRules = (raw: string | undefined): Effect.Effect<Array<XRule>, XConfigInvalid> => {
  if (raw === undefined || raw.trim() === "") return Effect.succeed([])
  const invalid = (reason: string) => new XConfigInvalid({ variable: "CDP_X_RULES", reason })
  return Effect.try({ try: () => JSON.parse(raw) as unknown, catch: (e) => invalid(`not valid JSON (${(e as Error).message})`) }).pipe(
    Effect.flatMap((value) => {
      if (!Array.isArray(value)) return Effect.fail(invalid(`must be a JSON array of {"value": "...", "tag": "..."}`))
      const rules: Array<XRule> = []
      for (let i = 0; i < value.length; i++) {
        const r: unknown = value[i]
        if (typeof r === "string" && r.trim() !== "") rules.push({ value: r.trim() })
        else if (r !== null && typeof r === "object" && typeof (r as XRule).value === "string" && (r as XRule).value.trim() !== "") {
          const { value: v, tag } = r as { value: string; tag?: unknown }
          if (tag !== undefined && typeof tag !== "string") return Effect.fail(invalid(`rule ${i}: tag must be a string`))
          // X sends the tag back with every tweet the rule matches, where one past the schema's bound refuses the tweet.
          if (tag !== undefined && tag.length > MAX_NAME_CHARS) return Effect.fail(invalid(`rule ${i}: tag may be at most ${MAX_NAME_CHARS} characters`))
          rules.push(tag === undefined ? { value: v.trim() } : { value: v.trim(), tag })
        } else return Effect.fail(invalid(`rule ${i} must be a non-empty string or {"value": "...", "tag": "..."}`))
      }
      return Effect.succeed(rules)
    }))
}

/**
 * Reads the connector's configuration from the environment: CDP_X_BEARER_TOKEN (required), CDP_X_QUERIES (JSON array
 * or ';'-separated), CDP_X_RULES (JSON array of {value, tag?} or of strings), CDP_X_API_BASE (optional URL).
 */
export const loadXConfig = (env: Readonly<Record<string, string | undefined>>): Effect.Effect<XConfig, XConfigInvalid> =>
  Effect.gen(function* () {
    const bearerToken = env["CDP_X_BEARER_TOKEN"]?.trim() ?? ""
    if (bearerToken === "") {
      return yield* Effect.fail(new XConfigInvalid({ variable: "CDP_X_BEARER_TOKEN", reason: "is not set (an app-only bearer token of the X API)" }))
    }
    // Checked here, without echoing it: a control character made every request fail inside Node (retried for 40 s as
    // an outage), and X's tokens are printable ASCII (URL-encoded) only.
    if (!/^[\x21-\x7e]+$/.test(bearerToken)) {
      return yield* Effect.fail(new XConfigInvalid({
        variable: "CDP_X_BEARER_TOKEN", reason: "holds a space, a control character or a non-ASCII letter; an X bearer token is printable ASCII only (copy it again)",
      }))
    }
    const queries = yield* parseQueries(env["CDP_X_QUERIES"])
    const rules = yield* parseRules(env["CDP_X_RULES"])
    const apiBase = env["CDP_X_API_BASE"]?.trim()
    if (apiBase !== undefined && apiBase !== "") {
      if (!/^https?:\/\/[^/]/.test(apiBase) || !URL.canParse(apiBase)) {
        return yield* Effect.fail(new XConfigInvalid({ variable: "CDP_X_API_BASE", reason: `must be an http(s) URL (got ${apiBase})` }))
      }
      return { bearerToken, queries, rules, apiBase }
    }
    return { bearerToken, queries, rules }
  })
