import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { FILE_SOURCES, WEBHOOK_SOURCES } from "../../../ingest/sources/index.ts"
import { parseSocialWebhook, readSocialFile } from "../../../ingest/sources/social.ts"
import { BINARY_JUNK, collect, context, DEV, sorted, split, tempFile, truthChannels, truthIds } from "./helpers.ts"

const isTweets = (source: string) => source === "tweets.json"

interface TweetPage {
  data: Array<{ id: string; text: string; author_id: string; created_at: string; lang: string }>
  includes: { users: Array<{ id: string; username: string; name: string }> }
}

/** The dev set has no generic social file: its X search pages, rewritten as the generic NDJSON, stand in. */
const tweetsAsPosts = (): Array<Record<string, unknown>> => {
  const pages = JSON.parse(readFileSync(join(DEV, "tweets.json"), "utf8")) as Array<TweetPage>
  return pages.flatMap((page) => {
    const users = new Map(page.includes.users.map((u) => [u.id, u]))
    return page.data.map((t) => {
      const author = users.get(t.author_id)!
      return { id: t.id, network: "x", author_handle: author.username, author_name: author.name, text: t.text,
        created_at: t.created_at, lang: t.lang, url: `https://x.com/${author.username}/status/${t.id}` }
    })
  })
}

const post = (overrides: Record<string, unknown> = {}) => ({
  id: "r-1", network: "trustpilot", author_handle: "hikerjo", text: "Boots leaked after a week.",
  created_at: "2024-11-02T10:00:00Z", ...overrides,
})

const ndjson = (values: ReadonlyArray<unknown>): string => values.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join("\n")

describe("social connector on the dev set's posts", () => {
  it("lands every social item of the truth once as network:id, nothing extra, no dead letters", async () => {
    const path = tempFile("social.ndjson", ndjson(tweetsAsPosts()))
    const { events, deadLetters } = await collect(readSocialFile(path, context()))
    expect(deadLetters).toEqual([])
    expect(sorted(events.map((e) => e.messageId))).toEqual(sorted(truthIds(isTweets).map((id) => `x:${id}`)))
    expect(truthChannels(isTweets)).toEqual(new Set(["social"]))
    expect(new Set(events.map((e) => `${e.channel}/${e.source}/${e.type}/${e.event}`))).toEqual(new Set(["social/social/track/Social Post"]))
  })

  it("keys each post by network:handle, keeps its text, time, name and properties", async () => {
    const posts = tweetsAsPosts()
    const { events } = await collect(readSocialFile(tempFile("social.ndjson", ndjson(posts)), context()))
    events.forEach((e, i) => {
      const p = posts[i]!
      expect(e.identifiers).toEqual([{ kind: "social_handle", value: `x:${p["author_handle"] as string}` }])
      expect(e.text).toBe(p["text"])
      expect(e.timestamp).toBe(p["created_at"])
      expect(e.traits).toEqual({ name: p["author_name"] })
      expect(e.properties).toEqual({ network: "x", url: p["url"], lang: p["lang"] })
      expect([e.userId, e.anonymousId, e.profileId, e.sentAt]).toEqual(["", "", "", null])
    })
  })

  it("reports progress up to the file's size", async () => {
    const content = ndjson(tweetsAsPosts())
    const seen: Array<number> = []
    await collect(readSocialFile(tempFile("social.ndjson", content), context({ onProgress: (n) => seen.push(n) })))
    expect(seen.at(-1)).toBe(Buffer.byteLength(content))
  })

  it("is registered as a file source and a webhook source", () => {
    expect(FILE_SOURCES.get("social")?.read).toBe(readSocialFile)
    expect(WEBHOOK_SOURCES.get("social")?.parse).toBe(parseSocialWebhook)
  })
})

