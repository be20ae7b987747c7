// The authors X sends beside their tweets (includes.users), through the real path: the replay server answering as X
// does, the twitter-api-v2 client, the search poller and the filtered stream. A user object cdp cannot keep is never
// dropped without a word: it is a dead letter of its own naming the field, and its tweets land linked by author_id.
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { readJson } from "../../../ingest/json.ts"
import type { DeadLetter } from "../../../ingest/message.ts"
import { ObjectStore } from "../../../ingest/objectstore.ts"
import type { ImportedItem } from "../../../ingest/sources/index.ts"
import { tweetsFromPage } from "../../../ingest/sources/twitter.ts"
import { loadXConfig, pollRecentSearch, runFilteredStream, searchStateKey, type XConfig, type XStatus } from "../../../ingest/social/index.ts"
import { listen } from "../../support/local-server.ts"
import { type Page, startXReplayServer, type Tweet, type User, type XReplayServer } from "../../support/x-replay-server.ts"

let server: XReplayServer | undefined
let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cdp-xusers-"))
})
afterEach(async () => {
  await server?.close()
  server = undefined
  rmSync(dir, { recursive: true, force: true })
})

const QUERY = "lumenoutfitters"
const tweet = (id: string, authorId = "77"): Tweet =>
  ({ id, text: `@lumenoutfitters tweet ${id}`, author_id: authorId, created_at: "2024-12-02T10:00:00.000Z", lang: "en" })
const pageOf = (tweets: ReadonlyArray<Tweet>, users: ReadonlyArray<User>): Page => ({ data: tweets, includes: { users } })

const config = (s: XReplayServer, over: Partial<XConfig> = {}): XConfig =>
  ({ bearerToken: s.bearerToken, queries: [QUERY], rules: [], apiBase: s.url, ...over })

/**
 * One search pass against the replay server serving `pages` (its users in `suspended` left out, with X's partial error
 * instead), `maxResults` tweets a page: what it handed over and its summary.
 */
const search = async (pages: ReadonlyArray<Page>, { maxResults = 100, suspended = [] as ReadonlyArray<string> } = {}) => {
  server = await startXReplayServer({ pages })
  for (const id of suspended) server.suspend(id)
  const items: Array<ImportedItem> = []
  const [summary] = await Effect.runPromise(pollRecentSearch(config(server), {
    tenant: "acme",
    maxResults,
    policy: { resetMarginMs: 10, backoffInitialMs: 10, backoffMaxMs: 20 },
    onItems: (batch) => Effect.sync(() => void items.push(...batch)),
  }).pipe(Effect.provide(ObjectStore.local(dir))))
  return { items, summary: summary! }
}

