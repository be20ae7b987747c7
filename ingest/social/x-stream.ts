// The X filtered stream: rules made equal to the configuration (idempotently), one long-lived connection to
// GET /2/tweets/search/stream that is re-opened with capped exponential backoff when it drops or goes silent,
// and every tweet mapped like a search page's. Interrupting the stream (scope close, SIGINT) closes the connection.
import { Cause, Clock, Duration, Effect, Queue, Stream } from "effect"
import type { StreamingV2Rule, Tweetv2FieldsParams } from "twitter-api-v2"
import type { ImportedItem } from "../sources/index.ts"
import type { Rejection } from "../message.ts"
import { refusedPageText, TWEET_FIELDS, tweetsFromPage, USER_FIELDS } from "../sources/twitter.ts"
import {
  answerWatch,
  backoffMs,
  crowdedPage,
  boundedWait,
  classify,
  endlessPaging,
  makeXClient,
  rateLimitWaitMs,
  readAnswer,
  readWhole,
  twitterApi,
  type XClient,
  type XClientOptions,
  XBadAnswer,
  type XConfig,
  type XError,
  XRequestRejected,
  xRequest,
  type XRule,
  XUnavailable,
} from "./x-client.ts"

const RULES_PATH = "tweets/search/stream/rules"
const STREAM_ENDPOINT = "GET tweets/search/stream"

export interface RuleSyncResult {
  readonly added: ReadonlyArray<XRule>
  readonly deleted: ReadonlyArray<StreamingV2Rule>
  readonly kept: number
}

interface RulesPage {
  readonly data?: ReadonlyArray<StreamingV2Rule>
  readonly meta?: { readonly next_token?: string }
}

interface RulesUpdate {
  readonly errors?: ReadonlyArray<{ readonly title?: string; readonly value?: string; readonly details?: ReadonlyArray<string> }>
}

const sameTag = (a: string | undefined, b: string | undefined) => (a ?? "") === (b ?? "")

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * Makes the stream's rules equal to `rules`: reads the current ones, deletes those not configured (or configured
 * with another tag), adds the missing ones. X keys rules by value, so the first of two configured rules with the same
 * value wins. A second sync with the same configuration sends no change.
 */
export const syncStreamRules = Effect.fn("syncStreamRules")(function* (client: XClient, rules: ReadonlyArray<XRule>) {
  const existing: Array<StreamingV2Rule> = []
  const tokensSeen = new Set<string>()
  let emptyInARow = 0
  let token: string | undefined
  do {
    const query: Record<string, string> = token === undefined ? {} : { pagination_token: token }
    const page = yield* xRequest(client, `GET ${RULES_PATH}`, (options) => client.v2.get<RulesPage>(RULES_PATH, query, options))
    // Only rules X could be asked to delete by id; anything else on the page is not a rule.
    const before = existing.length
    for (const rule of Array.isArray(page.data.data) ? page.data.data : []) {
      if (typeof rule?.id === "string" && typeof rule.value === "string") existing.push(rule)
    }
    emptyInARow = existing.length === before ? emptyInARow + 1 : 0
    const next: unknown = page.data.meta?.next_token
    token = typeof next === "string" && next !== "" ? next : undefined
    const endless = token === undefined ? undefined : endlessPaging(token, tokensSeen, emptyInARow)
    if (endless !== undefined) return yield* Effect.fail(new XBadAnswer({ endpoint: `GET ${RULES_PATH}`, detail: client.redact(endless) }))
  } while (token !== undefined && token !== "")

  const wanted = new Map<string, XRule>()
  for (const rule of rules) if (!wanted.has(rule.value)) wanted.set(rule.value, rule)
  const satisfied = new Set<string>()
  const deleted: Array<StreamingV2Rule> = []
  for (const rule of existing) {
    const want = wanted.get(rule.value)
    if (want !== undefined && sameTag(want.tag, rule.tag) && !satisfied.has(rule.value)) satisfied.add(rule.value)
    else deleted.push(rule)
  }
  const added = [...wanted.values()].filter((r) => !satisfied.has(r.value))

  const endpoint = `POST ${RULES_PATH}`
  // Deletions first: X refuses a rule whose value is already there (under another tag), and caps the rule count.
  for (const batch of chunks(deleted, 1000)) {
    yield* xRequest(client, endpoint, (options) =>
      client.v2.post<RulesUpdate>(RULES_PATH, { delete: { ids: batch.map((r) => r.id) } }, options))
  }
  for (const batch of chunks(added, 100)) {
    const body = { add: batch.map((r) => (r.tag === undefined ? { value: r.value } : { value: r.value, tag: r.tag })) }
    const response = yield* xRequest(client, endpoint, (options) => client.v2.post<RulesUpdate>(RULES_PATH, body, options))
    const errors: unknown = response.data.errors
    if (errors !== undefined && !Array.isArray(errors)) {
      return yield* Effect.fail(new XBadAnswer({ endpoint, detail: "the answer's errors is not a list, so which rules were added is unknown" }))
    }
    const refused = (errors as RulesUpdate["errors"] ?? []).filter((e) => e?.title !== "DuplicateRule")
    if (refused.length > 0) {
      const said = (details: unknown) => (details === undefined ? "" : ` (${Array.isArray(details) ? details.join("; ") : String(details)})`)
      const detail = refused.map((e) => `rule ${JSON.stringify(e?.value ?? "?")}: ${e?.title ?? "refused"}${said(e?.details)}`).join(", ")
      return yield* Effect.fail(new XRequestRejected({ endpoint, status: 400, detail: client.redact(detail) }))
    }
  }
  client.onStatus({ kind: "rules_synced", added: added.length, deleted: deleted.length, kept: satisfied.size })
  return { added, deleted, kept: satisfied.size } satisfies RuleSyncResult
})

