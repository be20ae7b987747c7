// The X recent-search poller: for each configured query, pages through GET /2/tweets/search/recent with next_token
// and hands each page's items over before remembering how far it got (ObjectStore), so a restart resumes where it
// stopped and a later pass asks only for tweets newer than the newest one seen (since_id). At least once: a page
// handed over just before a crash is fetched again, and the pipeline drops it by message id.
import { createHash } from "node:crypto"
import { Clock, Effect } from "effect"
import type { ImportedItem } from "../sources/index.ts"
import { readSearchAnswer, refusedPageText, TWEET_FIELDS, tweetsFromReadPage, USER_FIELDS, type XPage } from "../sources/twitter.ts"
import { ObjectStore, type ObjectStoreError } from "../objectstore.ts"
import {
  crowdedPage,
  endlessPaging,
  keyHash,
  makeXClient,
  stateKeyPrefix,
  type XClient,
  type XClientOptions,
  type XConfig,
  XBadAnswer,
  type XError,
  XRequestRejected,
  xRequest,
} from "./x-client.ts"

const ENDPOINT = "GET tweets/search/recent"

/** Persisted per tenant and query. */
export interface SearchState {
  readonly version: 1
  readonly query: string
  /** Newest tweet id of the last completed pass; the next pass asks only for newer tweets. */
  readonly sinceId: string | null
  /** A pass in progress: the page to continue from after a restart, and the newest id the pass has seen. */
  readonly pending: { readonly nextToken: string; readonly newestId: string | null } | null
  /**
   * SHA-256 (hex) of the answers refused whole on this query, the latest MAX_REFUSED_ANSWERS: each dead-lettered once,
   * met again (the next pass, or after good pages) told in the query's error only. Saved as lastRefused (one) before.
   */
  readonly refusedAnswers?: ReadonlyArray<string>
  readonly updatedAt: string
}

export interface SearchOptions<E, R> extends XClientOptions {
  readonly tenant: string
  /** Receives each page's items (events and dead letters); the CLI passes them to Pipeline.submit. */
  readonly onItems: (items: ReadonlyArray<ImportedItem>) => Effect.Effect<void, E, R>
  /** Tweets per page, 10..100 (default 100). */
  readonly maxResults?: number
  /** Reuse one client across passes, so what it learnt of the rate limits carries over. */
  readonly client?: XClient
}

export interface QuerySummary {
  readonly query: string
  readonly pages: number
  readonly tweets: number
  readonly deadLetters: number
  /**
   * Refusals of a user, and X's partial errors, the same as one already dead-lettered in this pass (the same author on
   * several pages): counted here, a page each, not dead-lettered again.
   */
  readonly deadLettersRepeated: number
  /** The since_id the next pass will use. */
  readonly sinceId: string | null
  /** True when this pass continued a pass that an earlier run left unfinished. */
  readonly resumed: boolean
  /**
   * Why X's answers to this query stopped its pass (a query X refuses, a pagination loop, an answer too large or a page
   * too crowded to read, an answer the edge's reader refuses outside its tweets); the other queries still ran.
   */
  readonly error?: string
}

/** Object key of a query's state. */
export const searchStateKey = (tenant: string, query: string): string => `${stateKeyPrefix(tenant)}search-${keyHash(query)}.json`

const newerId = (a: string | null | undefined, b: string | null | undefined): string | null => {
  if (a === undefined || a === null || a === "") return b ?? null
  if (b === undefined || b === null || b === "") return a
  return BigInt(a) >= BigInt(b) ? a : b
}

/** X ids are snowflakes: digits, at most a signed 64-bit integer. A larger one would skip every real tweet as since_id. */
const MAX_X_ID = 9_223_372_036_854_775_807n
const isDigits = (s: unknown): s is string => typeof s === "string" && /^[0-9]{1,19}$/.test(s) && BigInt(s) <= MAX_X_ID

/**
 * The saved state, or why it cannot be used. A state we cannot read is treated as absent (said so by the caller): the
 * pass refetches the 7-day window, and what was fetched before is dropped downstream by message id.
 */
