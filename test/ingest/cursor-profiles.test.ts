// The cursors of a profile's timeline and identifiers pages, of a person's consent history and of an audience's members
// page only the list, tenant and person (or audience) that gave them, as the other lists' do (ingest/pages.ts;
// test/ingest/cursor-lists, cursor-feeds). Before: the timeline's and the identifiers' cursors were a bare key (base64
// of JSON) that any profile of any tenant took, and one a client made by hand was taken too; a consent history cursor
// of one person paged another's history; an audience's ?after= was a profile id that any audience took.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { createAudience, refreshAudiences } from "../../identity/audiences/index.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { eventOn } from "../support/events.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, removeDir, WRITE_KEY } from "../support/pipeline.ts"
import { withConsent } from "../consent/support.ts"
import { AS_OF, landPeople, serveAudiences } from "../identity/audiences/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

type Reply = { readonly status: number; readonly body: ApiBody }

/**
 * Refused 400 naming `field`, as a cursor given elsewhere ("another"), one this API never gave ("not"), or either (a
 * cursor of a list keyed otherwise is not even a key of this one).
 */
const refused = (res: Reply, template: string, what: string, why: "another" | "not" | "either", field = "cursor") => {
  expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(400)
  expect(res.body, what).toMatchObject({ success: false, rule: "bad_cursor", field })
  expect(String(res.body.error), what).toMatch(why === "another" ? /another list or for another tenant/ : why === "not" ? /not a cursor this API gave/
    : /another list or for another tenant|not a cursor this API gave/)
  checkResponse(template, "GET", res.status, res.body)
}

const ok = (res: Reply, what: string) => {
  expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(200)
  return res.body
}

const handMade = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/** Three events of user u1 and of u2 of acme, and of u1 of globex, each person with a user id, an e-mail and a visitor id. */
const people: ReadonlyArray<CanonicalEvent> = ["acme", "globex"].flatMap((tenant) => ["u1", "u2"].flatMap((user) =>
  [1, 2, 3].map((day) => eventOn(`${tenant}-${user}-${day}`, day, {
    tenant, userId: user, anonymousId: `anon-${user}`, traits: { email: `${user}@${tenant}.example` },
  }))))

const EVENTS = "/v1/profiles/{identifier}/events"
const IDENTIFIERS = "/v1/profiles/{identifier}/identifiers"

