import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, test } from "vitest"
import type { CanonicalEvent, DeadLetter } from "../../../ingest/message.ts"
import { FILE_SOURCES, type ImportedItem } from "../../../ingest/sources/index.ts"
import { readTwitterFile, tweetsFromPage } from "../../../ingest/sources/twitter.ts"
import { DEV_TWEETS, loadDevPages } from "../../support/x-replay-server.ts"
import { SIGNALS_DEV } from "../../support/shared.ts"

const TRUTH_ITEMS = `${SIGNALS_DEV}truth/items.ndjson`
const ctx = { tenant: "acme", receivedAtMs: Date.UTC(2024, 11, 2) }
const dir = mkdtempSync(join(tmpdir(), "cdp-twitter-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const socialTruthIds = (): Array<string> =>
  readFileSync(TRUTH_ITEMS, "utf8").split("\n").filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { item_id: string; channel: string })
    .filter((i) => i.channel === "social").map((i) => i.item_id)

const collect = async (items: AsyncIterable<ImportedItem>) => {
  const events: Array<CanonicalEvent> = []
  const deadLetters: Array<DeadLetter> = []
  for await (const item of items) item._tag === "event" ? events.push(item.event) : deadLetters.push(item.deadLetter)
  return { events, deadLetters }
}

const events = (items: ReadonlyArray<ImportedItem>) => items.flatMap((i) => (i._tag === "event" ? [i.event] : []))
const deadLetters = (items: ReadonlyArray<ImportedItem>) => items.flatMap((i) => (i._tag === "deadLetter" ? [i.deadLetter] : []))

const tweet = (over: Record<string, unknown> = {}) => ({
  id: "1850000000000000001",
  text: "@lumenoutfitters my #TrailheadFleece seam tore https://t.co/abc",
  author_id: "42",
  created_at: "2024-10-27T10:00:00.000Z",
  conversation_id: "1850000000000000001",
  lang: "en",
  public_metrics: { retweet_count: 0, reply_count: 1, like_count: 2, quote_count: 0 },
  entities: {
    hashtags: [{ start: 20, end: 36, tag: "TrailheadFleece" }],
    mentions: [{ start: 0, end: 16, username: "lumenoutfitters", id: "1297452208136409089" }],
    urls: [{ start: 47, end: 70, url: "https://t.co/abc", expanded_url: "https://photos.example/1", display_url: "photos.example/1" }],
  },
  ...over,
})
const author = { id: "42", username: "hiker_jo", name: "Jo Hiker", description: "Outdoors", public_metrics: { followers_count: 310 } }

describe("twitter file source", () => {
  test("every tweet of the dev tweets.json lands once as a social event whose message id is the tweet id", async () => {
    const { events, deadLetters } = await collect(readTwitterFile(DEV_TWEETS, ctx))
    expect(deadLetters).toEqual([])
    const ids = events.map((e) => e.messageId)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids.sort()).toEqual(socialTruthIds().sort())
    for (const e of events) {
      expect(e.channel).toBe("social")
      expect(e.source).toBe("twitter")
      expect(e.type).toBe("track")
      expect(e.tenant).toBe("acme")
    }
  })

  test("is registered as `cdp ingest --source twitter`", async () => {
    const source = FILE_SOURCES.get("twitter")
    expect(source?.name).toBe("twitter")
    let progress = 0
    const { events } = await collect(source!.read(DEV_TWEETS, { ...ctx, onProgress: (n) => { progress = n } }))
    expect(events).toHaveLength(582)
    expect(progress).toBe(readFileSync(DEV_TWEETS).length)
  })

  test("a file that is not JSON, or not an array of pages, is one dead letter and no throw", async () => {
    const bad = join(dir, "bad.json")
    writeFileSync(bad, "[{\"data\": [")
    const notJson = await collect(readTwitterFile(bad, ctx))
    expect(notJson.events).toEqual([])
    expect(notJson.deadLetters.map((d) => d.rejection.rule)).toEqual(["not_json"])
    writeFileSync(bad, "42")
    expect((await collect(readTwitterFile(bad, ctx))).deadLetters.map((d) => d.rejection.rule)).toEqual(["not_array"])
  })

  test("a bad page in the file is a dead letter pointing at the page; the other pages land", async () => {
    const pages = loadDevPages().slice(0, 2) as Array<unknown>
    pages.splice(1, 0, { data: "not tweets" })
    const path = join(dir, "mixed.json")
    writeFileSync(path, JSON.stringify(pages))
    const { events, deadLetters } = await collect(readTwitterFile(path, ctx))
    expect(events).toHaveLength(200)
    expect(deadLetters).toHaveLength(1)
    expect(deadLetters[0]!.rejection).toMatchObject({ rule: "wrong_type", field: "/1/data" })
    expect(deadLetters[0]!.rejection.message).toMatch(/^page 2: /)
  })

  test("a tweet whose text is far past what X allows is a dead letter naming text and the bound; its page's other tweets land", async () => {
    const path = join(dir, "huge-text.json")
    writeFileSync(path, JSON.stringify([{ data: [tweet({ id: "1" }), tweet({ id: "2", text: "y".repeat(2e7) })], meta: { result_count: 2 } }]))
    const { events, deadLetters } = await collect(readTwitterFile(path, ctx))
    expect(events.map((e) => e.messageId)).toEqual(["1"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([["2", "too_long", "/0/data/1/text"]])
    expect(deadLetters[0]!.rejection.message).toBe("page 1: text is longer than 100000 characters")
    // Nothing accepted is lost: the dead letter keeps the whole tweet.
    expect(JSON.parse(deadLetters[0]!.payload).data[0].text).toHaveLength(2e7)
  })
})

describe("tweetsFromPage", () => {
  test("maps a tweet and its author to the canonical event", () => {
    const [item] = tweetsFromPage({ data: [tweet()], includes: { users: [author] }, meta: { result_count: 1 } }, ctx)
    expect(item?._tag).toBe("event")
    const e = (item as { event: CanonicalEvent }).event
    expect(e).toMatchObject({
      tenant: "acme",
      messageId: "1850000000000000001",
      type: "track",
      event: "Tweet",
      channel: "social",
      source: "twitter",
      timestamp: "2024-10-27T10:00:00.000Z",
      originalTimestamp: "2024-10-27T10:00:00.000Z",
      sentAt: null,
      receivedAt: "2024-12-02T00:00:00.000Z",
      userId: "",
      anonymousId: "",
      groupId: "",
      previousId: "",
      profileId: "",
      extra: {},
      text: "@lumenoutfitters my #TrailheadFleece seam tore https://t.co/abc",
      traits: { name: "Jo Hiker", username: "hiker_jo" },
      identifiers: [{ kind: "twitter_id", value: "42" }, { kind: "twitter_handle", value: "hiker_jo" }],
    })
    expect(e.properties).toEqual({
      lang: "en",
      conversation_id: "1850000000000000001",
      public_metrics: { retweet_count: 0, reply_count: 1, like_count: 2, quote_count: 0 },
      hashtags: ["TrailheadFleece"],
      mentions: ["lumenoutfitters"],
      urls: ["https://photos.example/1"],
      author_followers: 310,
      author_description: "Outdoors",
    })
  })

  test("replies and quotes are named from referenced_tweets", () => {
    const items = tweetsFromPage({
      data: [
        tweet({ id: "11", referenced_tweets: [{ type: "replied_to", id: "10" }] }),
        tweet({ id: "12", referenced_tweets: [{ type: "quoted", id: "10" }] }),
      ],
    }, ctx)
    expect(events(items).map((e) => [e.messageId, e.event])).toEqual([["11", "Reply"], ["12", "Quote"]])
  })

  test("an author missing from includes still gives the twitter_id identifier", () => {
    const [e] = events(tweetsFromPage({ data: [tweet()] }, ctx))
    expect(e!.identifiers).toEqual([{ kind: "twitter_id", value: "42" }])
    expect(e!.traits).toEqual({})
  })

  test("an invalid tweet is a dead letter naming the field and rule; the rest of the page lands", () => {
    const items = tweetsFromPage({
      data: [tweet({ id: "1" }), tweet({ id: "2", created_at: "yesterday" }), tweet({ id: "3", author_id: 42 })],
      includes: { users: [author] },
    }, ctx, "page 7")
    expect(events(items).map((e) => e.messageId)).toEqual(["1"])
    expect(deadLetters(items).map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([
      ["2", "bad_timestamp", "/data/1/created_at"],
      ["3", "wrong_type", "/data/2/author_id"],
    ])
    expect(deadLetters(items)[0]!.rejection.message).toMatch(/^page 7: created_at must be an ISO-8601 date-time/)
    // The payload is a page of the one tweet with its author, so it parses alone when re-driven.
    expect(JSON.parse(deadLetters(items)[0]!.payload)).toMatchObject({ data: [{ id: "2" }], includes: { users: [author] } })
  })

  test("what is not a v2 page is one dead letter, never a throw", () => {
    for (const junk of [null, 42, "text", [], { data: 5 }, { includes: { users: "x" } }]) {
      const items = tweetsFromPage(junk, ctx)
      expect(items).toHaveLength(1)
      expect(items[0]!._tag).toBe("deadLetter")
    }
    const problem = tweetsFromPage({ title: "Unauthorized", type: "about:blank", status: 401, detail: "Unauthorized" }, ctx)
    expect(deadLetters(problem).map((d) => d.rejection.rule)).toEqual(["api_error"])
    expect(tweetsFromPage({ meta: { result_count: 0 } }, ctx)).toEqual([])
    // Another kind of JSON object (a Segment message given to --source twitter) is no page of no results.
    const other = deadLetters(tweetsFromPage({ type: "track", userId: "u1", event: "Signed Up" }, ctx))
    expect(other.map((d) => [d.rejection.rule, d.rejection.message])).toEqual([
      ["not_x_page", 'not an X API v2 page: it has neither "data" nor "meta" (its fields: type, userId, event)'],
    ])
  })

  test("a long post of X's premium accounts (25,000 characters) lands; a text past 100,000 characters is refused", () => {
    const [long] = events(tweetsFromPage({ data: [tweet({ text: "é".repeat(25_000) })] }, ctx))
    expect(long!.text).toHaveLength(25_000)
    expect(events(tweetsFromPage({ data: [tweet({ text: "y".repeat(100_000) })] }, ctx))).toHaveLength(1)
    const refused = deadLetters(tweetsFromPage({ data: tweet({ text: "y".repeat(2e7) }) }, ctx))
    expect(refused.map((d) => [d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["too_long", "/data/text", "text is longer than 100000 characters"],
    ])
  })

  test("a filtered-stream event (one tweet in data) maps the same, with the matching rules' tags", () => {
    const [e] = events(tweetsFromPage({ data: tweet(), includes: { users: [author] }, matching_rules: [{ id: "9", tag: "brand" }] }, ctx))
    expect(e!.messageId).toBe("1850000000000000001")
    expect(e!.properties["matching_rules"]).toEqual(["brand"])
  })
})