export interface ReconnectPolicy {
  /** First wait after a drop or a failed connect; doubles per consecutive failure. */
  readonly initialMs: number
  readonly maxMs: number
  /** First wait after a 429 whose window is not spent (e.g. TooManyConnections); X asks for a minute. */
  readonly rateLimitedInitialMs: number
  /**
   * A connection that carried data or a keep-alive and stayed open this long resets the backoff; a shorter one counts
   * as a failure, so a server that accepts and closes at once is not reconnected to every `initialMs` for ever.
   */
  readonly stableAfterMs: number
  /** Consecutive failed connections before the stream fails; unlimited when absent. */
  readonly maxAttempts?: number
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { initialMs: 1_000, maxMs: 320_000, rateLimitedInitialMs: 60_000, stableAfterMs: 30_000 }

export interface StreamOptions extends XClientOptions {
  readonly tenant: string
  readonly client?: XClient
  /** X sends a keep-alive every 20 s; a connection silent for longer than this is re-opened (time held back does not count). */
  readonly keepAliveTimeoutMs?: number
  /** A line (one JSON payload) still without its end past this many bytes closes the connection (default 1 MiB). */
  readonly maxLineBytes?: number
  /**
   * Tweets waiting for the consumer (e.g. a pipeline stuck on its warehouse) past which the connection stops being read
   * until half have been taken, so TCP holds X back instead of memory growing (default 10,000).
   */
  readonly maxQueuedItems?: number
  readonly reconnect?: Partial<ReconnectPolicy>
  /**
   * Receives the tweets still queued when the stream stops (its consumer interrupted, or the stream failing), and any
   * that arrive while it stops, so they can still be handed on: X does not send them again.
   */
  readonly onStop?: (items: ReadonlyArray<ImportedItem>) => void
}

interface ConnectionEnd {
  /** The connection was established (200) before it ended. */
  readonly connected: boolean
  /** Data or a keep-alive arrived on it: the server was really there. */
  readonly alive: boolean
  /** How long it was open (0 when it never was). */
  readonly openMs: number
  /** Why connecting failed, when it did. */
  readonly error?: unknown
  readonly reason: string
}

const STREAM_PARAMS = {
  expansions: "author_id",
  "tweet.fields": TWEET_FIELDS,
  "user.fields": USER_FIELDS,
} as unknown as Partial<Tweetv2FieldsParams>

/** The event twitter-api-v2's TweetStream listens to on its parser for a parsed payload (EStreamParserEvent.ParsedData). */
const PARSED_DATA = "parsed data"

const CR = 0x0d
const LF = 0x0a
const CRLF = Buffer.from("\r\n")

/**
 * The stream's lines, read here instead of by twitter-api-v2 1.29, from the response's bytes (a listener ahead of its
 * own; Connected comes first). It decoded each read on its own (chunk.toString()), so a character whose UTF-8 bytes two
 * reads split (an emoji, an accent) became two U+FFFD, and a byte that is not UTF-8 one without a word: each line is
 * now decoded whole with decodeUtf8, and a line that is not UTF-8 goes to `refused` with its bytes (unless it is no
 * JSON even so: `unreadable`). It took a read that is exactly "\r\n" for a keep-alive even when it ended a tweet (both
 * that tweet and the next were lost), kept a line without "\r\n" without bound (past `maxBytes` the connection is now
 * cut, the read crossing it the last), scanned an unended line whole again for every read (quadratic), and dropped
 * without a word a line that is not JSON, or JSON it took for nothing (null, false, 0, ""): those go to `unreadable`,
 * and JSON the edge's reader refuses (readJson) to `refused`. Its parser is handed nothing (`push` does nothing).
 * `unended` is what has come of a line without its end yet.
 */
const readLines = (stream: unknown, maxBytes: number, on: Pick<ConnectionHandlers, "unreadable" | "refused"> & { tooLong: () => void }) => {
  const { res, parser } = stream as {
    res: NodeJS.ReadableStream
    parser: { push: (chunk: string) => void; emit: (event: string, payload: unknown) => boolean }
  }
  parser.push = () => {}
  const readLine = (bytes: Buffer) => {
    // Read as a plain call's answer is: the edge's one reader of outside JSON refuses, naming where, what cannot be
    // kept as sent (bytes that are not UTF-8, nesting past 100 levels, half a surrogate pair, a key named twice, a
    // number JSON.parse would change), which is kept as received.
    const { reading, received } = readAnswer(bytes, readWhole)
    if (reading._tag === "refused") {
      if (reading.rejection.rule !== "not_json") return on.refused(received, reading.rejection)
      return on.unreadable("not JSON", typeof received === "string" ? received : received.toString("utf8"))
    }
    if (!reading.value) return on.unreadable(`JSON that is not a tweet (null, false, 0 or "")`, received as string)
    parser.emit(PARSED_DATA, reading.value)
  }
  // The open line's bytes, as the reads brought them (joined once, when its end comes).
  let open: Array<Buffer> = []
  let openBytes = 0
  const endLine = (last: Buffer) => {
    const line = openBytes === 0 ? last : Buffer.concat([...open, last])
    open = []
    openBytes = 0
    if (line.length > 0) readLine(line)
  }
  res.prependListener("data", (chunk: Buffer) => {
    let start = 0
    // A "\r" that ended the last read and the "\n" that begins this one end the open line.
    if (openBytes > 0 && chunk[0] === LF && open.at(-1)!.at(-1) === CR) {
      const last = open.pop()!
      openBytes -= last.length
      endLine(last.subarray(0, last.length - 1))
      start = 1
    }
    for (let end = chunk.indexOf(CRLF, start); end >= 0; end = chunk.indexOf(CRLF, start)) {
      endLine(chunk.subarray(start, end))
      start = end + 2
    }
    if (start < chunk.length) {
      open.push(chunk.subarray(start))
      openBytes += chunk.length - start
    }
    if (openBytes > maxBytes) on.tooLong()
  })
  return { unended: () => Buffer.concat(open).toString("utf8") }
}

/** Holding an open connection back while the consumer is behind, and reading it again. */
interface Flow {
  readonly pause: () => void
  readonly resume: () => void
}

/**
 * The keep-alive timeout, ours instead of twitter-api-v2's: its timer ran on while we held the connection back for a
 * slow consumer, so a consumer stalled past it dropped the connection and the tweets still unread on it. Silence is
 * counted only while the connection is being read.
 */
const silenceWatch = (res: NodeJS.ReadableStream, timeoutMs: number, onSilent: () => void) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  let held = false
  let reads = 0
  // Timers run before the socket is read in an event-loop turn: after the process was busy past the timeout, a
  // keep-alive waiting in the socket was taken for silence. The verdict waits for that turn's reads (setImmediate).
  const expired = () => {
    const seen = reads
    setImmediate(() => {
      if (reads === seen && !held) onSilent()
    })
  }
  const listen = () => {
    reads++
    clearTimeout(timer)
    timer = held ? undefined : setTimeout(expired, timeoutMs)
  }
  res.on("data", listen)
  listen()
  const stop = () => {
    held = true
    clearTimeout(timer)
  }
  const flow: Flow = {
    pause: () => {
      stop()
      res.pause()
    },
    resume: () => {
      held = false
      res.resume()
      listen()
    },
  }
  return { flow, stop }
}

