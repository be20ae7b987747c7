// A local stand-in for the X API v2 endpoints the social connector uses, answering in the documented shapes:
// recent search (next_token, since_id), the filtered stream (JSON lines, \r\n keep-alives, droppable on command),
// stream rules (GET, POST add/delete, kept in memory), x-rate-limit-* headers on every answer, 401/429 problem bodies.
// Every request is recorded for assertions.
import { readFileSync } from "node:fs"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { SIGNALS_DEV } from "./shared.ts"

export const DEV_TWEETS = `${SIGNALS_DEV}tweets.json`

type Json = Record<string, unknown>

export interface Tweet extends Json {
  readonly id: string
  readonly author_id: string
}

export interface User extends Json {
  readonly id: string
  readonly username: string
}

export interface Page {
  readonly data?: ReadonlyArray<Tweet>
  readonly includes?: { readonly users?: ReadonlyArray<User> }
  readonly meta?: Json
}

export interface Rule {
  readonly id: string
  readonly value: string
  readonly tag?: string
}

/** The endpoints, each with its own rate-limit window as on X. */
export type Endpoint = "search" | "stream" | "rules.get" | "rules.post"

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly endpoint: Endpoint | null
  readonly query: Readonly<Record<string, string>>
  readonly body: unknown
  readonly status: number
  readonly at: number
}

export interface ReplayOptions {
  /** The bearer token the server accepts (default "replay-token"). */
  readonly bearerToken?: string
  readonly pages?: ReadonlyArray<Page>
  /** Interval of the stream's "\r\n" keep-alives (X: 20 s). */
  readonly keepAliveMs?: number
  /** Requests per window, per endpoint (X: 450 per 15 minutes for search). */
  readonly rateLimit?: { readonly limit: number; readonly windowSeconds: number }
  readonly rules?: ReadonlyArray<Omit<Rule, "id">>
}

interface Window {
  limit: number
  remaining: number
  /** Epoch seconds, as in x-rate-limit-reset. */
  resetSec: number
}

const PROBLEM_401 = { title: "Unauthorized", type: "about:blank", status: 401, detail: "Unauthorized" }
const PROBLEM_429 = { title: "Too Many Requests", detail: "Too Many Requests", type: "about:blank", status: 429 }
const PROBLEM_404 = {
  title: "Not Found Error", detail: "Sorry, that page does not exist.", type: "https://api.twitter.com/2/problems/resource-not-found", status: 404,
}
const TOO_MANY_CONNECTIONS = {
  title: "ConnectionException",
  detail: "This stream is currently at the maximum allowed connection limit.",
  connection_issue: "TooManyConnections",
  type: "https://api.twitter.com/2/problems/streaming-connection",
}
const invalidRequest = (parameter: string, value: string, message: string) => ({
  errors: [{ parameters: { [parameter]: [value] }, message }],
  title: "Invalid Request",
  detail: "One or more parameters to your request was invalid.",
  type: "https://api.twitter.com/2/problems/invalid-request",
})

export const loadDevPages = (path = DEV_TWEETS): Array<Page> => JSON.parse(readFileSync(path, "utf8")) as Array<Page>

const newestFirst = (a: Tweet, b: Tweet) => (BigInt(a.id) > BigInt(b.id) ? -1 : BigInt(a.id) < BigInt(b.id) ? 1 : 0)

const encodeToken = (beforeId: string) => Buffer.from(`before:${beforeId}`).toString("base64url")
const decodeToken = (token: string): string | undefined => {
  const text = Buffer.from(token, "base64url").toString("utf8")
  return /^before:[0-9]+$/.test(text) ? text.slice("before:".length) : undefined
}

export class XReplayServer {
  readonly requests: Array<RecordedRequest> = []
  readonly bearerToken: string
  url = ""
  /** Stream connections accepted so far (200 answers). */
  streamConnects = 0
  private readonly server: http.Server
  private readonly tweets = new Map<string, Tweet>()
  private readonly users = new Map<string, User>()
  private readonly windows = new Map<Endpoint, Window>()
  private readonly rateLimit: { limit: number; windowSeconds: number }
  private readonly keepAliveMs: number
  private readonly open = new Set<http.ServerResponse>()
  private readonly pending: Array<string> = []
  private keepAlivePaused = false
  private nextRuleId = 1_800_000_000_000_000_000n
  private ruleList: Array<Rule> = []
  private readonly scripted: Array<{ endpoint: Endpoint; status: number }> = []
  private readonly suspended = new Set<string>()