const waitFor = async (what: string, done: () => boolean, withinMs = 5_000) => {
  const until = Date.now() + withinMs
  while (!done()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * The filtered stream against the replay server with `rules`: once connected, `feed` writes to the server, and the
 * stream runs until `count` items came (`what` names them in a timeout); the server and the items.
 */
const streamFed = async (
  rules: XConfig["rules"], feed: (s: XReplayServer) => void, count: number, what: string, onStatus?: (status: XStatus) => void,
) => {
  const s = (server = await startXReplayServer())
  const items: Array<ImportedItem> = []
  const fiber = Effect.runFork(runFilteredStream(config(s, { queries: [], rules }), {
    tenant: "acme", reconnect: { initialMs: 20, maxMs: 40 }, ...(onStatus === undefined ? {} : { onStatus }),
    onItems: (batch) => Effect.sync(() => void items.push(...batch)),
  }))
  await waitFor("the stream connection", () => s.openStreams === 1)
  feed(s)
  await waitFor(what, () => items.length >= count)
  await Effect.runPromise(Fiber.interrupt(fiber))
  return { s, items }
}

/** The filtered stream against the replay server: each tweet pushed with its author, until `count` items came. */
const stream = async (pushed: ReadonlyArray<readonly [Tweet, User]>, count: number) =>
  (await streamFed([{ value: QUERY, tag: "brand" }], (s) => { for (const [t, u] of pushed) s.push(t, u) }, count, `${count} items`)).items

const eventsOf = (items: ReadonlyArray<ImportedItem>) => items.flatMap((i) => (i._tag === "event" ? [i.event] : []))
const deadLettersOf = (items: ReadonlyArray<ImportedItem>): Array<DeadLetter> =>
  items.flatMap((i) => (i._tag === "deadLetter" ? [i.deadLetter] : []))

/** One search pass of QUERY against a server answering every request with `body`: what it handed on and its summary. */
const searchPassAnswered = async (body: string) => {
  const started = await listen((_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end(body))
  try {
    const items: Array<ImportedItem> = []
    const [summary] = await Effect.runPromise(pollRecentSearch({ bearerToken: "t", queries: [QUERY], rules: [], apiBase: started.url }, {
      tenant: "acme", onItems: (batch) => Effect.sync(() => void items.push(...batch)),
    }).pipe(Effect.provide(ObjectStore.local(dir))))
    return { items, summary: summary! }
  } finally {
    started.server.closeAllConnections()
    started.server.close()
  }
}

describe("X users the schema refuses", () => {
  test("search: a user with an empty username is a dead letter naming the field; its tweet lands by author_id, the other author's with its handle", async () => {
    const { items, summary } = await search([pageOf(
      [tweet("1863400000000000002", "77"), tweet("1863400000000000001", "88")],
      [{ id: "77", username: "", name: "No Handle" }, { id: "88", username: "good_one", name: "Good One" }],
    )])
    const events = eventsOf(items)
    expect(events.map((e) => e.messageId).sort()).toEqual(["1863400000000000001", "1863400000000000002"])
    const byId = new Map(events.map((e) => [e.messageId, e]))
    expect(byId.get("1863400000000000002")!.identifiers).toEqual([{ kind: "twitter_id", value: "77" }])
    expect(byId.get("1863400000000000001")!.identifiers).toEqual([{ kind: "twitter_id", value: "88" }, { kind: "twitter_handle", value: "good_one" }])
    const [refused, ...more] = deadLettersOf(items)
    expect(more).toEqual([])
    expect(refused!.rejection).toMatchObject({ rule: "empty_field", field: "/includes/users/0/username" })
    expect(refused!.rejection.message).toMatch(/the user "77" of includes.users: username must not be empty; its tweets land without its handle/)
    // The user object is kept as X sent it, in a page that parses alone.
    expect(JSON.parse(refused!.payload)).toEqual({ includes: { users: [{ id: "77", username: "", name: "No Handle" }] }, meta: { result_count: 0 } })
    expect(summary).toMatchObject({ tweets: 2, deadLetters: 1 })
  })

  test("stream: a user that is not an object is a dead letter naming includes/users/0; the tweet lands", async () => {
    const items = await stream([[tweet("1863400000000000003"), "not a user" as unknown as User]], 2)
    expect(eventsOf(items).map((e) => [e.messageId, e.identifiers])).toEqual([["1863400000000000003", [{ kind: "twitter_id", value: "77" }]]])
    expect(deadLettersOf(items).map((d) => d.rejection)).toMatchObject([{ rule: "not_object", field: "/includes/users/0" }])
  })

  test("a refused user's dead letter is refused again for the same reason when read again (a dead-letter retry)", () => {
    const ctx = { tenant: "acme", receivedAtMs: Date.UTC(2024, 11, 2) }
    const [first] = deadLettersOf(tweetsFromPage(pageOf([tweet("1863400000000000004")], [{ id: "77", username: "" }]), ctx))
    const again = tweetsFromPage(JSON.parse(first!.payload), ctx)
    expect(again.map((i) => i._tag === "deadLetter" && i.deadLetter.rejection)).toEqual([first!.rejection])
  })
})

describe("X users past the bounds every source keeps", () => {
  const cases: ReadonlyArray<readonly [string, Partial<User>, string, string]> = [
    ["a 1,000,000-character name", { name: "n".repeat(1_000_000) }, "too_long", "/includes/users/0/name"],
    ["a 1,000,000-character description", { description: "d".repeat(1_000_000) }, "too_long", "/includes/users/0/description"],
    ["a 257-character username", { username: "u".repeat(257) }, "too_long", "/includes/users/0/username"],
    ["a negative followers_count", { public_metrics: { followers_count: -1 } }, "out_of_range", "/includes/users/0/public_metrics/followers_count"],
    ["a followers_count past 2^53", { public_metrics: { followers_count: 2 ** 53 } }, "out_of_range", "/includes/users/0/public_metrics/followers_count"],
  ]
  for (const [what, over, rule, field] of cases) {
    test(`search: a user with ${what} is a dead letter (${rule}) naming ${field}; its tweet lands without its handle and profile`, async () => {
      const { items } = await search([pageOf([tweet("1863400000000000005")], [{ id: "77", username: "long_one", ...over }])])
      expect(eventsOf(items).map((e) => [e.messageId, e.identifiers, e.traits])).toEqual([["1863400000000000005", [{ kind: "twitter_id", value: "77" }], {}]])
      expect(deadLettersOf(items).map((d) => d.rejection)).toMatchObject([{ rule, field }])
    })
  }

  test("stream: a user with a 1,000,000-character description is a dead letter naming it; the tweet lands", async () => {
    const items = await stream([[tweet("1863400000000000006"), { id: "77", username: "bio", description: "d".repeat(1_000_000) }]], 2)
    expect(eventsOf(items).map((e) => [e.messageId, e.properties["author_description"]])).toEqual([["1863400000000000006", undefined]])
    const [refused] = deadLettersOf(items)
    expect(refused!.rejection).toMatchObject({ rule: "too_long", field: "/includes/users/0/description" })
    expect(refused!.rejection.message).toMatch(/description is longer than 100000 characters/)
  })

  test("a user at the bounds (a 1,024-character name, a 256-character username, 100,000 of description) lands whole", async () => {
    const user = { id: "77", username: "u".repeat(256), name: "n".repeat(1024), description: "d".repeat(100_000), public_metrics: { followers_count: 2 ** 53 - 1 } }
    const { items } = await search([pageOf([tweet("1863400000000000007")], [user])])
    expect(deadLettersOf(items)).toEqual([])
    const [event] = eventsOf(items)
    expect(event!.traits).toEqual({ name: user.name, username: user.username })
    expect(event!.properties).toMatchObject({ author_description: user.description, author_followers: 2 ** 53 - 1 })
  })
})

describe("X tweet fields past the bounds every source keeps", () => {
  const long = (n: number) => "x".repeat(n)
  const cases: ReadonlyArray<readonly [string, Partial<Tweet>, string, string]> = [
    ["a conversation_id that is not digits", { conversation_id: long(1_000_000) }, "bad_format", "/data/0/conversation_id"],
    ["an in_reply_to_user_id that is not digits", { in_reply_to_user_id: "abc" }, "bad_format", "/data/0/in_reply_to_user_id"],
    ["a referenced tweet whose id is not digits", { referenced_tweets: [{ type: "quoted", id: "../x" }] }, "bad_format", "/data/0/referenced_tweets/0/id"],
    ["a 1,000,000-character lang", { lang: long(1_000_000) }, "too_long", "/data/0/lang"],
    ["a negative like_count", { public_metrics: { like_count: -5 } }, "out_of_range", "/data/0/public_metrics/like_count"],
    ["a retweet_count of 1e300", { public_metrics: { retweet_count: 1e300 } }, "out_of_range", "/data/0/public_metrics/retweet_count"],
    ["a 1,000,000-character hashtag", { entities: { hashtags: [{ tag: long(1_000_000) }] } }, "too_long", "/data/0/entities/hashtags/0/tag"],
    ["a 257-character mentioned username", { entities: { mentions: [{ username: long(257) }] } }, "too_long", "/data/0/entities/mentions/0/username"],
    ["a mention whose id is not digits", { entities: { mentions: [{ username: "ok", id: "x1" }] } }, "bad_format", "/data/0/entities/mentions/0/id"],
    ["a 8,193-character url", { entities: { urls: [{ url: "https://t.co/a", expanded_url: `https://x.example/${long(8200)}` }] } }, "too_long", "/data/0/entities/urls/0/expanded_url"],
    ["public_metrics of 101 counts", { public_metrics: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`count_${i}`, 1])) }, "too_many_keys", "/data/0/public_metrics"],
    ["10,001 hashtags", { entities: { hashtags: Array.from({ length: 10_001 }, () => ({ tag: "a" })) } }, "too_many_items", "/data/0/entities/hashtags"],
    ["10,001 mentions", { entities: { mentions: Array.from({ length: 10_001 }, () => ({ username: "a" })) } }, "too_many_items", "/data/0/entities/mentions"],
    ["10,001 urls", { entities: { urls: Array.from({ length: 10_001 }, () => ({ url: "https://t.co/a" })) } }, "too_many_items", "/data/0/entities/urls"],
    ["10,001 referenced tweets", { referenced_tweets: Array.from({ length: 10_001 }, () => ({ type: "quoted", id: "1" })) }, "too_many_items", "/data/0/referenced_tweets"],
  ]
  for (const [what, over, rule, field] of cases) {
    test(`search: a tweet with ${what} is a dead letter (${rule}) naming ${field}; the page's other tweet lands`, async () => {
      const { items } = await search([pageOf([{ ...tweet("1863400000000000009"), ...over } as Tweet, tweet("1863400000000000008")], [{ id: "77", username: "someone" }])])
      expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000008"])
      expect(deadLettersOf(items).map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([["1863400000000000009", rule, field]])
    })
  }

  test("stream: a matching rule whose tag is 1,000,000 characters refuses the event whole, the tweet kept in its dead letter", async () => {
    const { items } = await streamFed([{ value: QUERY, tag: long(1_000_000) }],
      (s) => s.push(tweet("1863400000000000010"), { id: "77", username: "someone" }), 1, "an item")
    expect(eventsOf(items)).toEqual([])
    const [refused] = deadLettersOf(items)
    expect(refused!.rejection).toMatchObject({ rule: "too_long", field: "/matching_rules/0/tag" })
    expect(JSON.parse(refused!.payload).data.id).toBe("1863400000000000010")
  })
})

describe("the same refusal on several pages of a pass", () => {
  const tweets = (n: number, authorId: string) => Array.from({ length: n }, (_, i) => tweet(String(1863400000000000500n + BigInt(i)), authorId))

  test("search: a user the schema refuses on three pages of a pass is one dead letter; the two repeats are counted, and every tweet lands", async () => {
    const { items, summary } = await search([pageOf(tweets(25, "77"), [{ id: "77", username: "" }])], { maxResults: 10 })
    expect(summary.pages).toBe(3)
    expect(eventsOf(items)).toHaveLength(25)
    expect(deadLettersOf(items).map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["empty_field", "/includes/users/0/username"]])
    expect(summary).toMatchObject({ tweets: 25, deadLetters: 1, deadLettersRepeated: 2 })
  })

  test("search: X's partial error for the same author on three pages of a pass is one dead letter; the two repeats are counted", async () => {
    const { items, summary } = await search([pageOf(tweets(25, "77"), [])], { maxResults: 10, suspended: ["77"] })
    expect(summary.pages).toBe(3)
    expect(eventsOf(items)).toHaveLength(25)
    expect(deadLettersOf(items).map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["api_error", "/errors/0"]])
    expect(summary).toMatchObject({ tweets: 25, deadLetters: 1, deadLettersRepeated: 2 })
  })

  test("search: another refused user on a later page of the pass is a dead letter of its own", async () => {
    server = await startXReplayServer({ pages: [pageOf(tweets(15, "77"), [{ id: "77", username: "" }])] })
    // The first page holds 88's two tweets (the newest) and eight of 77's; the second, 77's other seven.
    server.addPage(pageOf([tweet("1863400000000000600", "88"), tweet("1863400000000000601", "88")], [{ id: "88", username: "" }]))
    const items: Array<ImportedItem> = []
    const [summary] = await Effect.runPromise(pollRecentSearch(config(server), {
      tenant: "acme", maxResults: 10, onItems: (batch) => Effect.sync(() => void items.push(...batch)),
    }).pipe(Effect.provide(ObjectStore.local(dir))))
    expect(summary!.pages).toBe(2)
    expect(deadLettersOf(items).map((d) => JSON.parse(d.payload).includes.users[0].id).sort()).toEqual(["77", "88"])
    expect(summary).toMatchObject({ tweets: 17, deadLetters: 2, deadLettersRepeated: 1 })
  })
})