/** What a connection hands on: its payloads, the lines that are none, and how to hold it back once it is open. */
interface ConnectionHandlers {
  readonly payload: (payload: unknown) => void
  readonly unreadable: (reason: string, line: string) => void
  /** A line the edge's reader refuses (readJson), or whose bytes are not UTF-8: kept as a dead letter as received. */
  readonly refused: (line: string | Buffer, rejection: Rejection) => void
  readonly connected: (flow: Flow) => void
}

/** 1, 10, 100, ...: the counts at which unreadable lines are reported, so a stream of junk is not a flood of warnings. */
const isPowerOfTen = (n: number): boolean => {
  while (n >= 10 && n % 10 === 0) n /= 10
  return n === 1
}

/** The start of a line for a warning: enough to tell what it is (an HTML page, a cut tweet), not what it says. */
const linePrefix = (client: XClient, line: string): string => client.redact(line).slice(0, 24).replace(/[^\x20-\x7e]/g, "?")

/** The title of an error payload's first error ("operational-disconnect"), short and printable, for a warning. */
const errorTitle = (payload: unknown): string => {
  const title: unknown = (payload as { errors?: Array<{ title?: unknown }> } | null)?.errors?.[0]?.title
  return typeof title === "string" ? title.slice(0, 60).replace(/[^\x20-\x7e]/g, "?") : "without a title"
}