  constructor(options: ReplayOptions = {}) {
    this.bearerToken = options.bearerToken ?? "replay-token"
    this.keepAliveMs = options.keepAliveMs ?? 100
    this.rateLimit = options.rateLimit ?? { limit: 450, windowSeconds: 900 }
    for (const page of options.pages ?? []) this.addPage(page)
    for (const rule of options.rules ?? []) this.ruleList.push({ ...rule, id: String(this.nextRuleId++) })
    this.server = http.createServer((req, res) => this.handle(req, res))
  }

  listen(): Promise<this> {
    return new Promise((resolve) =>
      this.server.listen(0, "127.0.0.1", () => {
        this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
        resolve(this)
      }))
  }

  async close(): Promise<void> {
    this.drop()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** Adds a page's tweets (and their authors) to what search serves. */
  addPage(page: Page): void {
    for (const user of page.includes?.users ?? []) this.users.set(user.id, user)
    for (const tweet of page.data ?? []) this.tweets.set(tweet.id, tweet)
  }

  /**
   * X no longer returns this user (suspended): their tweets still come, the user is left out of includes.users, and
   * the answer (or stream event) says so in a partial error beside data, as X does.
   */
  suspend(userId: string): void {
    this.suspended.add(userId)
  }

  /** The authors of `tweets` X returns, and a partial error for each it cannot (X's words for a suspended user). */
  private authorsOf(tweets: ReadonlyArray<Tweet>, given?: User): { users: Array<User>; errors: Array<Json> } {
    const users: Array<User> = []
    const errors: Array<Json> = []
    for (const id of new Set(tweets.map((t) => t.author_id))) {
      if (this.suspended.has(id)) {
        errors.push({
          value: id, detail: `User has been suspended: [${id}].`, title: "Forbidden", resource_type: "user", parameter: "author_id",
          resource_id: id, type: "https://api.twitter.com/2/problems/resource-not-found",
        })
        continue
      }
      const user = given ?? this.users.get(id)
      if (user !== undefined) users.push(user)
    }
    return { users, errors }
  }

  get rules(): ReadonlyArray<Rule> {
    return this.ruleList
  }

  /** Requests to one endpoint, in order. */
  requestsTo(endpoint: Endpoint): Array<RecordedRequest> {
    return this.requests.filter((r) => r.endpoint === endpoint)
  }

  /** Spends the endpoint's window: the next requests get 429 until the reset, `resetInSeconds` (or a bit more) ahead. */
  exhaust(endpoint: Endpoint, resetInSeconds = 1): Window {
    const window = { limit: this.rateLimit.limit, remaining: 0, resetSec: Math.ceil(Date.now() / 1000 + resetInSeconds) }
    this.windows.set(endpoint, window)
    return window
  }

  /** The next request to `endpoint` is answered with `status` (503: a transient outage). */
  failNext(endpoint: Endpoint, status: number): void {
    this.scripted.push({ endpoint, status })
  }

  /** Sends a tweet to the open stream connection (or to the next one, when none is open), as X does for a match. */
  push(tweet: Tweet, author?: User): void {
    const { users, errors } = this.authorsOf([tweet], author)
    const event = {
      data: tweet,
      ...(users.length === 0 ? {} : { includes: { users } }),
      ...(errors.length === 0 ? {} : { errors }),
      matching_rules: this.ruleList.map((r) => (r.tag === undefined ? { id: r.id } : { id: r.id, tag: r.tag })),
    }
    this.pushLine(JSON.stringify(event))
  }

  /** Sends one stream line as written (what JSON.stringify cannot write: a value nested 100,000 deep), ended by \r\n. */
  pushLine(text: string): void {
    const line = `${text}\r\n`
    if (this.open.size === 0) this.pending.push(line)
    for (const res of this.open) res.write(line)
  }

  /** Cuts every open stream connection, as a network failure or an X-side disconnect would. */
  drop(): number {
    const count = this.open.size
    for (const res of this.open) res.destroy()
    this.open.clear()
    return count
  }

  /** Stops (or resumes) the keep-alives, so the stream goes silent without closing. */
  pauseKeepAlive(paused: boolean): void {
    this.keepAlivePaused = paused
  }

  get openStreams(): number {
    return this.open.size
  }

  private window(endpoint: Endpoint, now: number): Window {
    let w = this.windows.get(endpoint)
    if (w === undefined || now >= w.resetSec * 1000) {
      w = { limit: this.rateLimit.limit, remaining: this.rateLimit.limit, resetSec: Math.ceil(now / 1000 + this.rateLimit.windowSeconds) }
      this.windows.set(endpoint, w)
    }
    return w
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://replay")
      const text = Buffer.concat(chunks).toString("utf8")
      let body: unknown
      try {
        body = text === "" ? undefined : JSON.parse(text)
      } catch {
        body = text
      }
      const record = (endpoint: Endpoint | null, status: number) =>
        this.requests.push({
          method: req.method ?? "GET", path: url.pathname, endpoint, query: Object.fromEntries(url.searchParams), body, status, at: Date.now(),
        })
      const endpoint = this.route(req.method ?? "GET", url.pathname)
      const now = Date.now()
      if (endpoint === null) {
        record(null, 404)
        return this.json(res, 404, PROBLEM_404)
      }
      if (req.headers.authorization !== `Bearer ${this.bearerToken}`) {
        record(endpoint, 401)
        return this.json(res, 401, PROBLEM_401)
      }
      const w = this.window(endpoint, now)
      const limitHeaders = () => ({
        "x-rate-limit-limit": String(w.limit),
        "x-rate-limit-remaining": String(w.remaining),
        "x-rate-limit-reset": String(w.resetSec),
      })
      if (w.remaining <= 0) {
        record(endpoint, 429)
        return this.json(res, 429, PROBLEM_429, limitHeaders())
      }
      w.remaining--
      const scriptedAt = this.scripted.findIndex((s) => s.endpoint === endpoint)
      if (scriptedAt >= 0) {
        const { status } = this.scripted.splice(scriptedAt, 1)[0]!
        record(endpoint, status)
        return this.json(res, status, { title: "Service Unavailable", detail: "Service Unavailable", type: "about:blank", status }, limitHeaders())
      }
      const answer = (status: number, payload: unknown) => {
        record(endpoint, status)
        this.json(res, status, payload, limitHeaders())
      }
      switch (endpoint) {
        case "search":
          return this.search(url.searchParams, answer)
        case "rules.get":
          return answer(200, this.listRules())
        case "rules.post":
          return this.updateRules(body, url.searchParams.get("dry_run") === "true", answer)
        case "stream":
          if (this.open.size > 0) {
            record(endpoint, 429)
            return this.json(res, 429, TOO_MANY_CONNECTIONS, limitHeaders())
          }
          record(endpoint, 200)
          return this.openStream(res, limitHeaders())
      }
    })
  }

  private route(method: string, path: string): Endpoint | null {
    if (method === "GET" && path === "/2/tweets/search/recent") return "search"
    if (method === "GET" && path === "/2/tweets/search/stream") return "stream"
    if (method === "GET" && path === "/2/tweets/search/stream/rules") return "rules.get"
    if (method === "POST" && path === "/2/tweets/search/stream/rules") return "rules.post"
    return null
  }

  private json(res: http.ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers })
    res.end(JSON.stringify(payload))
  }

  private search(params: URLSearchParams, answer: (status: number, payload: unknown) => void): void {
    const query = params.get("query")
    if (query === null || query.trim() === "") return answer(400, invalidRequest("query", "", "The `query` query parameter can not be empty"))
    const max = Math.min(100, Math.max(10, Number(params.get("max_results") ?? 10)))
    const sinceId = params.get("since_id")
    const token = params.get("next_token")
    const before = token === null ? undefined : decodeToken(token)
    if (token !== null && before === undefined) {
      return answer(400, invalidRequest("next_token", token, `The \`next_token\` query parameter value [${token}] is not valid`))
    }
    const matching = [...this.tweets.values()]
      .filter((t) => (sinceId === null || BigInt(t.id) > BigInt(sinceId)) && (before === undefined || BigInt(t.id) < BigInt(before)))
      .sort(newestFirst)
    const data = matching.slice(0, max)
    if (data.length === 0) return answer(200, { meta: { result_count: 0 } })
    const { users, errors } = this.authorsOf(data)
    const last = data[data.length - 1]!
    answer(200, {
      data,
      includes: { users },
      ...(errors.length === 0 ? {} : { errors }),
      meta: {
        newest_id: data[0]!.id,
        oldest_id: last.id,
        result_count: data.length,
        ...(matching.length > max ? { next_token: encodeToken(last.id) } : {}),
      },
    })
  }

  private listRules() {
    const sent = new Date().toISOString()
    return this.ruleList.length === 0
      ? { meta: { sent, result_count: 0 } }
      : { data: this.ruleList, meta: { sent, result_count: this.ruleList.length } }
  }

  private updateRules(body: unknown, dryRun: boolean, answer: (status: number, payload: unknown) => void): void {
    const sent = new Date().toISOString()
    const b = (body ?? {}) as { add?: ReadonlyArray<{ value?: unknown; tag?: unknown }>; delete?: { ids?: ReadonlyArray<unknown> } }
    if (Array.isArray(b.add)) {
      const created: Array<Rule> = []
      const errors: Array<Json> = []
      for (const r of b.add) {
        const value = typeof r.value === "string" ? r.value : ""
        const existing = this.ruleList.find((x) => x.value === value)
        if (existing !== undefined) {
          errors.push({ value, id: existing.id, title: "DuplicateRule", type: "https://api.twitter.com/2/problems/duplicate-rules" })
        } else if (value.trim() === "") {
          errors.push({ value, title: "UnprocessableEntity", details: ["Rules must contain a non-empty value"], type: "https://api.twitter.com/2/problems/invalid-rules" })
        } else {
          const rule: Rule = typeof r.tag === "string" ? { id: String(this.nextRuleId++), value, tag: r.tag } : { id: String(this.nextRuleId++), value }
          created.push(rule)
        }
      }
      if (!dryRun) this.ruleList.push(...created)
      const summary = { created: created.length, not_created: errors.length, valid: created.length, invalid: errors.length }
      return answer(200, { ...(created.length > 0 ? { data: created } : {}), meta: { sent, summary }, ...(errors.length > 0 ? { errors } : {}) })
    }
    if (b.delete !== undefined && Array.isArray(b.delete.ids)) {
      const ids = new Set(b.delete.ids.map(String))
      const found = this.ruleList.filter((r) => ids.has(r.id))
      if (!dryRun) this.ruleList = this.ruleList.filter((r) => !ids.has(r.id))
      const missing = [...ids].filter((id) => !found.some((r) => r.id === id))
      return answer(200, {
        meta: { sent, summary: { deleted: found.length, not_deleted: missing.length } },
        ...(missing.length > 0 ? { errors: missing.map((id) => ({ id, title: "Not Found", type: "about:blank" })) } : {}),
      })
    }
    answer(400, invalidRequest("body", JSON.stringify(body ?? null), "The request body must hold `add` or `delete`"))
  }

  private openStream(res: http.ServerResponse, headers: Record<string, string>): void {
    this.streamConnects++
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", ...headers })
    res.flushHeaders()
    this.open.add(res)
    for (const line of this.pending.splice(0)) res.write(line)
    const timer = setInterval(() => {
      if (!this.keepAlivePaused) res.write("\r\n")
    }, this.keepAliveMs)
    const closed = () => {
      clearInterval(timer)
      this.open.delete(res)
    }
    res.on("close", closed)
  }
}

export const startXReplayServer = (options: ReplayOptions = {}): Promise<XReplayServer> => new XReplayServer(options).listen()