describe("social posts and reviews", () => {
  it("a rated post is a Review carrying its rating and follower count; unknown fields go to extra", () => {
    const { events } = split(parseSocialWebhook(JSON.stringify(post({ rating: 2, author_followers: 12, id: 77, stars_text: "2/5" })), context()))
    expect(events.map((e) => [e.messageId, e.event, e.properties, e.extra])).toEqual([
      ["trustpilot:77", "Review", { network: "trustpilot", rating: 2, author_followers: 12 }, { stars_text: "2/5" }],
    ])
  })

  it("an unknown field named __proto__ is kept in extra as the sender's field, not as extra's prototype", () => {
    const line = JSON.stringify(post()).replace(/^\{/, '{"__proto__": {"stars_text": "2/5"}, ')
    const { events } = split(parseSocialWebhook(line, context()))
    expect(JSON.stringify(events[0]!.extra)).toBe('{"__proto__":{"stars_text":"2/5"}}')
  })

  it("each bad line is a dead letter naming its line, field and rule; good lines still land", () => {
    const body = ndjson([
      post({ id: "ok-1" }),
      "not json",
      post({ id: "r-2", rating: 6 }),
      post({ id: "r-3", created_at: "last week" }),
      post({ id: "r-4", network: "review site" }),
      post({ id: "r-5", author_handle: "" }),
      { ...post({ id: "r-6" }), text: undefined },
      post({ id: "r-7", author_followers: -1 }),
      post({ id: true }),
      "[]",
      post({ id: "ok-2" }),
    ])
    const { events, deadLetters } = split(parseSocialWebhook(body, context()))
    expect(events.map((e) => e.messageId)).toEqual(["trustpilot:ok-1", "trustpilot:ok-2"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([
      ["", "not_json", ""],
      ["trustpilot:r-2", "bad_rating", "/rating"],
      ["trustpilot:r-3", "bad_timestamp", "/created_at"],
      ["review site:r-4", "bad_format", "/network"],
      ["trustpilot:r-5", "empty_field", "/author_handle"],
      ["trustpilot:r-6", "missing_field", "/text"],
      ["trustpilot:r-7", "out_of_range", "/author_followers"],
      ["", "wrong_type", "/id"],
      ["", "not_object", ""],
    ])
    expect(deadLetters.map((d) => d.rejection.message)).toEqual([
      expect.stringMatching(/^line 2: not valid JSON/),
      "line 3: rating must be <= 5 (got 6)",
      'line 4: created_at must be an ISO-8601 date-time such as 2024-09-02T11:39:49Z (got "last week")',
      'line 5: network must be a name without colons or spaces (got "review site")',
      "line 6: author_handle must not be empty",
      "line 7: text is required",
      "line 8: author_followers must be >= 0 (got -1)",
      "line 9: id must be a string or an integer (got a boolean)",
      "line 10: a post must be a JSON object (got an array)",
    ])
  })

  it("an empty file is nothing; binary junk is dead letters, not a crash", async () => {
    expect(await collect(readSocialFile(tempFile("empty.ndjson", ""), context()))).toEqual({ events: [], deadLetters: [] })
    const junk = await collect(readSocialFile(tempFile("junk.ndjson", BINARY_JUNK), context()))
    expect(junk.events).toEqual([])
    expect(junk.deadLetters.length).toBeGreaterThan(0)
    expect(split(parseSocialWebhook(BINARY_JUNK.toString("latin1"), context())).events).toEqual([])
  })
})

describe("a post's text is bounded", () => {
  it("a text far past what any network allows (20 MB) is a dead letter naming text and the bound; the other lines land", async () => {
    const path = tempFile("huge.ndjson", ndjson([post({ id: "ok" }), post({ id: "huge", text: "y".repeat(2e7) })]))
    const { events, deadLetters } = await collect(readSocialFile(path, context()))
    expect(events.map((e) => e.messageId)).toEqual(["trustpilot:ok"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["trustpilot:huge", "too_long", "/text", "line 2: text is longer than 200000 characters"],
    ])
    // Nothing accepted is lost: the dead letter keeps the whole post.
    expect((JSON.parse(deadLetters[0]!.payload) as { text: string }).text).toHaveLength(2e7)
    const posted = split(parseSocialWebhook(JSON.stringify([post({ id: "big", text: "y".repeat(200_001) })]), context()))
    expect(posted.deadLetters.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["too_long", "/text"]])
  })

  it("a long post (Facebook's 63,206 characters) and one of 200,000 characters land", () => {
    const { events } = split(parseSocialWebhook(ndjson([post({ id: "a", text: "é".repeat(63_206) }), post({ id: "b", text: "y".repeat(200_000) })]), context()))
    expect(events.map((e) => e.text.length)).toEqual([63_206, 200_000])
  })
})

describe("a post's url, author_name and lang are bounded", () => {
  const huge = "y".repeat(1_000_000)

  it("each far past what it can be is a dead letter naming it and its bound; the other lines land", async () => {
    const lines = [
      post({ id: "ok", url: `https://reviews.example/r/${"a".repeat(8_000)}`, author_name: "N".repeat(1_024), lang: "en-GB" }),
      post({ id: "url", url: `https://reviews.example/${huge}` }),
      post({ id: "name", author_name: huge }),
      post({ id: "lang", lang: huge }),
    ]
    const { events, deadLetters } = await collect(readSocialFile(tempFile("fields.ndjson", ndjson(lines)), context()))
    expect(events.map((e) => e.messageId)).toEqual(["trustpilot:ok"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["trustpilot:url", "too_long", "/url", "line 2: url is longer than 8192 characters"],
      ["trustpilot:name", "too_long", "/author_name", "line 3: author_name is longer than 1024 characters"],
      ["trustpilot:lang", "too_long", "/lang", "line 4: lang is longer than 256 characters"],
    ])
    const posted = split(parseSocialWebhook(JSON.stringify([post({ id: "p", author_name: huge })]), context()))
    expect(posted.deadLetters.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["too_long", "/author_name"]])
  })
})