/**
 * A hold on a stream's connect request, which twitter-api-v2 keeps out of reach until it is answered (stream.destroy()
 * closes only an established one): an abort signal, so that a connect given up on does not stay open until the server
 * closes it, and the answer watch, as its error answer (a 4xx, 5xx) is read whole like a plain call's.
 */
const holdConnect = (stream: unknown, client: XClient) => {
  const abandon = new AbortController()
  const answer = answerWatch(client)
  const { requestData } = stream as {
    requestData: { options: { signal?: AbortSignal }; requestEventDebugHandler?: unknown; forceParseMode?: string }
  }
  requestData.options.signal = abandon.signal
  requestData.requestEventDebugHandler = answer.watch
  // Its error answer as bytes, as a plain call's (x-client attempt), read by errorDetail: twitter-api-v2 decoded it
  // with Buffer.toString (a byte that is not UTF-8 a U+FFFD in X's words) and read it with JSON.parse.
  requestData.forceParseMode = "buffer"
  return { abort: () => abandon.abort(), tooLarge: () => answer.state.tooLarge }
}

/** One connection, from connect to close; never fails (the end says why it ended). */
const connectOnce = (
  client: XClient,
  limits: { readonly keepAliveTimeoutMs: number; readonly maxLineBytes: number },
  on: ConnectionHandlers,
) =>
  Effect.callback<ConnectionEnd>((resume) => {
    const stream = client.v2.searchStream({ ...STREAM_PARAMS, autoConnect: false })
    const request = holdConnect(stream, client)
    let connected = false
    let connectedAt = 0
    let alive = false
    let finished = false
    let reason = "the server closed the connection"
    let silence: ReturnType<typeof silenceWatch> | undefined
    let lines: ReturnType<typeof readLines> | undefined
    // twitter-api-v2 waits for the connect's answer for ever; the keep-alive timer starts only once it is connected.
    const connectTimeoutMs = client.policy.requestTimeoutMs
    const unanswered = setTimeout(() => finish({
      connected: false, alive: false, error: new Error(`no answer to the connect within ${connectTimeoutMs} ms`), reason: "connect failed",
    }), connectTimeoutMs)
    const finish = (ending: Omit<ConnectionEnd, "openMs">) => {
      clearTimeout(unanswered)
      if (finished) return
      const end: ConnectionEnd = { ...ending, openMs: connected ? Date.now() - connectedAt : 0 }
      finished = true
      silence?.stop()
      stream.destroy()
      request.abort()
      // What X sent of a line it never ended (a proxy's HTML page, a tweet cut off) is lost with the connection.
      const unended = lines?.unended() ?? ""
      if (unended !== "") on.unreadable("a line without an end when the connection ended", unended)
      resume(Effect.succeed(end))
    }
    const { ETwitterStreamEvent } = twitterApi()
    stream.on(ETwitterStreamEvent.Connected, () => {
      clearTimeout(unanswered)
      connected = true
      connectedAt = Date.now()
      // twitter-api-v2 keeps the response in a protected field; it is there by the time Connected is emitted.
      const res = (stream as unknown as { res: NodeJS.ReadableStream }).res
      silence = silenceWatch(res, limits.keepAliveTimeoutMs, () =>
        finish({ connected, alive, reason: `no data or keep-alive for ${limits.keepAliveTimeoutMs} ms` }))
      on.connected(silence.flow)
      lines = readLines(stream, limits.maxLineBytes, {
        tooLong: () => finish({ connected, alive: false, reason: `a line longer than ${limits.maxLineBytes} bytes without an end` }),
        unreadable: on.unreadable,
        refused: on.refused,
      })
    })
    stream.on(ETwitterStreamEvent.DataKeepAlive, () => {
      alive = true
    })
    stream.on(ETwitterStreamEvent.Data, (payload: unknown) => {
      alive = true
      on.payload(payload)
    })
    // Error payloads (e.g. operational-disconnect) announce a close that follows; they are no tweet either.
    stream.on(ETwitterStreamEvent.DataError, (payload: unknown) => {
      reason = "X sent an error payload and closed the connection"
      on.unreadable(`an error payload from X (${errorTitle(payload)})`, JSON.stringify(payload))
    })
    stream.on(ETwitterStreamEvent.ConnectionClosed, () => finish({ connected, alive, reason }))
    stream.connect({ autoReconnect: false, keepAliveTimeout: "disable" }).then(
      () => {
        // Interrupted while connecting: the connection opened after we stopped caring about it.
        if (finished) stream.destroy()
      },
      (error: unknown) => {
        const tooLarge = request.tooLarge()
        const cause = tooLarge === undefined ? error : new XBadAnswer({ endpoint: STREAM_ENDPOINT, detail: tooLarge })
        finish({ connected: false, alive: false, error: cause, reason: "connect failed" })
      },
    )
    return Effect.sync(() => {
      clearTimeout(unanswered)
      finished = true
      silence?.stop()
      stream.destroy()
      request.abort()
    })
  })

