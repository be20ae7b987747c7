// What a marketer's token (role marketer, without profiles:identifiers) reads of a person through the profile routes on
// a real collector (embedded engine): no e-mail address and no phone number of theirs in any string of the profile,
// its timeline page or its identifier pages (event names, message ids, cursors, identifiers of other kinds), even
// when the person has more identifiers than one page; an admin still reads everything as stored.
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { Collector } from "../../ingest/collector.ts"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN, withApi as withCollector } from "../support/api.ts"
import { checkResponse, templateOf } from "../support/openapi.ts"
import { basicAuth, freshDir, type PipelineServices, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withApi = <A, E>(program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Scope.Scope>) => withCollector(dir, program)

const ADMIN = TEST_ADMIN_TOKEN

const get = (url: string, path: string, token: string) =>
  Effect.map(callApi(url, "GET", path, token), (res) => {
    checkResponse(templateOf(path), "GET", res.status, res.body)
    return res
  })

const batch = (url: string, messages: ReadonlyArray<Record<string, unknown>>) =>
  Effect.promise(() => fetch(`${url}/v1/batch`, {
    method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }, body: JSON.stringify({ batch: messages }),
  }).then((r) => r.status))

const marketerToken = (url: string) =>
  Effect.map(callApi(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme" }), (res) => {
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    return res.body.token as string
  })

