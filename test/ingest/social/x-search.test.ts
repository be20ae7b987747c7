import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { ObjectStore } from "../../../ingest/objectstore.ts"
import { type ImportedItem } from "../../../ingest/sources/index.ts"
import { pollRecentSearch, type SearchOptions, searchStateKey, type XConfig, type XStatus } from "../../../ingest/social/index.ts"
import { loadDevPages, type Page, startXReplayServer, type XReplayServer } from "../../support/x-replay-server.ts"
import { SIGNALS_DEV } from "../../support/shared.ts"

const TRUTH_ITEMS = `${SIGNALS_DEV}truth/items.ndjson`
const QUERY = "lumenoutfitters OR \"lumen outfitters\" -is:retweet"
const FAST = { resetMarginMs: 50, backoffInitialMs: 20, backoffMaxMs: 100 }

const socialTruthIds = (): Array<string> =>
  readFileSync(TRUTH_ITEMS, "utf8").split("\n").filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { item_id: string; channel: string })
    .filter((i) => i.channel === "social").map((i) => i.item_id)

let server: XReplayServer
let dir: string

beforeEach(async () => {
  server = await startXReplayServer({ pages: loadDevPages() })
  dir = mkdtempSync(join(tmpdir(), "cdp-xsearch-"))
})
afterEach(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

const config = (over: Partial<XConfig> = {}): XConfig =>
  ({ bearerToken: server.bearerToken, queries: [QUERY], rules: [], apiBase: server.url, ...over })

/** One poller "process": a fresh client each time, the state only in the ObjectStore directory. */
const poll = (items: Array<ImportedItem>, over: Partial<SearchOptions<never, never>> = {}, cfg = config()) =>
  Effect.runPromise(pollRecentSearch(cfg, {
    tenant: "acme",
    policy: FAST,
    onItems: (batch) => Effect.sync(() => void items.push(...batch)),
    ...over,
  }).pipe(Effect.provide(ObjectStore.local(dir))))

const ids = (items: ReadonlyArray<ImportedItem>) => items.flatMap((i) => (i._tag === "event" ? [i.event.messageId] : []))

const newerPage = (n: number): Page => ({
  data: Array.from({ length: n }, (_, i) => ({
    id: String(1863400000000000000n + BigInt(i)),
    text: `@lumenoutfitters new tweet ${i}`,
    author_id: "77",
    created_at: "2024-12-02T10:00:00.000Z",
    conversation_id: String(1863400000000000000n + BigInt(i)),
    lang: "en",
    public_metrics: { retweet_count: 0, reply_count: 0, like_count: 0, quote_count: 0 },
    entities: { mentions: [{ start: 0, end: 16, username: "lumenoutfitters" }] },
  })),
  includes: { users: [{ id: "77", username: "newcomer", name: "New Comer" }] },
})

describe("X recent-search poller", () => {
  test("pages through every page of the dev set and yields every social item exactly once", async () => {
    const items: Array<ImportedItem> = []
    const [summary] = await poll(items)
    const searches = server.requestsTo("search")
    expect(searches).toHaveLength(6)
    expect(searches[0]!.query).toMatchObject({ query: QUERY, max_results: "100", expansions: "author_id" })
    expect(searches[0]!.query["tweet.fields"]).toContain("referenced_tweets")
    expect(searches[0]!.query["user.fields"]).toContain("public_metrics")
    expect(searches[0]!.query["next_token"]).toBeUndefined()
    expect(searches.slice(1).every((r) => r.query["next_token"] !== undefined)).toBe(true)
    const got = ids(items)
    expect(items.every((i) => i._tag === "event")).toBe(true)
    expect(new Set(got).size).toBe(got.length)
    expect(got.sort()).toEqual(socialTruthIds().sort())
    expect(summary).toMatchObject({ query: QUERY, pages: 6, tweets: 582, deadLetters: 0, sinceId: "1863338211923161795", resumed: false })
  })

  test("after a restart it asks only for tweets newer than the newest seen, and gets only those", async () => {
    await poll([])
    server.addPage(newerPage(3))
    const second: Array<ImportedItem> = []
    const before = server.requests.length
    const [summary] = await poll(second)
    const asked = server.requests.slice(before)
    expect(asked).toHaveLength(1)
    expect(asked[0]!.query["since_id"]).toBe("1863338211923161795")
    expect(ids(second).sort()).toEqual(["1863400000000000000", "1863400000000000001", "1863400000000000002"])
    expect(summary!.sinceId).toBe("1863400000000000002")
    const third: Array<ImportedItem> = []
    await poll(third)
    expect(third).toEqual([])
    expect(server.requests.at(-1)!.query["since_id"]).toBe("1863400000000000002")
  })

  test("a pass cut short resumes from the saved next_token; every item is handed over exactly once", async () => {
    const delivered: Array<ImportedItem> = []
    let pages = 0
    const failing = await Effect.runPromise(pollRecentSearch(config(), {
      tenant: "acme",
      policy: FAST,
      onItems: (batch) => ++pages === 3 ? Effect.fail("crash" as const) : Effect.sync(() => void delivered.push(...batch)),
    }).pipe(Effect.provide(ObjectStore.local(dir)), Effect.flip))
    expect(failing).toBe("crash")
    expect(ids(delivered)).toHaveLength(200)
    const before = server.requests.length
    const [summary] = await poll(delivered)
    expect(server.requests[before]!.query["next_token"]).toBeDefined()
    expect(summary).toMatchObject({ pages: 4, tweets: 382, resumed: true, sinceId: "1863338211923161795" })
    const got = ids(delivered)
    expect(new Set(got).size).toBe(582)
    expect(got).toHaveLength(582)
  })

  test("a saved next_token that X no longer accepts restarts the pass from the saved since_id", async () => {
    const stale = { version: 1, query: QUERY, sinceId: null, pending: { nextToken: "expired!", newestId: null }, updatedAt: "2024-12-01T00:00:00.000Z" }
    await Effect.runPromise(Effect.gen(function* () {
      yield* (yield* ObjectStore).put(searchStateKey("acme", QUERY), JSON.stringify(stale))
    })
      .pipe(Effect.provide(ObjectStore.local(dir))))
    const items: Array<ImportedItem> = []
    const [summary] = await poll(items)
    const searches = server.requestsTo("search")
    expect(searches.map((r) => [r.status, r.query["next_token"] === "expired!"])[0]).toEqual([400, true])
    expect(searches.slice(1).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200])
    expect(summary!.sinceId).toBe("1863338211923161795")
    expect(new Set(ids(items)).size).toBe(582)
  })

  test("the state is kept per tenant and query in the ObjectStore", async () => {
    await poll([], {}, config({ queries: [QUERY, "#lumenoutfitters"] }))
    const state = await Effect.runPromise(Effect.gen(function* () {
      const store = yield* ObjectStore
      return { keys: yield* store.list("connectors/x/acme/"), one: yield* store.get(searchStateKey("acme", QUERY)) }
    }).pipe(Effect.provide(ObjectStore.local(dir))))
    expect(state.keys).toHaveLength(2)
    expect(JSON.parse(new TextDecoder().decode(state.one))).toMatchObject({ version: 1, query: QUERY, sinceId: "1863338211923161795", pending: null })
  })

  test("a 429 waits until the announced reset, then succeeds, without hammering", async () => {
    const window = server.exhaust("search", 1)
    const statuses: Array<XStatus> = []
    const items: Array<ImportedItem> = []
    await poll(items, { onStatus: (s) => statuses.push(s) })
    const searches = server.requestsTo("search")
    expect(searches.map((r) => r.status)).toEqual([429, 200, 200, 200, 200, 200, 200])
    expect(searches[1]!.at).toBeGreaterThanOrEqual(window.resetSec * 1000)
    expect(statuses.filter((s) => s.kind === "rate_limit_wait")).toEqual([
      expect.objectContaining({ reason: "429", endpoint: "GET tweets/search/recent" }),
    ])
    expect(ids(items)).toHaveLength(582)
  })

  test("a spent window (remaining 0) is waited out before the next request: no 429 at all", async () => {
    await server.close()
    server = await startXReplayServer({ pages: loadDevPages(), rateLimit: { limit: 4, windowSeconds: 1 } })
    const statuses: Array<XStatus> = []
    const items: Array<ImportedItem> = []
    await poll(items, { onStatus: (s) => statuses.push(s) })
    expect(server.requestsTo("search").map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200])
    expect(statuses.some((s) => s.kind === "rate_limit_wait" && s.reason === "exhausted")).toBe(true)
    expect(ids(items)).toHaveLength(582)
  })

  test("a 401 fails with XUnauthorized at once, without retrying", async () => {
    const error = await Effect.runPromise(pollRecentSearch(config({ bearerToken: "wrong" }), {
      tenant: "acme",
      policy: FAST,
      onItems: () => Effect.void,
    }).pipe(Effect.provide(ObjectStore.local(dir)), Effect.flip))
    expect(error._tag).toBe("XUnauthorized")
    expect(error.message).toMatch(/bearer token/)
    expect(server.requests).toHaveLength(1)
    expect(server.requests[0]!.status).toBe(401)
  })

  test("a transient 503 is retried with backoff", async () => {
    server.failNext("search", 503)
    const items: Array<ImportedItem> = []
    await poll(items)
    expect(server.requestsTo("search").map((r) => r.status).slice(0, 2)).toEqual([503, 200])
    expect(ids(items)).toHaveLength(582)
  })
})