/**
 * The connector's end of the queue its consumer reads. Backpressure: the connection is held back while the consumer is
 * behind and read again once it has caught up; queued items stay across a reconnect, and a new connection is held back
 * at once while they are still too many. When the stream stops, the connection is held back and what is queued goes
 * to `onStop` (it went down with the queue: up to maxQueuedItems tweets lost at every shutdown).
 */
const queueFeed = (
  queue: Queue.Queue<ImportedItem, XError | Cause.Done>,
  maxQueued: number,
  onStop: ((items: ReadonlyArray<ImportedItem>) => void) | undefined,
) => {
  let current: Flow | undefined
  let resuming: ReturnType<typeof setInterval> | undefined
  let stopped = false
  const holdBack = () => {
    if (resuming !== undefined || current === undefined || Queue.sizeUnsafe(queue) < maxQueued) return
    const held = current
    held.pause()
    resuming = setInterval(() => {
      if (Queue.sizeUnsafe(queue) > maxQueued / 2) return
      clearInterval(resuming)
      resuming = undefined
      held.resume()
    }, 20)
  }
  return {
    offer: (items: ReadonlyArray<ImportedItem>) => {
      if (stopped) return void (items.length > 0 && onStop?.(items))
      for (const item of items) Queue.offerUnsafe(queue, item)
      holdBack()
    },
    connected: (flow: Flow) => {
      clearInterval(resuming)
      resuming = undefined
      current = flow
      holdBack()
    },
    stop: Effect.suspend(() => {
      stopped = true
      clearInterval(resuming)
      current?.pause()
      if (onStop === undefined) return Effect.void
      return Queue.clear(queue).pipe(Effect.map((rest) => void (rest.length > 0 && onStop(rest))), Effect.ignore)
    }),
  }
}

/**
 * The tweets of the filtered stream as items, for as long as it is consumed: reconnects after drops and silences
 * (capped exponential backoff, reset once a connection has carried data or a keep-alive), waits for the reset after
 * a 429; fails on 401/403 (no retry loop) or after `reconnect.maxAttempts` consecutive failed connections.
 * The rules are not touched here: call `syncStreamRules` first (runFilteredStream does).
 */