describe("X's partial errors beside data", () => {
  test("search: an author X no longer returns (suspended) is a dead letter of X's partial error naming the user and X's words; every tweet lands, theirs by author_id", async () => {
    const { items, summary } = await search([pageOf(
      [tweet("1863400000000000702", "77"), tweet("1863400000000000701", "88")], [{ id: "77", username: "gone" }, { id: "88", username: "good_one" }],
    )], { suspended: ["77"] })
    const byId = new Map(eventsOf(items).map((e) => [e.messageId, e.identifiers]))
    expect(byId).toEqual(new Map([
      ["1863400000000000702", [{ kind: "twitter_id", value: "77" }]],
      ["1863400000000000701", [{ kind: "twitter_id", value: "88" }, { kind: "twitter_handle", value: "good_one" }]],
    ]))
    const [partial, ...more] = deadLettersOf(items)
    expect(more).toEqual([])
    expect(partial!.rejection).toMatchObject({ rule: "api_error", field: "/errors/0" })
    expect(partial!.rejection.message).toBe(`X could not return the user "77" (Forbidden: User has been suspended: [77].); the page's other items land without it`)
    expect(JSON.parse(partial!.payload)).toEqual({ errors: [expect.objectContaining({ resource_type: "user", resource_id: "77", title: "Forbidden" })] })
    expect(summary).toMatchObject({ tweets: 2, deadLetters: 1 })
  })

  test("stream: a tweet whose author X no longer returns lands by author_id, and X's partial error is a dead letter naming the user", async () => {
    const { items } = await streamFed([{ value: QUERY }], (s) => {
      s.suspend("77")
      s.push(tweet("1863400000000000703", "77"))
    }, 2, "the tweet and the partial error")
    expect(eventsOf(items).map((e) => [e.messageId, e.identifiers])).toEqual([["1863400000000000703", [{ kind: "twitter_id", value: "77" }]]])
    expect(deadLettersOf(items).map((d) => [d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["api_error", "/errors/0", expect.stringMatching(/^X could not return the user "77" \(Forbidden: User has been suspended/)],
    ])
  })

  test("a partial error's words are bounded: a 1,000,000-character detail or id is cut in the reason, kept whole in the payload", () => {
    const ctx = { tenant: "acme", receivedAtMs: Date.UTC(2024, 11, 2) }
    const error = { resource_type: "user", resource_id: "7".repeat(1_000_000), title: "Forbidden", detail: "d".repeat(1_000_000) }
    const items = tweetsFromPage({ data: [tweet("1863400000000000704")], errors: [error, "not an object"] }, ctx)
    expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000704"])
    const refused = deadLettersOf(items)
    expect(refused.map((d) => d.rejection.field)).toEqual(["/errors/0", "/errors/1"])
    expect(refused[0]!.rejection.message.length).toBeLessThan(500)
    expect(JSON.parse(refused[0]!.payload)).toEqual({ errors: [error] })
    expect(refused[1]!.rejection.message).toMatch(/^X could not return something \("not an object"\)/)
  })

  test("a partial error's dead letter is refused again by the same rule when read again (a dead-letter retry)", () => {
    const ctx = { tenant: "acme", receivedAtMs: Date.UTC(2024, 11, 2) }
    const error = { resource_type: "user", resource_id: "77", title: "Forbidden", detail: "User has been suspended: [77]." }
    const [first] = deadLettersOf(tweetsFromPage({ data: [tweet("1863400000000000705")], errors: [error] }, ctx))
    const [again, ...more] = deadLettersOf(tweetsFromPage(JSON.parse(first!.payload), ctx))
    expect(more).toEqual([])
    expect(again!.rejection.rule).toBe(first!.rejection.rule)
    expect(again!.rejection.message).toContain(`X could not return the user "77" (Forbidden: User has been suspended: [77].)`)
  })

  test("search: a page holding more errors than ten times max_results is refused as crowded, not turned into a dead letter each", async () => {
    const body = JSON.stringify({ data: [tweet("1863400000000000706")], errors: Array.from({ length: 100_000 }, () => ({ title: "x" })), meta: { result_count: 1 } })
    const { items, summary } = await searchPassAnswered(body)
    expect(items.length).toBe(0)
    expect(summary.error).toMatch(/100000 errors.*max_results of 100/)
  })
})

describe("X settings and the bounds", () => {
  test("a CDP_X_RULES tag longer than a name may be (1,024) is refused at start naming the rule, not every event of the stream later", async () => {
    const env = { CDP_X_BEARER_TOKEN: "token", CDP_X_RULES: JSON.stringify([{ value: "a", tag: "ok" }, { value: "b", tag: "t".repeat(1025) }]) }
    const result = await Effect.runPromise(Effect.result(loadXConfig(env)))
    expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XConfigInvalid", variable: "CDP_X_RULES", reason: "rule 1: tag may be at most 1024 characters" })
    const fine = { ...env, CDP_X_RULES: JSON.stringify([{ value: "b", tag: "t".repeat(1024) }]) }
    expect((await Effect.runPromise(Effect.result(loadXConfig(fine))))._tag).toBe("Success")
  })
})

describe("X values nested too deep for the warehouse", () => {
  const deep = (levels: number) => `${"[".repeat(levels)}1${"]".repeat(levels)}`
  const tweetText = (id: string, extra: string) =>
    `{"id":"${id}","text":"a","author_id":"77","created_at":"2024-12-02T10:00:00.000Z","extra":${extra}}`

  test("stream: a line holding a value nested 100,000 deep is a dead letter (too_deep) kept as received; the stream and the next tweet go on", async () => {
    const line = `{"data":${tweetText("1863400000000000011", deep(100_000))},"includes":{"users":[{"id":"77","username":"u","extra":${deep(100_000)}}]}}`
    const { s, items } = await streamFed([{ value: QUERY }], (s) => {
      s.pushLine(line)
      s.push(tweet("1863400000000000012"), { id: "77", username: "u" })
    }, 2, "two items")
    expect(s.streamConnects).toBe(1)
    expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000012"])
    const refused = deadLettersOf(items)
    expect(refused.map((d) => [d.rejection.rule, d.rejection.field.slice(0, 24)])).toEqual([["too_deep", "/data/extra/0/0/0/0/0/0/"]])
    expect(refused[0]!.rejection.message).toMatch(/nested more than 100 levels deep/)
    expect(refused[0]!.payload).toBe(line)
  })

  const deepPage = (levels: number) => `{"data":[${tweetText("1863400000000000014", deep(levels))},${JSON.stringify(tweet("1863400000000000013"))}],` +
    `"includes":{"users":[{"id":"77","username":"u"},{"id":"88","username":"v","extra":${deep(levels)}}]},"meta":{"result_count":2,"newest_id":"1863400000000000014"}}`

  test("search: a page with a tweet nested 5,000 deep lands its other tweet and dead-letters that one, kept as received; the pass ends, not dies", async () => {
    const body = deepPage(5_000)
    const started = await listen((_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end(body))
    try {
      const items: Array<ImportedItem> = []
      const result = await Effect.runPromise(Effect.exit(pollRecentSearch({ bearerToken: "t", queries: [QUERY], rules: [], apiBase: started.url }, {
        tenant: "acme", onItems: (batch) => Effect.sync(() => void items.push(...batch)),
      }).pipe(Effect.provide(ObjectStore.local(dir)))))
      expect(result._tag).toBe("Success")
      expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000013"])
      const refused = deadLettersOf(items)
      expect(refused.map((d) => [d.messageId, d.rejection.rule, d.rejection.field.slice(0, 24)])).toEqual([
        ["", "too_deep", "/includes/users/1/extra/"], ["1863400000000000014", "too_deep", "/data/0/extra/0/0/0/0/0/"],
      ])
      // Kept as received: the payload holds the 5,000 levels, and reads as refused again.
      expect(refused[1]!.payload).toBe(tweetText("1863400000000000014", deep(5_000)))
      expect(readJson(refused[1]!.payload)).toMatchObject({ _tag: "refused", rejection: { rule: "too_deep" } })
    } finally {
      started.server.closeAllConnections()
      started.server.close()
    }
  })

  test("search: an answer nested 100,000 deep (past the 10,000 levels the edge's reader reads at all) is one dead letter kept as received; the pass ends, not dies", async () => {
    const body = deepPage(100_000)
    const started = await listen((_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end(body))
    try {
      const items: Array<ImportedItem> = []
      const [summary] = await Effect.runPromise(pollRecentSearch({ bearerToken: "bearer-token-of-the-test", queries: [QUERY], rules: [], apiBase: started.url }, {
        tenant: "acme", onItems: (batch) => Effect.sync(() => void items.push(...batch)),
      }).pipe(Effect.provide(ObjectStore.local(dir))))
      expect(eventsOf(items)).toEqual([])
      const refused = deadLettersOf(items)
      expect(refused.map((d) => [d.rejection.rule, d.rejection.field.slice(0, 24), d.payload === body])).toEqual([["too_deep", "/data/0/extra/0/0/0/0/0/", true]])
      expect(summary!.error).toMatch(/too deep to read at all/)
    } finally {
      started.server.closeAllConnections()
      started.server.close()
    }
  })

  test("a tweet nested exactly to the limit lands; one level more is refused, as a file's page would be", () => {
    const ctx = { tenant: "acme", receivedAtMs: Date.UTC(2024, 11, 2) }
    // The page {"data":[tweet]}: two levels, the tweet's object a third, extra's arrays the rest.
    const at = (levels: number) => tweetsFromPage(JSON.parse(`{"data":[${tweetText("1863400000000000015", deep(levels))}]}`), ctx)
    expect(at(97).map((i) => i._tag)).toEqual(["event"])
    const refused = at(98)
    expect(refused.map((i) => i._tag === "deadLetter" && i.deadLetter.rejection.rule)).toEqual(["too_deep"])
    const payload = refused[0]!._tag === "deadLetter" ? refused[0]!.deadLetter.payload : ""
    expect(readJson(payload)).toMatchObject({ _tag: "refused", rejection: { rule: "too_deep" } })
  })
})

describe("an author's fields copied into each of their tweets", () => {
  test("search: a page of 100 tweets by an author with a 1,000,000-character field cdp does not read keeps it in no tweet's raw item, not 100 times", async () => {
    const tweets = Array.from({ length: 100 }, (_, i) => tweet(String(1863400000000000100n + BigInt(i))))
    const author = { id: "77", username: "loud", name: "Loud", description: "bio", public_metrics: { followers_count: 5 }, location: "l".repeat(1_000_000) }
    const { items } = await search([pageOf(tweets, [author])])
    const events = eventsOf(items)
    expect(events).toHaveLength(100)
    const rawChars = events.reduce((sum, e) => sum + (e.raw as { body: string }).body.length, 0)
    expect(rawChars).toBeLessThan(100 * 1_000)
    // What the mapping reads of the author is all kept: the raw item maps again to the same event.
    const raw = JSON.parse((events[0]!.raw as { body: string }).body) as { includes: { users: Array<unknown> } }
    expect(raw.includes.users).toEqual([{ id: "77", username: "loud", name: "Loud", description: "bio", public_metrics: { followers_count: 5 } }])
    const [again] = eventsOf(tweetsFromPage(raw, { tenant: "acme", receivedAtMs: Date.parse(events[0]!.receivedAt) }))
    expect([again!.traits, again!.identifiers, again!.properties]).toEqual([events[0]!.traits, events[0]!.identifiers, events[0]!.properties])
  })
})

describe("stream lines read by the edge's JSON reader", () => {
  test("stream: a line with half a surrogate pair, a key named twice or a count past 2^53 is a dead letter naming the rule, kept as received; the next tweet lands", async () => {
    const lines = [
      `{"data":{"id":"1863400000000000020","text":"half \\ud83d of an emoji","author_id":"77","created_at":"2024-12-02T10:00:00.000Z"}}`,
      `{"data":{"id":"1863400000000000021","id":"1863400000000000022","text":"twice","author_id":"77","created_at":"2024-12-02T10:00:00.000Z"}}`,
      `{"data":{"id":"1863400000000000023","text":"big","author_id":"77","created_at":"2024-12-02T10:00:00.000Z","public_metrics":{"like_count":9007199254740993}}}`,
    ]
    const { items } = await streamFed([{ value: QUERY }], (s) => {
      for (const line of lines) s.pushLine(line)
      s.push(tweet("1863400000000000024"), { id: "77", username: "u" })
    }, 4, "four items")
    expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000024"])
    const refused = deadLettersOf(items)
    expect(refused.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([
      ["lone_surrogate", "/data/text"], ["duplicate_key", "/data/id"], ["integer_too_large", "/data/public_metrics/like_count"],
    ])
    expect(refused.map((d) => d.payload)).toEqual(lines)
  })
})

describe("search answers, read by the edge's JSON reader as the stream's lines are", () => {
  test("search: half a surrogate pair in a tweet's text or a user's name is a dead letter (lone_surrogate) naming it, as the edge's reader refuses it; the other tweet lands", async () => {
    const body = `{"data":[{"id":"1863400000000000031","text":"half \\ud83d of an emoji","author_id":"77","created_at":"2024-12-02T10:00:00.000Z"},` +
      `${JSON.stringify(tweet("1863400000000000030", "88"))}],` +
      `"includes":{"users":[{"id":"77","username":"u"},{"id":"88","username":"v","name":"cut \\udc00"}]},"meta":{"result_count":2}}`
    const started = await listen((_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end(body))
    try {
      const items: Array<ImportedItem> = []
      await Effect.runPromise(pollRecentSearch({ bearerToken: "t", queries: [QUERY], rules: [], apiBase: started.url }, {
        tenant: "acme", onItems: (batch) => Effect.sync(() => void items.push(...batch)),
      }).pipe(Effect.provide(ObjectStore.local(dir))))
      expect(eventsOf(items).map((e) => [e.messageId, e.identifiers])).toEqual([["1863400000000000030", [{ kind: "twitter_id", value: "88" }]]])
      const refused = deadLettersOf(items)
      expect(refused.map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([
        ["", "lone_surrogate", "/includes/users/1/name"], ["1863400000000000031", "lone_surrogate", "/data/0/text"],
      ])
      expect(refused[1]!.rejection.message).toMatch(/\\ud83d, half of a UTF-16 surrogate pair/)
    } finally {
      started.server.closeAllConnections()
      started.server.close()
    }
  })
})

describe("what a page holds once and each tweet's raw item would copy", () => {
  test("search: a page of 100 tweets carrying 20,000 matching rules (only a stream event, of one tweet, has them) is one dead letter kept once, not copied into 100 raw items", async () => {
    const tweets = Array.from({ length: 100 }, (_, i) => tweet(String(1863400000000000200n + BigInt(i))))
    const rules = Array.from({ length: 20_000 }, (_, i) => ({ id: String(1_800_000_000_000_000_000n + BigInt(i)), tag: `tag ${"t".repeat(40)} ${i}` }))
    const body = JSON.stringify({ data: tweets, includes: { users: [{ id: "77", username: "u" }] }, matching_rules: rules, meta: { result_count: 100 } })
    const started = await listen((_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end(body))
    try {
      const items: Array<ImportedItem> = []
      await Effect.runPromise(pollRecentSearch({ bearerToken: "t", queries: [QUERY], rules: [], apiBase: started.url }, {
        tenant: "acme", onItems: (batch) => Effect.sync(() => void items.push(...batch)),
      }).pipe(Effect.provide(ObjectStore.local(dir))))
      const kept = items.reduce((sum, i) => sum + (i._tag === "event" ? (i.event.raw as { body: string }).body.length : i.deadLetter.payload.length), 0)
      expect(kept).toBeLessThan(2 * body.length)
      expect(eventsOf(items)).toEqual([])
      const refused = deadLettersOf(items)
      expect(refused.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["not_x_page", "/matching_rules"]])
      expect(refused[0]!.rejection.message).toMatch(/matching_rules come with one filtered-stream event/)
      expect(JSON.parse(refused[0]!.payload)).toEqual(JSON.parse(body))
    } finally {
      started.server.closeAllConnections()
      started.server.close()
    }
  })
})

describe("pages holding far more users than X sends", () => {
  test("search: a page of one tweet and 100,000 users (X sends at most one author a tweet) is refused, not turned into 100,000 dead letters", async () => {
    const body = JSON.stringify({ data: [tweet("1863400000000000300")], includes: { users: Array.from({ length: 100_000 }, () => 1) }, meta: { result_count: 1 } })
    const { items, summary } = await searchPassAnswered(body)
    expect(items.length).toBe(0)
    expect(summary.error).toMatch(/100000 users.*max_results of 100/)
  })

  test("stream: an event of one tweet and 50,000 users is counted as unreadable, not turned into 50,000 dead letters", async () => {
    const statuses: Array<XStatus> = []
    const { items } = await streamFed([{ value: QUERY }], (s) => {
      s.pushLine(JSON.stringify({ data: tweet("1863400000000000301"), includes: { users: Array.from({ length: 50_000 }, () => 1) } }))
      s.push(tweet("1863400000000000302"), { id: "77", username: "u" })
    }, 1, "the next tweet", (x) => statuses.push(x))
    expect(items.map((i) => i._tag === "event" ? i.event.messageId : i.deadLetter.rejection.rule)).toEqual(["1863400000000000302"])
    expect(statuses.find((x) => x.kind === "unreadable_lines")).toMatchObject({ reason: expect.stringMatching(/50000 users/) })
  })
})

describe("search answers read by the edge's JSON reader", () => {
  /** One search pass against a local server answering `bodies` in turn (the last one again): items, summary, requests. */
  const searchBodies = async (bodies: ReadonlyArray<string | Buffer>) => {
    const asked: Array<string> = []
    const started = await listen((req, res) => {
      asked.push(new URL(req.url ?? "", "http://x").searchParams.get("next_token") ?? "")
      res.writeHead(200, { "content-type": "application/json" }).end(bodies[Math.min(asked.length, bodies.length) - 1])
    })
    try {
      const items: Array<ImportedItem> = []
      const [summary] = await Effect.runPromise(pollRecentSearch({ bearerToken: "bearer-token-of-the-test", queries: [QUERY], rules: [], apiBase: started.url }, {
        tenant: "acme", policy: { backoffInitialMs: 10, backoffMaxMs: 20 }, onItems: (batch) => Effect.sync(() => void items.push(...batch)),
      }).pipe(Effect.provide(ObjectStore.local(dir))))
      return { items, summary: summary!, asked }
    } finally {
      started.server.closeAllConnections()
      started.server.close()
    }
  }
  const tweetJson = (id: string, extra = "") =>
    `{"id":"${id}","text":"a","author_id":"77","created_at":"2024-12-02T10:00:00.000Z"${extra}}`

  test("search: a tweet holding an object of 850,000 names (a 10 MB answer) is a dead letter (too_many_keys) kept as received, never built; the other tweet lands", async () => {
    const names = Array.from({ length: 850_000 }, (_, i) => `"k${i}":1`).join(",")
    const crowded = tweetJson("1863400000000000401", `,"extra":{${names}}`)
    const body = `{"data":[${crowded},${tweetJson("1863400000000000400")}],"includes":{"users":[{"id":"77","username":"u"}]},"meta":{"result_count":2}}`
    expect(body.length).toBeGreaterThan(10_000_000)
    const { items, summary } = await searchBodies([body])
    expect(summary.error).toBeUndefined()
    expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000400"])
    const refused = deadLettersOf(items)
    expect(refused.map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([["1863400000000000401", "too_many_keys", "/data/0/extra"]])
    expect(refused[0]!.payload).toBe(crowded)
    expect(summary).toMatchObject({ tweets: 1, deadLetters: 1, sinceId: "1863400000000000401" })
  })

  test("search: a tweet or user nested just past 100 levels counted in the page (101, 102) is a dead letter kept as received, as one nested deeper is; at 100 it lands", async () => {
    // Spaces the writer would not keep: a payload holding them is the text as received, not the parsed value written again.
    const deep = (levels: number) => `${"[ ".repeat(levels)}1${" ]".repeat(levels)}`
    // A tweet is level 3 of the page, its extra's arrays the levels after it: 97 arrays reach 100, 98 reach 101.
    const at = (pageLevels: number, id: string) => tweetJson(id, `,"extra": ${deep(pageLevels - 3)}`)
    const user = `{"id":"77","username":"u","extra": ${deep(98)}}`
    const body = `{"data":[${at(101, "1863400000000000471")},${at(102, "1863400000000000472")},${at(100, "1863400000000000470")}],` +
      `"includes":{"users":[${user}]},"meta":{"result_count":3}}`
    const { items } = await searchBodies([body])
    expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000470"])
    const refused = deadLettersOf(items)
    expect(refused.map((d) => [d.messageId, d.rejection.rule, d.rejection.field.slice(0, 18)])).toEqual([
      ["", "too_deep", "/includes/users/0/"], ["1863400000000000471", "too_deep", "/data/0/extra/0/0/"], ["1863400000000000472", "too_deep", "/data/1/extra/0/0/"],
    ])
    expect(refused.map((d) => d.rejection.message)).toEqual(refused.map(() => expect.stringMatching(/nested more than 100 levels deep/)))
    expect(refused[0]!.payload).toContain(user)
    expect(refused.slice(1).map((d) => d.payload)).toEqual([at(101, "1863400000000000471"), at(102, "1863400000000000472")])
  })

  test("search: a tweet naming id twice or holding a count past 2^53 is a dead letter naming the rule, kept as received; the other tweet lands", async () => {
    const twice = `{"id":"1863400000000000411","text":"a","author_id":"77","created_at":"2024-12-02T10:00:00.000Z","id":"1863400000000000419"}`
    const big = tweetJson("1863400000000000412", `,"public_metrics":{"like_count":9007199254740993}`)
    const body = `{"data":[${twice},${big},${tweetJson("1863400000000000410")}],"meta":{"result_count":3}}`
    const { items } = await searchBodies([body])
    expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000410"])
    const refused = deadLettersOf(items)
    expect(refused.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([
      ["duplicate_key", "/data/0/id"], ["integer_too_large", "/data/1/public_metrics/like_count"],
    ])
    expect(refused.map((d) => d.payload)).toEqual([twice, big])
    expect(refused[1]!.messageId).toBe("1863400000000000412")
  })

  test("search: a user naming username twice is a dead letter naming it, kept as received; its tweet lands by author_id", async () => {
    const user = `{"id":"77","username":"first","username":"last"}`
    const { items } = await searchBodies([`{"data":[${tweetJson("1863400000000000420")}],"includes":{"users":[${user}]},"meta":{"result_count":1}}`])
    expect(eventsOf(items).map((e) => [e.messageId, e.identifiers])).toEqual([["1863400000000000420", [{ kind: "twitter_id", value: "77" }]]])
    const refused = deadLettersOf(items)
    expect(refused.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["duplicate_key", "/includes/users/0/username"]])
    expect(refused[0]!.payload).toContain(user)
    expect(refused[0]!.rejection.message).toMatch(/^the user "77" of includes\.users: \/username: the name "username" appears more than once/)
    expect(readJson(refused[0]!.payload)).toMatchObject({ _tag: "refused", rejection: { rule: "duplicate_key" } })
  })

  test("search: a user the reader refuses is named by its id, cut as shown values are; one whose id is what it refuses, by none", async () => {
    const longId = "7".repeat(1_000)
    const users = `{"id":"${longId}","username":"a","username":"b"},{"id":"88","id":"89","username":"c"}`
    const { items } = await searchBodies([`{"data":[${tweetJson("1863400000000000490")}],"includes":{"users":[${users}]},"meta":{"result_count":1}}`])
    expect(deadLettersOf(items).map((d) => d.rejection.message.slice(0, d.rejection.message.indexOf(" of includes")))).toEqual([
      `the user "${"7".repeat(59)}…`, "the user",
    ])
  })

  test("search: a tweet or user refused after one the reader refused is named by its own index in the page", async () => {
    const twice = `{"id":"1863400000000000441","text":"a","author_id":"77","created_at":"2024-12-02T10:00:00.000Z","id":"1863400000000000449"}`
    const longLang = tweetJson("1863400000000000442", `,"lang":"${"x".repeat(300)}"`)
    const users = `{"id":"77","username":"a","username":"b"},{"id":"88","username":""}`
    const { items } = await searchBodies([`{"data":[${twice},${longLang}],"includes":{"users":[${users}]},"meta":{"result_count":2}}`])
    expect(deadLettersOf(items).map((d) => `${d.rejection.rule} ${d.rejection.field}`).sort()).toEqual([
      "duplicate_key /data/0/id", "duplicate_key /includes/users/0/username", "empty_field /includes/users/1/username", "too_long /data/1/lang",
    ])
  })

  test("search: an answer refused outside its tweets (meta named twice) is one dead letter kept as received; what came before lands, the pass stops and is not retried", async () => {
    const first = `{"data":[${tweetJson("1863400000000000431")}],"meta":{"result_count":1,"next_token":"p2"}}`
    const poison = `{"data":[${tweetJson("1863400000000000430")}],"meta":{"result_count":1},"meta":{"result_count":1,"next_token":"p3"}}`
    const { items, summary, asked } = await searchBodies([first, poison])
    expect(asked).toEqual(["", "p2"])
    expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000431"])
    const refused = deadLettersOf(items)
    expect(refused.map((d) => [d.rejection.rule, d.rejection.field, d.payload])).toEqual([["duplicate_key", "/meta", poison]])
    expect(summary.error).toMatch(/duplicate_key|appears more than once/)
    expect(summary.deadLetters).toBe(1)
  })

  test("search: the same refused answer asked for again on the next pass is told in the query's error but not dead-lettered twice; another refused answer is", async () => {
    const first = `{"data":[${tweetJson("1863400000000000481")}],"meta":{"result_count":1,"next_token":"p2"}}`
    const poison = `{"data":[${tweetJson("1863400000000000480")}],"meta":{"result_count":1},"meta":{"result_count":1,"next_token":"p3"}}`
    const one = await searchBodies([first, poison])
    expect(deadLettersOf(one.items).map((d) => d.payload)).toEqual([poison])
    // The next pass resumes at p2 and gets the same answer: still the query's error, no second dead letter of it.
    const two = await searchBodies([poison])
    expect(two.asked).toEqual(["p2"])
    expect(two.items).toEqual([])
    expect(two.summary).toMatchObject({ deadLetters: 0, error: expect.stringMatching(/appears more than once.*the same answer as one refused whole on this query before, dead-lettered then/) })
    // Another answer refused (0xE8 in it this time) is a dead letter of its own.
    const other = Buffer.concat([Buffer.from(`{"data":[{"id":"1863400000000000482","text":"caf`), Buffer.from([0xe8]), Buffer.from(`"}],"meta":{}}`)])
    const three = await searchBodies([other])
    expect(three.asked).toEqual(["p2"])
    expect(deadLettersOf(three.items).map((d) => [d.rejection.rule, d.payloadEncoding])).toEqual([["invalid_utf8", "base64"]])
    expect(three.summary.deadLetters).toBe(1)
  })

  test("search: a refused answer met again after good pages or another refused answer is told in the query's error, not dead-lettered again", async () => {
    const good = `{"data":[${tweetJson("1863400000000000491")}],"meta":{"result_count":1,"next_token":"p2"}}`
    const poisonA = `{"data":[${tweetJson("1863400000000000490")}],"meta":{"result_count":1},"meta":{"result_count":0}}`
    const poisonB = `{"data":[${tweetJson("1863400000000000492")}],"meta":{"result_count":1},"meta":{"result_count":2}}`
    // Each pass starts over (no pass ever got past its first page): A; then a good page and A again; then B; then A.
    const passes = [[poisonA], [good, poisonA], [poisonB], [poisonA]]
    const kept: Array<string> = []
    const errors: Array<string | undefined> = []
    for (const bodies of passes) {
      const { items, summary } = await searchBodies(bodies)
      kept.push(...deadLettersOf(items).map((d) => d.payload))
      errors.push(summary.error)
      expect(summary.deadLetters).toBe(deadLettersOf(items).length)
    }
    expect(kept).toEqual([poisonA, poisonB])
    expect(errors.map((e) => /appears more than once/.test(e ?? "") && /dead-lettered then/.test(e ?? ""))).toEqual([false, true, false, true])
  })

  test("search: a state saved with the one lastRefused hash of before is read as a refused answer remembered", async () => {
    const poison = `{"data":[${tweetJson("1863400000000000493")}],"meta":{"result_count":1},"meta":{"result_count":0}}`
    const state = {
      version: 1, query: QUERY, sinceId: null, pending: { nextToken: "p2", newestId: null },
      lastRefused: createHash("sha256").update(poison).digest("hex"), updatedAt: "2026-12-01T00:00:00.000Z",
    }
    await Effect.runPromise(Effect.gen(function* () {
      yield* (yield* ObjectStore).put(searchStateKey("acme", QUERY), JSON.stringify(state))
    }).pipe(Effect.provide(ObjectStore.local(dir))))
    const { items, summary, asked } = await searchBodies([poison])
    expect(asked).toEqual(["p2"])
    expect(items).toEqual([])
    expect(summary.error).toMatch(/dead-lettered then/)
  })

  test("search: an answer holding a byte that is not UTF-8 (0xE8 in a tweet's text) is one dead letter keeping its bytes, naming the offset; the pass stops there, not replaced by U+FFFD", async () => {
    const first = `{"data":[${tweetJson("1863400000000000451")}],"meta":{"result_count":1,"next_token":"p2"}}`
    const before = Buffer.from(`{"data":[{"id":"1863400000000000450","text":"caf`)
    const poison = Buffer.concat([before, Buffer.from([0xe8]), Buffer.from(`","author_id":"77","created_at":"2024-12-02T10:00:00.000Z"}],"meta":{"result_count":1,"next_token":"p3"}}`)])
    const { items, summary, asked } = await searchBodies([first, poison])
    expect(asked).toEqual(["", "p2"])
    expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000451"])
    const refused = deadLettersOf(items)
    expect(refused.map((d) => [d.rejection.rule, d.payloadEncoding])).toEqual([["invalid_utf8", "base64"]])
    expect(Buffer.from(refused[0]!.payload, "base64").equals(poison)).toBe(true)
    expect(refused[0]!.rejection.message).toMatch(new RegExp(`byte 0xe8 at offset ${before.length}\\b`))
    expect(summary.error).toMatch(new RegExp(`not valid UTF-8: byte 0xe8 at offset ${before.length}\\b`))
    expect(summary).toMatchObject({ tweets: 1, deadLetters: 1, sinceId: null })
  })

  test("search: an answer that is neither UTF-8 nor JSON (a proxy's page in Latin-1) is an outage retried, as any answer that is not JSON, not a dead letter", async () => {
    const page = Buffer.from("<html>Passerelle d\xe9faillante</html>", "latin1")
    const { items, summary } = await searchBodies([page, `{"data":[${tweetJson("1863400000000000460")}],"meta":{"result_count":1}}`])
    expect(summary.error).toBeUndefined()
    expect(items.map((i) => (i._tag === "event" ? i.event.messageId : i.deadLetter.rejection.rule))).toEqual(["1863400000000000460"])
  })

  test("search: X's refusal (400) whose body is not UTF-8 is told naming the byte and offset, not with U+FFFD in X's words", async () => {
    const body = Buffer.from(`{"detail":"Requ\xeate invalide"}`, "latin1")
    const started = await listen((_req, res) => void res.writeHead(400, { "content-type": "application/json" }).end(body))
    try {
      const [summary] = await Effect.runPromise(pollRecentSearch({ bearerToken: "bearer-token-of-the-test", queries: [QUERY], rules: [], apiBase: started.url }, {
        tenant: "acme", onItems: () => Effect.void,
      }).pipe(Effect.provide(ObjectStore.local(dir))))
      expect(summary!.error).toMatch(/X rejected GET tweets\/search\/recent \(400\): .*not valid UTF-8: byte 0xea at offset 15\b/)
      expect(summary!.error).not.toContain("\uFFFD")
    } finally {
      started.server.closeAllConnections()
      started.server.close()
    }
  })
})

describe("stream lines that are not UTF-8", () => {
  test("stream: a line holding a byte that is not UTF-8 (0xE8 in a tweet's text) is a dead letter of that line's bytes naming the offset, not U+FFFD; the stream and the next tweet go on", async () => {
    const before = Buffer.from(`{"data":{"id":"1863400000000000470","text":"caf`)
    const line = Buffer.concat([before, Buffer.from([0xe8]), Buffer.from(`","author_id":"77","created_at":"2024-12-02T10:00:00.000Z"}}`)])
    const good = `{"data":${JSON.stringify(tweet("1863400000000000471"))}}\r\n`
    let connects = 0
    const started = await listen((_req, res) => {
      connects++
      res.writeHead(200, { "content-type": "application/json" })
      // The bad byte in a read of its own, and the next tweet's line in the same read as the bad line's end.
      res.write(before)
      setTimeout(() => res.write(line.subarray(before.length, before.length + 1)), 20)
      setTimeout(() => res.write(Buffer.concat([line.subarray(before.length + 1), Buffer.from(`\r\n${good}`)])), 40)
    })
    try {
      const items: Array<ImportedItem> = []
      const fiber = Effect.runFork(runFilteredStream({ bearerToken: "t", queries: [], rules: [{ value: QUERY }], apiBase: started.url }, {
        tenant: "acme", syncRules: false, reconnect: { initialMs: 20, maxMs: 40 }, onItems: (batch) => Effect.sync(() => void items.push(...batch)),
      }))
      await waitFor("two items", () => items.length >= 2)
      await Effect.runPromise(Fiber.interrupt(fiber))
      expect(connects).toBe(1)
      expect(eventsOf(items).map((e) => e.messageId)).toEqual(["1863400000000000471"])
      const refused = deadLettersOf(items)
      expect(refused.map((d) => [d.rejection.rule, d.payloadEncoding])).toEqual([["invalid_utf8", "base64"]])
      expect(Buffer.from(refused[0]!.payload, "base64").equals(line)).toBe(true)
      expect(refused[0]!.rejection.message).toMatch(new RegExp(`byte 0xe8 at offset ${before.length}\\b`))
    } finally {
      started.server.closeAllConnections()
      started.server.close()
    }
  })

  test("stream: X's refusal of the connect (403) whose body is not UTF-8 is told naming the byte and offset, as a plain call's, not with U+FFFD in X's words", async () => {
    const body = Buffer.from(`{"detail":"Acc\xe8s refus\xe9"}`, "latin1")
    const started = await listen((_req, res) => void res.writeHead(403, { "content-type": "application/json" }).end(body))
    try {
      const result = await Effect.runPromise(Effect.result(runFilteredStream({ bearerToken: "bearer-token-of-the-test", queries: [], rules: [{ value: QUERY }], apiBase: started.url }, {
        tenant: "acme", syncRules: false, onItems: () => Effect.void,
      })))
      expect(result._tag === "Failure" && result.failure).toMatchObject({ _tag: "XForbidden", detail: expect.stringMatching(/not valid UTF-8: byte 0xe8 at offset 14\b/) })
      expect(result._tag === "Failure" && result.failure.message).not.toContain("\uFFFD")
    } finally {
      started.server.closeAllConnections()
      started.server.close()
    }
  })
})