const decodeState = (bytes: Uint8Array | undefined, query: string): SearchState | { readonly unusable: string } | null => {
  if (bytes === undefined) return null
  let s: Partial<SearchState> | null
  try {
    s = JSON.parse(new TextDecoder().decode(bytes)) as Partial<SearchState> | null
  } catch {
    return { unusable: "not JSON" }
  }
  if (typeof s !== "object" || s === null || Array.isArray(s)) return { unusable: "not a JSON object" }
  if (s.version !== 1) return { unusable: "its version is not 1" }
  if (s.query !== query) return { unusable: "it is another query's" }
  const sinceId = isDigits(s.sinceId) ? s.sinceId : null
  const pending = typeof s.pending?.nextToken === "string" && s.pending.nextToken !== ""
    ? { nextToken: s.pending.nextToken, newestId: isDigits(s.pending.newestId) ? s.pending.newestId : null }
    : null
  if (s.pending != null && pending === null) return { unusable: "its unfinished pass has no next_token" }
  const listed: unknown = Array.isArray(s.refusedAnswers) ? s.refusedAnswers : [(s as { lastRefused?: unknown }).lastRefused]
  const refused = (listed as ReadonlyArray<unknown>).filter((h): h is string => typeof h === "string" && /^[0-9a-f]{64}$/.test(h))
  return {
    version: 1, query, sinceId, pending, ...refusedAnswers(refused), updatedAt: typeof s.updatedAt === "string" ? s.updatedAt : "",
  }
}

/** Answers refused whole a query's state remembers: a few, as X sends a poisoned answer again until it is fixed. */
const MAX_REFUSED_ANSWERS = 16

/** The state's field for these hashes, the latest MAX_REFUSED_ANSWERS (none when there are none). */
const refusedAnswers = (hashes: ReadonlyArray<string>): Pick<SearchState, "refusedAnswers"> =>
  hashes.length === 0 ? {} : { refusedAnswers: hashes.slice(-MAX_REFUSED_ANSWERS) }

/**
 * An answer refused whole (XBadAnswer.refused) handed on as one dead letter, unless this query was refused the very
 * same bytes before: the pass stops there and keeps the query's state, so each later pass asks again and made one more
 * identical dead letter (one a minute under cdp serve), and so did a pass that met it again after good pages (its first
 * page poisoned, then a page of new tweets before it). Its hash joins the state's refusedAnswers, as last saved
 * (`stored`), read pages or not. Whether it was handed on.
 */
const deadLetterOnce = <E, R>(
  key: string, stored: SearchState | null, query: string, refused: NonNullable<XBadAnswer["refused"]>, options: SearchOptions<E, R>,
) =>
  Effect.gen(function* () {
    const hash = createHash("sha256").update(refused.received).digest("hex")
    const known = stored?.refusedAnswers ?? []
    if (known.includes(hash)) return false
    const nowMs = yield* Clock.currentTimeMillis
    yield* options.onItems([refusedPageText(refused.received, refused.rejection, { tenant: options.tenant, receivedAtMs: nowMs })])
    const state: SearchState = {
      ...(stored ?? { version: 1, query, sinceId: null, pending: null }), ...refusedAnswers([...known, hash]), updatedAt: new Date(nowMs).toISOString(),
    }
    yield* (yield* ObjectStore).put(key, JSON.stringify(state))
    return true
  })

/** Refusals told beside a page's tweets (a user, one of X's partial errors), which the next pages repeat. */
const BESIDE_TWEETS = /^\/(includes\/users|errors)\//

/** How many such refusals a pass remembers; past it, a repeat is dead-lettered again (a pass is a few hundred pages). */
const MAX_REMEMBERED = 10_000

/**
 * A page's items less the refusals beside its tweets already dead-lettered in this pass (`seen`, by a hash of the rule
 * and what the dead letter keeps): a refused author on ten pages is one dead letter, not ten. And how many were left out.
 */