export const filteredStream = (client: XClient, options: StreamOptions): Stream.Stream<ImportedItem, XError> => {
  const policy: ReconnectPolicy = { ...DEFAULT_RECONNECT, ...options.reconnect }
  const limits = { keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 30_000, maxLineBytes: options.maxLineBytes ?? 1_048_576 }
  return Stream.callback<ImportedItem, XError>((queue) =>
    Effect.gen(function* () {
      const clock = yield* Clock.Clock
      const feed = queueFeed(queue, options.maxQueuedItems ?? 10_000, options.onStop)
      yield* Effect.addFinalizer(() => feed.stop)
      const onPayload = (payload: unknown) =>
        feed.offer(tweetsFromPage(payload, { tenant: options.tenant, receivedAtMs: clock.currentTimeMillisUnsafe() }))
      let failures = 0
      for (let connection = 1; ; connection++) {
        let unreadableLines = 0
        const unreadable = (why: string, line: string) => {
          if (!isPowerOfTen(++unreadableLines)) return
          client.onStatus({ kind: "unreadable_lines", connection, count: unreadableLines, reason: why, prefix: linePrefix(client, line) })
        }
        const end = yield* connectOnce(client, limits, {
          payload: (payload) => {
            const crowded = crowdedPage(payload, 10, "where X's stream sends one tweet a line")
            return crowded === undefined ? onPayload(payload) : unreadable(crowded, JSON.stringify(payload))
          },
          unreadable,
          refused: (line, rejection) =>
            feed.offer([refusedPageText(line, rejection, { tenant: options.tenant, receivedAtMs: clock.currentTimeMillisUnsafe() })]),
          connected: (opened) => {
            client.onStatus({ kind: "connected", connection })
            feed.connected(opened)
          },
        })
        let waitMs: number
        let reason = end.reason
        if (end.error === undefined) {
          client.onStatus({ kind: "disconnected", connection, reason: end.reason, unreadableLines })
          failures = end.alive && end.openMs >= policy.stableAfterMs ? 1 : failures + 1
          waitMs = backoffMs(failures, policy.initialMs, policy.maxMs)
        } else {
          const failure = classify(client, STREAM_ENDPOINT, end.error)
          if (failure._tag === "fatal") return yield* Effect.fail(failure.error)
          failures++
          if (failure._tag === "rateLimited") {
            reason = "429"
            if (failure.limit !== undefined) client.limits.set(STREAM_ENDPOINT, failure.limit)
            const { waitMs: untilReset, resetMs } = rateLimitWaitMs(client, failure.limit, yield* Clock.currentTimeMillis)
            const spent = failure.limit !== undefined && failure.limit.remaining <= 0 && resetMs !== undefined
            waitMs = spent ? yield* boundedWait(client, STREAM_ENDPOINT, untilReset, resetMs) : backoffMs(failures, policy.rateLimitedInitialMs, policy.maxMs)
          } else {
            reason = failure.reason
            waitMs = backoffMs(failures, policy.initialMs, policy.maxMs)
          }
        }
        if (policy.maxAttempts !== undefined && failures > policy.maxAttempts) {
          return yield* Effect.fail(new XUnavailable({ endpoint: STREAM_ENDPOINT, reason: `${failures - 1} reconnects failed; last: ${reason}` }))
        }
        client.onStatus({ kind: "reconnect_wait", waitMs, attempt: failures, reason })
        yield* Effect.sleep(Duration.millis(waitMs))
      }
    }))
}

/**
 * Syncs the rules from the configuration, then hands the stream's items to `onItems` in batches (whatever arrived
 * while the previous batch was being handled) until interrupted or the stream fails.
 */
export const runFilteredStream = <E, R>(
  config: XConfig,
  options: StreamOptions & { readonly onItems: (items: ReadonlyArray<ImportedItem>) => Effect.Effect<void, E, R>; readonly syncRules?: boolean },
): Effect.Effect<void, XError | E, R> =>
  Effect.gen(function* () {
    const client = options.client ?? makeXClient(config, options)
    if (options.syncRules !== false) yield* syncStreamRules(client, config.rules)
    // Tweets received are handed on even when the stream stops (cdp serve shutting down, a 401): a batch being handed
    // on is finished, and what was still queued is handed on last.
    const queued: Array<ImportedItem> = []
    const handOnQueued = Effect.suspend(() => {
      const items = queued.splice(0)
      if (items.length === 0) return Effect.void
      return options.onItems(items).pipe(Effect.catchCause((cause) =>
        Effect.logError("x stream: tweets received before it stopped could not be handed on").pipe(
          Effect.annotateLogs({ tweets: items.length, error: String((Cause.squash(cause) as Error | undefined)?.message ?? cause) }))))
    })
    yield* Stream.runForEachArray(
      filteredStream(client, { ...options, client, onStop: (items) => void queued.push(...items) }),
      (items) => Effect.uninterruptible(options.onItems(items)),
    ).pipe(Effect.ensuring(handOnQueued))
  }).pipe(Effect.withSpan("runFilteredStream"))
