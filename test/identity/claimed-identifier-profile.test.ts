// A profile read never shows an address identity refused to the profile as the profile's own: a signed-in user (u10)
// who states another user's (u11's) e-mail sees it flagged `claimed` with the refusal's reason, so nobody mails u11's
// address believing it is u10's; u11's read shows it as theirs.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { buildProfileDocuments, defaultIdentityConfig } from "../../identity/index.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { readProfile, readProfileOfDocument } from "../../ingest/profile-read.ts"
import { storeDocuments } from "../../warehouse/profile-documents.ts"
import { callApi, landBatch, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { landClaim } from "../support/claims.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

type Identifier = { kind: string; value: string; claimed?: string }
const emails = (body: Record<string, unknown>) => (body["identifiers"] as Array<Identifier>).filter((i) => i.kind === "email")

describe("the profile of a user who stated another person's e-mail", () => {
  it("lists the address flagged as claimed, with the reason; its holder's profile lists it as its own", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landClaim(url)
      const u10 = yield* callApi(url, "GET", "/v1/profiles/user_id:u10?tenant=acme", TEST_ADMIN_TOKEN)
      const u11 = yield* callApi(url, "GET", "/v1/profiles/user_id:u11?tenant=acme", TEST_ADMIN_TOKEN)
      expect(u10.status).toBe(200)
      expect(emails(u10.body)).toEqual([expect.objectContaining({ value: "x@example.com", claimed: expect.stringMatching(/another user id holds it: it stays with its holder/) })])
      expect(emails(u11.body)).toEqual([expect.not.objectContaining({ claimed: expect.anything() })])
      expect(emails(u11.body)[0]!.value).toBe("x@example.com")
      // Nor is it u10's e-mail trait (u10 stated no address of its own); u11's trait keeps it.
      const traits = (body: Record<string, unknown>) => body["traits"] as Record<string, { value: unknown }>
      expect(traits(u10.body)["email"]).toBeUndefined()
      expect(traits(u10.body)["name"]?.value).toBe("Ten")
      expect(traits(u11.body)["email"]?.value).toBe("X@Example.com")
      // The identifiers' own pages say the same.
      const page = yield* callApi(url, "GET", "/v1/profiles/user_id:u10/identifiers?tenant=acme", TEST_ADMIN_TOKEN)
      expect(page.status).toBe(200)
      expect(emails(page.body)).toEqual(emails(u10.body))
    })), 60_000)
})

describe("a profile document of a user who stated another person's e-mail", () => {
  it("answers as the read does, the address flagged as claimed", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const identity = defaultIdentityConfig()
      yield* pipeline.submit([eventOn("u11-1", 1, { type: "identify", userId: "u11", traits: { email: "X@Example.com" } })], [])
      yield* pipeline.submit([eventOn("u10-1", 3, { type: "identify", userId: "u10", traits: { email: "x@example.com" } })], [])
      const profiles = (yield* query<{ profile_id: string }>("SELECT DISTINCT profile_id FROM events WHERE tenant = 'acme' ORDER BY profile_id")).map((r) => r.profile_id)
      const built = yield* buildProfileDocuments("acme", profiles, Date.now())
      yield* storeDocuments("acme", built.documents)
      for (const id of ["user_id:u10", "user_id:u11"]) {
        const exact = yield* readProfile("acme", id, 20, identity)
        const stored = yield* readProfileOfDocument("acme", id, 20, identity, () => true)
        expect(stored, id).toEqual(exact)
        expect(JSON.stringify(stored).includes("\"claimed\""), id).toBe(id === "user_id:u10")
      }
    })), 60_000)
})

describe("a profile whose claimed e-mail lies past its first page of identifiers", () => {
  it("still does not take the address as its e-mail trait, read or answered from its document", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      // u10 with 105 anonymous ids: (anonymous_id, ...) sort before (email, ...), so the page of 100 ends before it.
      yield* landBatch(url, [
        { type: "identify", userId: "u11", messageId: "u11-1", timestamp: "2024-10-01T10:00:00.000Z", traits: { email: "X@Example.com" } },
      ], { identifier: "user_id:u11", events: 1 })
      const visits = Array.from({ length: 105 }, (_, i) => ({
        type: "track", userId: "u10", anonymousId: `anon-${String(i).padStart(3, "0")}`, event: "Viewed", messageId: `u10-v${i}`,
        timestamp: "2024-10-02T10:00:00.000Z",
      }))
      yield* landBatch(url, [...visits, {
        type: "identify", userId: "u10", messageId: "u10-1", timestamp: "2024-10-03T10:00:00.000Z", traits: { email: "x@example.com", name: "Ten" },
      }], { identifier: "user_id:u10", events: 106 })
      const u10 = yield* callApi(url, "GET", "/v1/profiles/user_id:u10?tenant=acme", TEST_ADMIN_TOKEN)
      expect(u10.status).toBe(200)
      expect(u10.body["identifierCount"]).toBe(107)
      expect(emails(u10.body)).toEqual([])
      const traits = u10.body["traits"] as Record<string, { value: unknown }>
      expect(traits["email"]).toBeUndefined()
      expect(traits["name"]?.value).toBe("Ten")
      // The identifiers' later page shows it flagged.
      const page = yield* callApi(url, "GET", `/v1/profiles/user_id:u10/identifiers?tenant=acme&cursor=${encodeURIComponent(String(u10.body["identifiersNextCursor"]))}`, TEST_ADMIN_TOKEN)
      expect(emails(page.body)).toEqual([expect.objectContaining({ value: "x@example.com", claimed: expect.any(String) })])
      // A document built of it answers the same.
      const identity = defaultIdentityConfig()
      const profiles = (yield* query<{ profile_id: string }>("SELECT DISTINCT profile_id FROM events WHERE tenant = 'acme'")).map((r) => r.profile_id)
      yield* storeDocuments("acme", (yield* buildProfileDocuments("acme", profiles, Date.now())).documents)
      const stored = yield* readProfileOfDocument("acme", "user_id:u10", 20, identity, () => true)
      expect(stored).toEqual(yield* readProfile("acme", "user_id:u10", 20, identity))
      expect((stored?.traits as Record<string, unknown> | undefined)?.["email"]).toBeUndefined()
    })), 90_000)
})