const newRefusals = (items: ReadonlyArray<ImportedItem>, seen: Set<string>): { kept: Array<ImportedItem>; repeated: number } => {
  const kept: Array<ImportedItem> = []
  let repeated = 0
  for (const item of items) {
    if (item._tag === "deadLetter" && BESIDE_TWEETS.test(item.deadLetter.rejection.field)) {
      const hash = createHash("sha256").update(`${item.deadLetter.rejection.rule}\n${item.deadLetter.payload}`).digest("hex")
      if (seen.has(hash)) {
        repeated++
        continue
      }
      if (seen.size < MAX_REMEMBERED) seen.add(hash)
    }
    kept.push(item)
  }
  return { kept, repeated }
}

/**
 * The newest tweet id on a page: the largest data[].id. Not meta.newest_id: a page whose meta names an id past its
 * tweets would move since_id past tweets never handed over, and every later pass would skip them.
 */
const pageNewestId = (page: XPage, items: ReadonlyArray<ImportedItem>): string | null => {
  let newest: string | null = null
  if (Array.isArray(page.data)) for (const t of page.data as ReadonlyArray<{ id?: unknown }>) if (isDigits(t?.id)) newest = newerId(newest, t.id)
  // A tweet the edge's reader refused is kept as received (not in page.data): its id counts as any refused tweet's does.
  for (const item of items) {
    const id = item._tag === "deadLetter" && item.deadLetter.rejection.field.startsWith("/data/") ? item.deadLetter.messageId : undefined
    if (isDigits(id)) newest = newerId(newest, id)
  }
  return newest
}

/** One page's request: the tweets (with their authors) after `sinceId`, from `nextToken` on when continuing a pass. */
const searchParams = (query: string, maxResults: number, sinceId: string | null, nextToken: string | undefined) => {
  const params: Record<string, string | number> = {
    query, max_results: maxResults, expansions: "author_id", "tweet.fields": TWEET_FIELDS, "user.fields": USER_FIELDS,
  }
  if (sinceId !== null) params["since_id"] = sinceId
  if (nextToken !== undefined) params["next_token"] = nextToken
  return params
}

