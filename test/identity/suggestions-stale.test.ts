// A decision on a suggestion that left the list since it was shown (a console's stale list) is answered with why,
// not 404 unknown_suggestion: its profiles merged meanwhile (409 suggestion_profiles_merged, naming them and when), or
// a profile's messages moved to a new one (a split), so the pair is another suggestion (409 suggestion_replaced,
// naming it); one of whose profiles holds no identifier a link can name is dismissed as asked, and accepting it is 409
// suggestion_not_linkable. Found reading the routes: each answered 404 "no open suggestion", a mistyped id's answer.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, landBatch, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { landLookAlikes, openSuggestions } from "../support/look-alikes.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const decide = (url: string, id: string, what: "accept" | "dismiss") =>
  call(url, "POST", `/v1/identity/suggestions/${id}/${what}`, ADMIN, { reason: "from a stale list", tenant: "acme" })

describe("deciding a suggestion no longer listed", () => {
  it("whose two profiles merged since is 409 suggestion_profiles_merged naming them, for accept and dismiss alike", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      // Two browsers of one look-alike name, each with its own address: one suggestion.
      yield* landBatch(url, [
        { type: "identify", anonymousId: "a1", traits: { name: "Quinn Brennan", email: "quinn.brennan@x.example" }, messageId: "m1", timestamp: "2024-10-01T10:00:00Z" },
        { type: "identify", anonymousId: "a2", traits: { name: "Quinn Brennan", email: "quinn_brennan@x.example" }, messageId: "m2", timestamp: "2024-10-01T11:00:00Z" },
      ], { identifier: "anonymous_id:a2", events: 1 })
      const [shown] = yield* openSuggestions(url)
      expect(shown).toBeDefined()
      const { a, b } = shown as unknown as { a: string; b: string }
      // Then the first browser names the second address: the two profiles are one, and the list is stale.
      yield* landBatch(url, [
        { type: "identify", anonymousId: "a1", traits: { email: "quinn_brennan@x.example" }, messageId: "m3", timestamp: "2024-10-01T12:00:00Z" },
      ], { identifier: "anonymous_id:a2", events: 3 })
      expect(yield* openSuggestions(url)).toEqual([])
      for (const what of ["dismiss", "accept"] as const) {
        const r = yield* decide(url, shown!.id, what)
        expect(r, JSON.stringify(r.body)).toMatchObject({ status: 409, body: { rule: "suggestion_profiles_merged", field: "/id" } })
        expect(r.body.error).toContain(a)
        expect(r.body.error).toContain(b)
        expect(r.body.error).toContain("are now one profile")
      }
      const recorded = yield* call(url, "POST", "/v1/query", ADMIN, { sql: "SELECT count() AS n FROM identity_operations", tenant: "acme" })
      expect(recorded.body.rows, JSON.stringify(recorded.body)).toEqual([{ n: "0" }])
      // An id no suggestion ever had is still the 404 of a typo.
      expect((yield* decide(url, "sug_AAAAAAAAAAAAAAAA", "dismiss")).body).toMatchObject({ rule: "unknown_suggestion" })
    })), 60_000)

  it("whose profile's messages moved to a new profile is 409 suggestion_replaced naming the pair's suggestion now", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landLookAlikes(url)
      const [shown] = yield* openSuggestions(url)
      expect(shown).toBeDefined()
      // Both identifiers of u2's profile split from linking: its message moves to a new profile that no link can name.
      for (const identifier of ["user_id:u2", "email:quinn_brennan@x.example"]) {
        const split = yield* call(url, "POST", "/v1/identity/split", ADMIN, { identifier, reason: "a shared login", tenant: "acme" })
        expect(split.status, JSON.stringify(split.body)).toBe(200)
      }
      expect(yield* openSuggestions(url)).toEqual([])
      const moved = (yield* call(url, "POST", "/v1/query", ADMIN, { sql: "SELECT profile_id FROM events WHERE message_id = 'm2'", tenant: "acme" })).body.rows[0].profile_id as string
      let now = ""
      for (const what of ["dismiss", "accept"] as const) {
        const r = yield* decide(url, shown!.id, what)
        expect(r, JSON.stringify(r.body)).toMatchObject({ status: 409, body: { rule: "suggestion_replaced", field: "/id" } })
        expect(r.body.error).toContain(`is ${moved}`)
        expect(r.body.error).toContain(`profile ${moved} holds no identifier a link can name`)
        now = /so the pair is suggestion (sug_[\w-]+)/.exec(r.body.error)![1]!
      }
      // The pair's suggestion now, not listed: accepting it cannot merge them (409 saying so), dismissing it is recorded.
      expect(now).not.toBe(shown!.id)
      const accepted = yield* decide(url, now, "accept")
      expect(accepted, JSON.stringify(accepted.body)).toMatchObject({ status: 409, body: { rule: "suggestion_not_linkable", field: "/id" } })
      expect(accepted.body.error).toContain(`profile ${moved} holds no identifier a link can name`)
      const dismissed = yield* decide(url, now, "dismiss")
      expect(dismissed.status, JSON.stringify(dismissed.body)).toBe(200)
      expect(dismissed.body.operation).toMatchObject({ kind: "dismiss", a: now })
      expect((yield* decide(url, now, "dismiss")).body).toMatchObject({ rule: "suggestion_already_dismissed" })
      const links = yield* call(url, "POST", "/v1/query", ADMIN, { sql: "SELECT count() AS n FROM identity_operations WHERE kind = 'link'", tenant: "acme" })
      expect(links.body.rows, JSON.stringify(links.body)).toEqual([{ n: "0" }])
    })), 60_000)
})