describe("a profile's timeline and identifiers cursors", () => {
  it("are refused 400 on another profile, another tenant, the other list, and when made by hand; they page their own profile", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* (yield* Pipeline).submit(people, [])
      const get = (path: string) => callApi(url, "GET", path, ADMIN)
      const u1 = "/v1/profiles/user_id%3Au1"

      const first = ok(yield* get(`${u1}/events?tenant=acme&limit=1`), "u1's first page")
      expect(first.events.map((e: ApiBody) => e.messageId)).toEqual(["acme-u1-3"])
      const profileId = first.profileId as string
      const cursor = encodeURIComponent(first.nextCursor as string)
      refused(yield* get(`/v1/profiles/user_id%3Au2/events?tenant=acme&cursor=${cursor}`), EVENTS, "u1's timeline cursor on u2", "another")
      refused(yield* get(`${u1}/events?tenant=globex&cursor=${cursor}`), EVENTS, "acme's u1 cursor on globex's u1", "another")
      refused(yield* get(`${u1}/identifiers?tenant=acme&cursor=${cursor}`), IDENTIFIERS, "a timeline cursor on the identifiers page", "either")
      refused(yield* get(`${u1}/events?tenant=acme&cursor=${handMade([Date.UTC(2024, 9, 3), "acme-u1-3"])}`), EVENTS, "a timeline key made by hand", "not")
      // Its own profile pages on, by any of its identifiers or its profile id.
      for (const who of [u1, "/v1/profiles/email%3Au1%40acme.example", `/v1/profiles/${profileId}`]) {
        const next = ok(yield* get(`${who}/events?tenant=acme&limit=10&cursor=${cursor}`), `u1's cursor on ${who}`)
        expect(next.events.map((e: ApiBody) => e.messageId)).toEqual(["acme-u1-2", "acme-u1-1"])
      }
      // The profile read's first page of the timeline gives a cursor of the same list.
      const read = ok(yield* get(`${u1}?tenant=acme&events=1`), "u1's profile")
      const readCursor = encodeURIComponent(read.timeline.nextCursor as string)
      refused(yield* get(`/v1/profiles/user_id%3Au2/events?tenant=acme&cursor=${readCursor}`), EVENTS, "u1's profile's timeline cursor on u2", "another")
      expect(ok(yield* get(`${u1}/events?tenant=acme&cursor=${readCursor}`), "u1's profile's timeline cursor").events.map((e: ApiBody) => e.messageId))
        .toEqual(["acme-u1-2", "acme-u1-1"])

      const ids = ok(yield* get(`${u1}/identifiers?tenant=acme&limit=1`), "u1's first identifiers")
      expect(ids.identifierCount).toBe(3)
      const idCursor = encodeURIComponent(ids.nextCursor as string)
      refused(yield* get(`/v1/profiles/user_id%3Au2/identifiers?tenant=acme&cursor=${idCursor}`), IDENTIFIERS, "u1's identifiers cursor on u2", "another")
      refused(yield* get(`${u1}/identifiers?tenant=globex&cursor=${idCursor}`), IDENTIFIERS, "acme's u1 identifiers cursor on globex's u1", "another")
      refused(yield* get(`${u1}/events?tenant=acme&cursor=${idCursor}`), EVENTS, "an identifiers cursor on the timeline", "either")
      refused(yield* get(`${u1}/identifiers?tenant=acme&cursor=${handMade(["i", "anonymous_id", "anon-u1"])}`), IDENTIFIERS, "an identifiers key made by hand", "not")
      const rest = ok(yield* get(`/v1/profiles/${profileId}/identifiers?tenant=acme&limit=10&cursor=${idCursor}`), "u1's identifiers cursor")
      expect([...ids.identifiers, ...rest.identifiers].map((i: ApiBody) => i.kind).sort()).toEqual(["anonymous_id", "email", "user_id"])
    })), 60_000)
})

/** Three preference updates of ann and of bob of acme, and of ann of globex, a day apart (a ledger row per purpose each). */
const seedConsent = (url: string) =>
  Effect.gen(function* () {
    const batch = ["ann", "bob"].flatMap((user) => [0, 1, 2].map((i) => ({
      type: "track", event: "Segment Consent Preference Updated", userId: user, messageId: `${user}-c${i}`,
      timestamp: new Date(Date.UTC(2024, 0, 1 + i)).toISOString(),
      context: { consent: { categoryPreferences: { Analytics: true, Advertising: i % 2 === 0 } } },
    })))
    for (const [key, sent] of [[WRITE_KEY, batch], [OTHER_TENANT_KEY, batch.filter((m) => m.userId === "ann")]] as const) {
      const status = yield* Effect.promise(() => fetch(`${url}/v1/batch`, {
        method: "POST", headers: { authorization: basicAuth(key), "content-type": "application/json" }, body: JSON.stringify({ batch: sent }),
      }).then((r) => r.status))
      expect(status).toBe(200)
    }
    for (let i = 0; i < 200; i++) {
      const totals = yield* Effect.forEach([["ann", "acme"], ["bob", "acme"], ["ann", "globex"]], ([user, tenant]) =>
        Effect.map(callApi(url, "GET", `/v1/consent/user_id%3A${user}?tenant=${tenant}`, ADMIN), (r) => (r.status === 200 ? Number(r.body.historyTotal) : 0)))
      if (totals.every((n) => n >= 6)) return
      yield* Effect.sleep("100 millis")
    }
    throw new Error("the consent history did not land in 20 s")
  })