const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean) =>
  Effect.gen(function* () {
    let last: A | undefined
    for (let i = 0; i < 200; i++) {
      last = yield* effect
      if (check(last)) return last
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.die(new Error(`condition not reached in 20 s; last: ${JSON.stringify(last).slice(0, 500)}`))
  })

/** Every string in a JSON value (keys too), with where it is; cursors decoded as well, since a client can decode them. */
const strings = (value: unknown, at = ""): Array<[string, string]> => {
  if (typeof value === "string") {
    const decoded = /cursor/i.test(at) ? Buffer.from(value, "base64url").toString("utf8") : ""
    return [[at, value], ...(decoded === "" ? [] : [[`${at} (decoded)`, decoded] as [string, string]])]
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${at}/${i}`))
  if (value !== null && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => [[`${at}/ (key)`, k] as [string, string], ...strings(v, `${at}/${k}`)])
  return []
}

/** The strings of a body that show one of `secrets` (an address, or a phone's digits however they are written). */
const leaks = (body: unknown, secrets: ReadonlyArray<RegExp>) =>
  strings(body).filter(([, s]) => secrets.some((re) => re.test(s))).map(([at, s]) => `${at}: ${s}`)

const ANN = [/ann@acme\.example/i, /7946\W?0958/, /acme-ann/]

describe("a marketer's profile read", () => {
  it("shows no e-mail address or phone number in any string of the timeline or the profile's events, however it was sent", () =>
    withApi((url) => Effect.gen(function* () {
      expect(yield* batch(url, [
        { type: "identify", userId: "ann", messageId: "m1", timestamp: "2024-10-01T10:00:00Z", traits: { email: "ann@acme.example", phone: "+44 20 7946 0958", plan: "pro" } },
        { type: "track", userId: "ann", messageId: "m2", timestamp: "2024-10-01T10:01:00Z", event: "Signed up ann@acme.example" },
        { type: "track", userId: "ann", messageId: "m3", timestamp: "2024-10-01T10:02:00Z", event: "Called back on 020 7946 0958" },
        { type: "track", userId: "ann", messageId: "m4", timestamp: "2024-10-01T10:03:00Z", event: "Order 12345678 shipped" },
        // A message id is the sender's free text too, and the timeline's cursor carries it.
        { type: "track", userId: "ann", messageId: "signup-ann@acme.example", timestamp: "2024-10-01T10:04:00Z", event: "Viewed" },
        { type: "track", userId: "ann", messageId: "m6", timestamp: "2024-10-01T09:00:00Z", event: "Opened" },
      ])).toBe(200)
      const marketer = yield* marketerToken(url)
      const admin = yield* eventually(get(url, "/v1/profiles/user_id%3Aann/events?tenant=acme", ADMIN), (r) => r.status === 200 && r.body.events.length === 6)
      // The admin reads what was sent.
      expect(admin.body.events.map((e: ApiBody) => e.event)).toContain("Signed up ann@acme.example")
      expect(leaks(admin.body, ANN).length).toBeGreaterThan(0)

      const timeline = yield* get(url, "/v1/profiles/user_id%3Aann/events?tenant=acme&limit=2", marketer)
      expect(timeline.status).toBe(200)
      expect(leaks(timeline.body, ANN)).toEqual([])
      expect(timeline.body.events.map((e: ApiBody) => e.event)).toEqual(["Viewed", "Order 12345678 shipped"])
      expect(timeline.body.events[0].messageId).toBe("[masked]")
      // The next page is reached with the cursor as given, and masked as the first.
      const rest = yield* get(url, `/v1/profiles/user_id%3Aann/events?tenant=acme&limit=10&cursor=${encodeURIComponent(timeline.body.nextCursor)}`, marketer)
      expect(rest.status, JSON.stringify(rest.body)).toBe(200)
      expect(rest.body.events.map((e: ApiBody) => e.event)).toEqual(["Called back on [masked]", "Signed up [masked]", "", "Opened"])
      expect(leaks(rest.body, ANN)).toEqual([])

      const profile = yield* get(url, "/v1/profiles/user_id%3Aann?tenant=acme&events=2", marketer)
      expect(profile.status).toBe(200)
      expect(leaks(profile.body, ANN)).toEqual([])
      // The person's own address is masked where it stands (signup-[masked]); any other address as the whole word.
      expect(profile.body.recentEvents.map((e: ApiBody) => e.messageId)).toEqual(["signup-[masked]", "m4"])
      // Its timeline's cursor leads on to the timeline route for the same caller.
      const more = yield* get(url, `/v1/profiles/user_id%3Aann/events?tenant=acme&cursor=${encodeURIComponent(profile.body.timeline.nextCursor)}`, marketer)
      expect(more.status, JSON.stringify(more.body)).toBe(200)
      expect(leaks(more.body, ANN)).toEqual([])
    })), 120_000)

  it("shows no e-mail address or phone number held as an identifier of another kind, in the profile or its identifier pages", () =>
    withApi((url) => Effect.gen(function* () {
      expect(yield* batch(url, [
        { type: "identify", userId: "ann@acme.example", anonymousId: "+44 20 7946 0958", messageId: "m1", traits: { plan: "pro" } },
      ])).toBe(200)
      const marketer = yield* marketerToken(url)
      const admin = yield* eventually(get(url, "/v1/profiles/user_id%3Aann%40acme.example/identifiers?tenant=acme", ADMIN), (r) => r.status === 200)
      expect(leaks(admin.body, ANN).length).toBeGreaterThan(0)
      const page = yield* get(url, "/v1/profiles/user_id%3Aann%40acme.example/identifiers?tenant=acme&limit=1", marketer)
      expect(page.status).toBe(200)
      expect(leaks(page.body, ANN)).toEqual([])
      const next = yield* get(url, `/v1/profiles/user_id%3Aann%40acme.example/identifiers?tenant=acme&cursor=${encodeURIComponent(page.body.nextCursor)}`, marketer)
      expect(next.status, JSON.stringify(next.body)).toBe(200)
      expect(leaks(next.body, ANN)).toEqual([])
      const profile = yield* get(url, "/v1/profiles/user_id%3Aann%40acme.example?tenant=acme", marketer)
      expect(profile.status).toBe(200)
      expect(leaks(profile.body, ANN)).toEqual([])
      expect(profile.body.identifiers.map((i: ApiBody) => [i.kind, i.value])).toEqual([["anonymous_id", "[masked]"], ["user_id", "[masked]"]])
    })), 120_000)

  it("masks the person's phone in traits when the phone identifier is past the first page of identifiers, without reading them all", () =>
    withApi((url) => Effect.gen(function* () {
      // 120 anonymous ids sort before "phone": the phone is on the second page of 100.
      const visits = Array.from({ length: 120 }, (_, i) => ({
        type: "track", userId: "ann", anonymousId: `acme-visit-${String(i).padStart(3, "0")}`, messageId: `v${i}`, event: "Viewed", timestamp: "2024-10-01T09:00:00Z",
      }))
      expect(yield* batch(url, [
        ...visits,
        {
          type: "identify", userId: "ann", messageId: "m1", timestamp: "2024-10-01T10:00:00Z",
          traits: { phone: "+44 20 7946 0958", fax: "020 7946 0958", digits: 2079460958, note: "ring 020-7946-0958", order: "order 12345678", assistant: "+1 415 555 0100" },
        },
      ])).toBe(200)
      const marketer = yield* marketerToken(url)
      const admin = yield* eventually(get(url, "/v1/profiles/user_id%3Aann?tenant=acme", ADMIN), (r) => r.status === 200 && r.body.traits.fax !== undefined && r.body.identifierCount === 122)
      // The phone is not on the profile's first page of identifiers.
      expect(admin.body.identifiers.some((i: ApiBody) => i.kind === "phone")).toBe(false)
      const profile = yield* get(url, "/v1/profiles/user_id%3Aann?tenant=acme", marketer)
      expect(profile.status).toBe(200)
      const values = Object.fromEntries(Object.entries(profile.body.traits as Record<string, ApiBody>).map(([k, t]) => [k, t.value]))
      expect(values).toMatchObject({ phone: "[masked]", fax: "[masked]", digits: "[masked]", note: "ring [masked]", order: "order 12345678", assistant: "[masked]" })
      expect(leaks(profile.body, [/7946/, /415 555/])).toEqual([])
    })), 120_000)
})
