import { Effect, Fiber, Stream } from "effect"
import { afterEach, describe, expect, test } from "vitest"
import type { ImportedItem } from "../../../ingest/sources/index.ts"
import {
  filteredStream,
  makeXClient,
  runFilteredStream,
  syncStreamRules,
  type XConfig,
  type XError,
  type XStatus,
} from "../../../ingest/social/index.ts"
import { type ReplayOptions, startXReplayServer, type Tweet, type User, type XReplayServer } from "../../support/x-replay-server.ts"

let server: XReplayServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

const start = async (options: ReplayOptions = {}) => (server = await startXReplayServer(options))

const config = (s: XReplayServer, over: Partial<XConfig> = {}): XConfig =>
  ({ bearerToken: s.bearerToken, queries: [], rules: [{ value: "lumenoutfitters", tag: "brand" }], apiBase: s.url, ...over })

const waitFor = async (what: string, condition: () => boolean, timeoutMs = 4_000) => {
  const until = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const author: User = { id: "77", username: "trail_runner", name: "Trail Runner" }
const tweet = (id: string): Tweet => ({
  id, text: `@lumenoutfitters tweet ${id}`, author_id: "77", created_at: "2024-12-02T10:00:00.000Z", lang: "en",
})

const ids = (items: ReadonlyArray<ImportedItem>) => items.flatMap((i) => (i._tag === "event" ? [i.event.messageId] : []))

/** Starts the stream in the background, as `cdp` would; returns what it delivered and how to stop it. */
const run = (s: XReplayServer, over: Partial<XConfig> = {}, keepAliveTimeoutMs = 1_000) => {
  const items: Array<ImportedItem> = []
  const statuses: Array<XStatus> = []
  const fiber = Effect.runFork(runFilteredStream(config(s, over), {
    tenant: "acme",
    keepAliveTimeoutMs,
    policy: { resetMarginMs: 50 },
    reconnect: { initialMs: 50, maxMs: 400, rateLimitedInitialMs: 100 },
    onStatus: (status) => statuses.push(status),
    onItems: (batch) => Effect.sync(() => void items.push(...batch)),
  }))
  return { items, statuses, fiber, stop: () => Effect.runPromise(Fiber.interrupt(fiber)) }
}

describe("X stream rules", () => {
  test("sync adds and deletes exactly the difference, and a second sync changes nothing", async () => {
    const s = await start({
      rules: [
        { value: "lumenoutfitters", tag: "brand" },
        { value: "#trailheadfleece", tag: "old-tag" },
        { value: "from:competitor" },
      ],
    })
    const keep = s.rules[0]!.id
    const removed = [s.rules[1]!.id, s.rules[2]!.id]
    const client = makeXClient(config(s))
    const wanted = [
      { value: "lumenoutfitters", tag: "brand" },
      { value: "#trailheadfleece", tag: "product" },
      { value: "\"lumen outfitters\" lang:en" },
    ]
    const first = await Effect.runPromise(syncStreamRules(client, wanted))
    expect(first.kept).toBe(1)
    expect(first.deleted.map((r) => r.id).sort()).toEqual(removed.sort())
    expect(first.added).toEqual([{ value: "#trailheadfleece", tag: "product" }, { value: "\"lumen outfitters\" lang:en" }])
    const posts = s.requestsTo("rules.post")
    expect(posts.map((r) => r.body)).toEqual([
      { delete: { ids: removed } },
      { add: [{ value: "#trailheadfleece", tag: "product" }, { value: "\"lumen outfitters\" lang:en" }] },
    ])
    expect(s.rules.map(({ value, tag }) => ({ value, tag })).sort((a, b) => a.value.localeCompare(b.value))).toEqual(
      wanted.map(({ value, tag }) => ({ value, tag })).sort((a, b) => a.value.localeCompare(b.value)))
    expect(s.rules.find((r) => r.value === "lumenoutfitters")!.id).toBe(keep)

    const before = s.requests.length
    const second = await Effect.runPromise(syncStreamRules(makeXClient(config(s)), wanted))
    expect(second).toEqual({ added: [], deleted: [], kept: 3 })
    expect(s.requests.slice(before).map((r) => r.endpoint)).toEqual(["rules.get"])
  })

  test("a rule X refuses fails the sync with the rule and the reason", async () => {
    const s = await start()
    const error = await Effect.runPromise(Effect.flip(syncStreamRules(makeXClient(config(s)), [{ value: "  " }])))
    expect(error._tag).toBe("XRequestRejected")
    expect(error.message).toMatch(/UnprocessableEntity/)
  })
})

describe("X filtered stream", () => {
  test("delivers tweets across keep-alives, reconnects after a dropped connection and gets the later tweets", async () => {
    const s = await start({ keepAliveMs: 100 })
    const { items, statuses, stop } = run(s, {}, 500)
    await waitFor("first connection", () => s.openStreams === 1)
    expect(s.rules.map((r) => r.value)).toEqual(["lumenoutfitters"])
    s.push(tweet("1863400000000000001"), author)
    await waitFor("first tweet", () => items.length === 1)
    // Longer than the keep-alive timeout: only the keep-alives keep the connection open.
    await new Promise((r) => setTimeout(r, 1_200))
    expect(s.streamConnects).toBe(1)

    expect(s.drop()).toBe(1)
    await waitFor("reconnection", () => s.streamConnects === 2 && s.openStreams === 1)
    s.push(tweet("1863400000000000002"), author)
    await waitFor("second tweet", () => items.length === 2)
    await stop()
    await waitFor("connection closed on interrupt", () => s.openStreams === 0)

    expect(ids(items)).toEqual(["1863400000000000001", "1863400000000000002"])
    const first = items[0]!
    expect(first._tag === "event" && first.event).toMatchObject({
      channel: "social", source: "twitter", event: "Tweet",
      identifiers: [{ kind: "twitter_id", value: "77" }, { kind: "twitter_handle", value: "trail_runner" }],
      properties: { matching_rules: ["brand"] },
    })
    expect(statuses.map((x) => x.kind)).toEqual(["rules_synced", "connected", "disconnected", "reconnect_wait", "connected"])
    expect(s.requestsTo("stream").map((r) => r.status)).toEqual([200, 200])
    expect(s.requestsTo("stream")[0]!.query["expansions"]).toBe("author_id")
  })

  test("a silent connection (no keep-alives) is re-opened, with backoff that grows", async () => {
    const s = await start({ keepAliveMs: 50 })
    s.pauseKeepAlive(true)
    const { statuses, stop } = run(s, {}, 200)
    await waitFor("three connections", () => s.streamConnects >= 3, 5_000)
    await stop()
    const waits = statuses.flatMap((x) => (x.kind === "reconnect_wait" ? [x.waitMs] : []))
    expect(waits.slice(0, 2)).toEqual([50, 100])
    expect(statuses.find((x) => x.kind === "disconnected")).toMatchObject({ reason: expect.stringMatching(/no data or keep-alive/) })
  })

  test("a 429 on connect waits until the reset before connecting again", async () => {
    const s = await start()
    const window = s.exhaust("stream", 1)
    const { statuses, stop } = run(s, { rules: [] })
    await waitFor("connection after the reset", () => s.openStreams === 1, 5_000)
    await stop()
    const attempts = s.requestsTo("stream")
    expect(attempts.map((r) => r.status)).toEqual([429, 200])
    expect(attempts[1]!.at).toBeGreaterThanOrEqual(window.resetSec * 1000)
    expect(statuses.find((x) => x.kind === "reconnect_wait")).toMatchObject({ reason: "429" })
  })

  test("a 401 stops the stream with XUnauthorized and no retry loop", async () => {
    const s = await start()
    const { fiber } = run(s, { bearerToken: "wrong" })
    const error = await Effect.runPromise(Effect.flip(Fiber.join(fiber))) as XError
    expect(error._tag).toBe("XUnauthorized")
    expect(s.requests).toHaveLength(1)

    // The stream connect itself (rules not synced): one attempt, then the failure, no reconnect loop.
    const before = s.requests.length
    const client = makeXClient(config(s, { bearerToken: "wrong" }))
    const streamError = await Effect.runPromise(Effect.flip(Stream.runDrain(filteredStream(client, { tenant: "acme", reconnect: { initialMs: 10 } }))))
    expect(streamError).toMatchObject({ _tag: "XUnauthorized", endpoint: "GET tweets/search/stream" })
    expect(s.requests.slice(before).map((r) => [r.endpoint, r.status])).toEqual([["stream", 401]])
  })
})