describe("a consent history cursor", () => {
  it("is refused 400 on another person's history, and pages its own person's by any identifier", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seedConsent(url)
      const get = (path: string) => callApi(url, "GET", path, ADMIN)
      const CONSENT = "/v1/consent/{identifier}"
      const first = ok(yield* get("/v1/consent/user_id%3Aann?tenant=acme&limit=1"), "ann's first page")
      const cursor = encodeURIComponent(first.nextCursor as string)
      refused(yield* get(`/v1/consent/user_id%3Abob?tenant=acme&cursor=${cursor}`), CONSENT, "ann's cursor on bob", "another")
      refused(yield* get(`/v1/consent/user_id%3Aann?tenant=globex&cursor=${cursor}`), CONSENT, "acme's ann cursor on globex", "another")
      const own = ok(yield* get(`/v1/consent/${first.profileId as string}?tenant=acme&limit=100&cursor=${cursor}`), "ann's cursor on ann's profile id")
      expect(own.history).toHaveLength(Number(first.historyTotal) - 1)
      expect(own.history.every((h: ApiBody) => String(h.messageId).startsWith("ann-"))).toBe(true)
    })), 60_000)
})

describe("an audience's members cursor (?after=)", () => {
  it("is refused 400 on another audience's members, as a bare profile id and as a feed's cursor; it pages its own", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const all = yield* createAudience("acme", { name: "Planned", purpose: "SocialListening", condition: { trait: "plan", exists: true } }, "test")
      const city = yield* createAudience("acme", { name: "Leeds", purpose: "Analytics", condition: { trait: "city", equals: "Leeds" } }, "test")
      const pipeline = yield* Pipeline
      const emit = (events: ReadonlyArray<CanonicalEvent>) => pipeline.submit(events, [], { archive: false })
      yield* refreshAudiences({ tenant: "acme", emit, asOfMs: AS_OF })
      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      const get = (path: string) => Effect.promise(async () => {
        const res = await fetch(`${base}${path}`)
        return { status: res.status, body: (await res.json()) as ApiBody }
      })
      const MEMBERS = "/v1/audiences/{id}/members"
      const whole = ok(yield* get(`/v1/audiences/${all.id}/members?tenant=acme&limit=100`), "every member")
      expect(whole.members.length).toBeGreaterThanOrEqual(2)
      const first = ok(yield* get(`/v1/audiences/${all.id}/members?tenant=acme&limit=1`), "the first member")
      checkResponse(MEMBERS, "GET", 200, first)
      expect(first.members).toHaveLength(1)
      const next = encodeURIComponent(first.next as string)
      refused(yield* get(`/v1/audiences/${city.id}/members?tenant=acme&after=${next}`), MEMBERS, "one audience's cursor on another's members", "another", "after")
      refused(yield* get(`/v1/audiences/${all.id}/members?tenant=globex&after=${next}`), MEMBERS, "acme's cursor on globex", "another", "after")
      refused(yield* get(`/v1/audiences/${all.id}/members?tenant=acme&after=${first.members[0].profileId as string}`), MEMBERS, "a bare profile id", "not", "after")
      const feed = ok(yield* get(`/v1/audiences/${all.id}/changes?tenant=acme&limit=1`), "the feed").cursor as string
      refused(yield* get(`/v1/audiences/${all.id}/members?tenant=acme&after=${encodeURIComponent(feed)}`), MEMBERS, "the feed's cursor on members", "another", "after")
      const rest = ok(yield* get(`/v1/audiences/${all.id}/members?tenant=acme&limit=100&after=${next}`), "its own members")
      expect([...first.members, ...rest.members].map((m: ApiBody) => m.profileId)).toEqual(whole.members.map((m: ApiBody) => m.profileId))
      expect(rest.next).toBeNull()
    })), 90_000)
})
