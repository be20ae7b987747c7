// Data-subject requests by an address another signed-in user merely stated (found by a black-box probe: the request
// reached the claimant, so an erasure by the address erased the wrong person). A request by an identifier answers
// its holder only, says which profile that is, and names the other profiles that state the value.
import { Effect } from "effect"
import { strFromU8, unzipSync } from "fflate"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { type ApiBody, callApi, landBatch, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const X = "x@example.com"

/** u11 holds x@example.com (identify, then a purchase); u10, signed in, later states it in an identify of its own. */
const seed = (url: string) =>
  Effect.gen(function* () {
    yield* landBatch(url, [
      { type: "identify", userId: "u11", messageId: "u11-1", timestamp: "2024-10-01T10:00:00.000Z", traits: { email: "X@Example.com", name: "Eleven" } },
      { type: "track", userId: "u11", event: "Order Completed", messageId: "u11-2", timestamp: "2024-10-02T10:00:00.000Z", properties: { total: 11 } },
    ], { identifier: "user_id:u11", events: 2 })
    yield* landBatch(url, [
      { type: "identify", userId: "u10", messageId: "u10-1", timestamp: "2024-10-05T10:00:00.000Z", traits: { email: X, name: "Ten" } },
      { type: "track", userId: "u10", event: "Order Completed", messageId: "u10-2", timestamp: "2024-10-05T10:01:00.000Z", properties: { total: 10 } },
    ], { identifier: "user_id:u10", events: 2 })
  })

const profileId = (url: string, identifier: string) =>
  Effect.map(callApi(url, "GET", `/v1/profiles/${encodeURIComponent(identifier)}?tenant=acme`, TEST_ADMIN_TOKEN), (r) => r.status === 200 ? String(r.body["profileId"]) : undefined)

const dsr = (url: string, body: Record<string, unknown>) =>
  Effect.map(callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { tenant: "acme", ...body }), (r) => {
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    const request = r.body["request"] as ApiBody
    expect(request["status"], String(request["error"])).toBe("completed")
    return request
  })

const messagesOf = (profile: string) =>
  Effect.map(query<{ message_id: string }>("SELECT message_id FROM events WHERE tenant = 'acme' AND profile_id = {p:String} ORDER BY message_id", { p: profile }),
    (rows) => rows.map((r) => r.message_id))

describe("data-subject requests by an address another user stated", () => {
  it("access answers the address's holder only, names that profile, and reports the other profile stating it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const u11 = (yield* profileId(url, "user_id:u11"))!
      const u10 = (yield* profileId(url, "user_id:u10"))!
      const r = yield* dsr(url, { type: "access", identifier: `email:${X}` })
      const bundle = r["details"]["bundle"] as { key: string }
      const files = unzipSync((yield* (yield* ObjectStore).get(bundle.key))!)
      const json = JSON.parse(strFromU8(files["subject.json"]!))
      expect(json.subject.profiles).toEqual([u11])
      expect(json.data.event_rows.map((e: { message_id: string }) => e.message_id).sort()).toEqual(["u11-1", "u11-2"])
      expect(JSON.stringify(json)).not.toContain("Ten")
      expect(JSON.stringify(json)).not.toContain(u10)
      expect(json.subject.resolvedTo).toEqual({ identifier: `email:${X}`, profiles: [u11] })
      expect(json.subject.statedElsewhere).toEqual([expect.objectContaining({ kind: "email", value: X, profiles: 1 })])
      // The request's record says how many profiles it resolved to and that another states the address.
      expect(r["details"]["resolvedTo"]).toHaveLength(1)
      expect(r["details"]["statedElsewhere"]).toEqual([expect.objectContaining({ kind: "email", profiles: 1 })])
    })), 120_000)

  it("erasure by the address erases its holder, not the user who stated it, and cuts the address out of that user's records", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const u10 = (yield* profileId(url, "user_id:u10"))!
      const r = yield* dsr(url, { type: "erasure", identifier: `email:${X}` })
      expect(yield* profileId(url, "user_id:u11")).toBeUndefined()
      expect(yield* profileId(url, "user_id:u10")).toBe(u10)
      expect(yield* messagesOf(u10)).toEqual(["u10-1", "u10-2"])
      const left = yield* query<{ n: string }>("SELECT count() AS n FROM event_rows WHERE tenant = 'acme' AND positionCaseInsensitive(toString(traits), {x:String}) > 0", { x: X })
      expect(Number(left[0]!.n)).toBe(0)
      const cut = (r["done"] as Array<{ where: string; what: string; count: number }>).find((d) => d.what.startsWith("identifier cut out of other profiles"))
      expect(cut?.count).toBe(1)
    })), 180_000)

  it("erasure of the user who stated it leaves the holder's address and data alone", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const u11 = (yield* profileId(url, "user_id:u11"))!
      yield* dsr(url, { type: "erasure", identifier: "user_id:u10" })
      expect(yield* profileId(url, `email:${X}`)).toBe(u11)
      expect(yield* messagesOf(u11)).toEqual(["u11-1", "u11-2"])
      const kept = yield* query<{ n: string }>("SELECT count() AS n FROM event_rows WHERE tenant = 'acme' AND message_id = 'u11-1' AND positionCaseInsensitive(toString(traits), {x:String}) > 0", { x: X })
      expect(Number(kept[0]!.n)).toBe(1)
    })), 180_000)

  it("the holder's own rectification by the address, after the claim, keeps the address theirs", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const u11 = (yield* profileId(url, "user_id:u11"))!
      yield* dsr(url, { type: "rectification", identifier: `email:${X}`, set: { name: "Eleven Corrected" } })
      for (let i = 0; i < 100; i++) {
        const landed = yield* query<{ n: string }>("SELECT count() AS n FROM events WHERE tenant = 'acme' AND source = 'dsr'")
        if (Number(landed[0]!.n) > 0) break
        yield* Effect.sleep("50 millis")
      }
      expect(yield* profileId(url, `email:${X}`)).toBe(u11)
      const corrected = yield* query<{ profile_id: string }>("SELECT profile_id FROM events WHERE tenant = 'acme' AND source = 'dsr'")
      expect(corrected.map((r) => r.profile_id)).toEqual(expect.arrayContaining([u11]))
      expect(new Set(corrected.map((r) => r.profile_id))).toEqual(new Set([u11]))
    })), 180_000)

  it("a rectification setting another person's address on a user does not take the address from its holder", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const u11 = (yield* profileId(url, "user_id:u11"))!
      yield* dsr(url, { type: "rectification", identifier: "user_id:u10", set: { email: X } })
      for (let i = 0; i < 100; i++) {
        const landed = yield* query<{ n: string }>("SELECT count() AS n FROM events WHERE tenant = 'acme' AND source = 'dsr'")
        if (Number(landed[0]!.n) > 0) break
        yield* Effect.sleep("50 millis")
      }
      expect(yield* profileId(url, `email:${X}`)).toBe(u11)
      const r = yield* dsr(url, { type: "access", identifier: `email:${X}` })
      expect(r["details"]["statedElsewhere"]).toEqual([expect.objectContaining({ kind: "email", profiles: 1 })])
    })), 180_000)
})
