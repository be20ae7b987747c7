// The official Segment and RudderStack Node SDKs, unmodified, pointed at our collector.
import { Analytics } from "@segment/analytics-node"
import RudderAnalytics from "@rudderstack/rudder-sdk-node"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { freshDir, query, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("real SDK clients", () => {
  it("@segment/analytics-node delivers every call type and they land", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const analytics = new Analytics({ writeKey: WRITE_KEY, host: url, flushAt: 3, maxRetries: 0 })
        const errors: Array<unknown> = []
        analytics.on("error", (e) => errors.push(e))
        analytics.identify({ userId: "seg-u1", traits: { plan: "pro" } })
        analytics.track({ userId: "seg-u1", event: "Order Completed", properties: { total: 99.5 } })
        analytics.page({ anonymousId: "seg-a1", name: "Pricing" })
        analytics.screen({ userId: "seg-u1", name: "Home" })
        analytics.group({ userId: "seg-u1", groupId: "g-1", traits: { name: "Acme" } })
        analytics.alias({ userId: "seg-u1", previousId: "seg-a1" })
        yield* Effect.promise(() => analytics.closeAndFlush({ timeout: 20_000 }))
        expect(errors).toEqual([])
        const rows = yield* query<{ type: string; profile_id: string; properties: string }>(
          "SELECT type, profile_id, properties FROM events ORDER BY type")
        expect(rows.map((r) => r.type)).toEqual(["alias", "group", "identify", "page", "screen", "track"])
        // The alias joins the anonymous page view to the user: one profile for all of them.
        expect(new Set(rows.map((r) => r.profile_id)).size).toBe(1)
        expect(JSON.parse(rows.find((r) => r.type === "track")!.properties)).toEqual({ total: 99.5 })
      })))

  it("@rudderstack/rudder-sdk-node delivers gzip batches and they land", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const client = new RudderAnalytics(WRITE_KEY, { dataPlaneUrl: url, flushAt: 20, retryCount: 0 })
        client.identify({ userId: "rs-u1", traits: { email: "x@example.com" } })
        client.track({ userId: "rs-u1", event: "Product Viewed", properties: { sku: "LO-1" } })
        client.page({ anonymousId: "rs-a1", name: "Home" })
        client.group({ userId: "rs-u1", groupId: "g-2" })
        client.alias({ userId: "rs-u1", previousId: "rs-a1" })
        // The SDK sends its first call at once and the rest on flush; a flush on the empty queue waits for both.
        yield* Effect.promise(() => client.flush())
        yield* Effect.promise(() => client.flush())
        const rows = yield* query<{ type: string; profile_id: string; context: string; original: string | null }>(
          "SELECT type, profile_id, context, toString(original_timestamp) AS original FROM events ORDER BY type")
        expect(rows.map((r) => r.type)).toEqual(["alias", "group", "identify", "page", "track"])
        expect(new Set(rows.map((r) => r.profile_id)).size).toBe(1)
        // RudderStack sends originalTimestamp rather than timestamp; it is kept.
        expect(rows.every((r) => r.original !== null)).toBe(true)
        expect(JSON.parse(rows[0]!.context)).toMatchObject({ library: { name: "analytics-node" } })
      })))
})