/** One pass over one query: every page newer than the saved since_id, or the rest of an unfinished pass. */
const pollQuery = <E, R>(client: XClient, query: string, options: SearchOptions<E, R>) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const key = searchStateKey(options.tenant, query)
    const decoded = decodeState(yield* store.get(key), query)
    if (decoded !== null && "unusable" in decoded) client.onStatus({ kind: "state_reset", query, reason: decoded.unusable })
    const saved = decoded === null || "unusable" in decoded ? null : decoded
    let sinceId = saved?.sinceId ?? null
    let nextToken = saved?.pending?.nextToken
    let newest = saved?.pending?.newestId ?? null
    const resumed = nextToken !== undefined
    let pages = 0
    let tweets = 0
    let deadLetters = 0
    let deadLettersRepeated = 0
    const refusedThisPass = new Set<string>()
    let stored = saved
    const save = (pending: SearchState["pending"]) =>
      Effect.gen(function* () {
        const state: SearchState = {
          version: 1, query, sinceId, pending, ...refusedAnswers(stored?.refusedAnswers ?? []),
          updatedAt: new Date(yield* Clock.currentTimeMillis).toISOString(),
        }
        yield* store.put(key, JSON.stringify(state))
        stored = state
      })
    const summary = (): QuerySummary => ({ query, pages, tweets, deadLetters, deadLettersRepeated, sinceId, resumed })
    const maxResults = Math.min(100, Math.max(10, Math.floor(options.maxResults ?? 100)))
    // The next_tokens of this pass, and the pages without tweets just before: for ending a pass that would never end.
    const tokensSeen = new Set<string>(nextToken === undefined ? [] : [nextToken])
    let emptyInARow = 0
    while (true) {
      const params = searchParams(query, maxResults, sinceId, nextToken)
      const result = yield* Effect.result(
        xRequest(client, ENDPOINT, (options) => client.v2.get<XPage>("tweets/search/recent", params, options), readSearchAnswer),
      )
      if (result._tag === "Failure") {
        const error = result.failure
        // A saved next_token can expire and a saved since_id can fall out of the 7-day window while we were stopped:
        // start the pass again without it rather than stop for good (what is fetched twice is dropped downstream).
        if (error instanceof XRequestRejected && error.status === 400) {
          if (nextToken !== undefined && /next_token|pagination/i.test(error.detail)) {
            nextToken = undefined
            newest = null
            continue
          }
          if (sinceId !== null && /since_id/i.test(error.detail)) {
            sinceId = null
            continue
          }
        }
        // An answer the edge's reader refuses outside its tweets, or whose bytes are not UTF-8, is kept as received, one
        // dead letter; its next_token cannot be trusted, so the pass stops there as for an answer too large to read.
        if (error instanceof XBadAnswer && error.refused !== undefined) {
          if (yield* deadLetterOnce(key, stored, query, error.refused, options)) deadLetters++
          else return { ...summary(), error: `${error.message} (the same answer as one refused whole on this query before, dead-lettered then)` } satisfies QuerySummary
        }
        // A refusal of this query, or an answer to it too large to read, is this query's (its state stays, so its next
        // pass asks again); a wrong token, a rate limit or an outage is every query's.
        if (error instanceof XRequestRejected || error instanceof XBadAnswer) return { ...summary(), error: error.message } satisfies QuerySummary
        return yield* Effect.fail(error)
      }
      const page = result.success.data
      const crowded = crowdedPage(page, maxResults * 10, `for a max_results of ${maxResults}`)
      if (crowded !== undefined) return { ...summary(), error: new XBadAnswer({ endpoint: ENDPOINT, detail: crowded }).message } satisfies QuerySummary
      const receivedAtMs = yield* Clock.currentTimeMillis
      const read = tweetsFromReadPage(page, result.success.problems, { tenant: options.tenant, receivedAtMs })
      const { kept: items, repeated } = newRefusals(read, refusedThisPass)
      deadLettersRepeated += repeated
      if (items.length > 0) yield* options.onItems(items)
      pages++
      for (const item of items) {
        if (item._tag === "event") tweets++
        else deadLetters++
      }
      client.onStatus({ kind: "page", query, tweets: items.length, resumed })
      newest = newerId(newest, pageNewestId(page, items))
      emptyInARow = read.length === 0 ? emptyInARow + 1 : 0
      const token = page.meta?.next_token
      if (typeof token === "string" && token !== "") {
        const endless = endlessPaging(token, tokensSeen, emptyInARow)
        if (endless !== undefined) {
          // Not kept as pending: the next pass starts over from since_id instead of walking into the loop at once.
          yield* save(null)
          const detail = client.redact(`${endless}; the pass stops and the next one starts over`)
          return { ...summary(), error: new XBadAnswer({ endpoint: ENDPOINT, detail }).message } satisfies QuerySummary
        }
        nextToken = token
        yield* save({ nextToken: token, newestId: newest })
        continue
      }
      sinceId = newerId(sinceId, newest)
      yield* save(null)
      return summary()
    }
  })

/**
 * One pass of recent search over every configured query, in order. Needs an ObjectStore for the state. Run it again
 * (e.g. `Effect.repeat(Schedule.spaced("1 minute"))`) to keep polling; each pass asks only for newer tweets.
 */
export const pollRecentSearch = <E, R>(
  config: XConfig,
  options: SearchOptions<E, R>,
): Effect.Effect<ReadonlyArray<QuerySummary>, XError | ObjectStoreError | E, ObjectStore | R> =>
  Effect.gen(function* () {
    const client = options.client ?? makeXClient(config, options)
    const summaries: Array<QuerySummary> = []
    for (const query of config.queries) summaries.push(yield* pollQuery(client, query, options))
    return summaries
  }).pipe(Effect.withSpan("pollRecentSearch"))
