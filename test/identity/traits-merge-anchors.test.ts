// Traits across merges, against the failures other CDPs' users reported: each test reproduces one reported case and
// shows we keep the trait a person stated last (by event time, within the source ranking), whatever side of a merge
// it came from, in whatever order the messages arrive, in the profile read and the profiles view alike.
//   PostHog/posthog#9157: on identify/alias the property of "person 1" wins a conflict, so a newer value stated while
//     anonymous is lost (or an older one overwrites a newer one), depending on merge direction.
//   PostHog/posthog#10340: a $identify that merges and also $sets wrote three person rows with the same _timestamp;
//     which one won was a race.
//   apache/unomi#262 (UNOMI-443): merging profiles overrode nested properties with the merged profile's.
//   jitsucom/jitsu#1133: identity stitching updated only user_id on earlier anonymous records, not the traits the
//     identify stated, so querying by trait missed the anonymous history.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseIdentifier, showProfile } from "../../identity/index.ts"
import type { IdentifierRef } from "../../identity/index.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ref = (text: string) => parseIdentifier(text) as IdentifierRef
const email = [{ kind: "email", value: "ann@x.example" }] as const

/** Every order of a list (small lists only). */
const permutations = <A>(xs: ReadonlyArray<A>): Array<Array<A>> =>
  xs.length <= 1 ? [[...xs]] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]))

/** Lands the messages one submit at a time, in each order, each order as its own tenant; returns the tenants. */
const landInEveryOrder = (messages: ReadonlyArray<CanonicalEvent>) =>
  Effect.gen(function* () {
    const pipeline = yield* Pipeline
    const tenants: Array<string> = []
    for (const [i, order] of permutations(messages).entries()) {
      const tenant = `order${i}`
      tenants.push(tenant)
      for (const m of order) yield* pipeline.submit([{ ...m, tenant }], [])
    }
    return tenants
  })

/** The profiles view's traits of the profile holding an identifier. */
const viewTraits = (tenant: string, kind: string, value: string) =>
  Effect.gen(function* () {
    const rows = yield* query<{ traits: Record<string, string> }>(
      "SELECT traits FROM profiles WHERE tenant = {tenant:String} AND has(identifiers, ({kind:String}, {value:String}))", { tenant, kind, value })
    expect(rows).toHaveLength(1)
    return rows[0]!.traits
  })

describe("traits survive merges where other CDPs corrupt them", () => {
  it("PostHog#9157: the newer statement wins a merge, whichever profile it was on and whichever way the merge goes", () =>
    withPipeline(dir, Effect.gen(function* () {
      // Ann's mailbox states York on day 3; an anonymous chat visitor states Leeds on day 5; on day 8 the visitor
      // gives Ann's address and the two profiles merge into the older one (the mailbox's). Same rank: no identify.
      const mail = eventOn("mail", 3, { source: "email", channel: "email", identifiers: [...email], traits: { city: "York" } })
      const visit = eventOn("visit", 5, { source: "chat", channel: "chat", anonymousId: "v9", traits: { city: "Leeds" } })
      const joins = eventOn("joins", 8, { source: "chat", channel: "chat", anonymousId: "v9", identifiers: [...email] })
      for (const tenant of yield* landInEveryOrder([mail, visit, joins])) {
        const byMail = yield* showProfile(tenant, ref("email:ann@x.example"))
        const byVisitor = yield* showProfile(tenant, ref("anonymous_id:v9"))
        expect(byVisitor.profileId, tenant).toBe(byMail.profileId)
        expect(byMail.traits["city"], tenant).toMatchObject({ value: "Leeds", source: "chat" })
        expect(byMail.traits["city"]!.at, tenant).toMatch(/^2024-10-05/)
        expect(yield* viewTraits(tenant, "email", "ann@x.example"), tenant).toMatchObject({ city: '"Leeds"' })
      }
    })), 60_000)

  it("PostHog#10340: the traits of the identify that causes the merge are what the merged profile shows, with no race", () =>
    withPipeline(dir, Effect.gen(function* () {
      // Two profiles (a logged-in user, an anonymous visitor) each state a plan; the identify that joins them states
      // a newer plan. All three carry the same arrival time: only event time may decide.
      const login = eventOn("login", 2, { type: "identify", userId: "u1", traits: { plan: "free", name: "Ann" } })
      const anon = eventOn("anon", 4, { type: "identify", anonymousId: "a1", traits: { plan: "trial", colour: "teal" } })
      const merge = eventOn("merge", 6, { type: "identify", userId: "u1", anonymousId: "a1", traits: { plan: "pro" } })
      for (const tenant of yield* landInEveryOrder([login, anon, merge])) {
        const p = yield* showProfile(tenant, ref("anonymous_id:a1"))
        expect(p.profileId, tenant).toBe((yield* showProfile(tenant, ref("user_id:u1"))).profileId)
        // Nothing either side stated is dropped; the conflict goes to the newest statement.
        expect(Object.fromEntries(Object.entries(p.traits).map(([k, t]) => [k, t.value])), tenant).toEqual({ plan: "pro", name: "Ann", colour: "teal" })
        expect(yield* viewTraits(tenant, "user_id", "u1"), tenant).toMatchObject({ plan: '"pro"', name: '"Ann"', colour: '"teal"' })
      }
    })), 60_000)

  it("UNOMI-443: a nested trait is never overridden by the merged profile's older one, nor mixed with it", () =>
    withPipeline(dir, Effect.gen(function* () {
      const mail = eventOn("mail", 2, { source: "email", channel: "email", identifiers: [...email], traits: { address: { city: "York", street: "1 Old Rd" } } })
      const visit = eventOn("visit", 6, { source: "chat", channel: "chat", anonymousId: "v9", traits: { address: { city: "Leeds", zip: "LS1" } } })
      const joins = eventOn("joins", 9, { source: "chat", channel: "chat", anonymousId: "v9", identifiers: [...email] })
      for (const tenant of yield* landInEveryOrder([mail, visit, joins])) {
        const p = yield* showProfile(tenant, ref("email:ann@x.example"))
        // The address stated last, whole: no street of the old address under the new city.
        expect(p.traits["address"]?.value, tenant).toEqual({ city: "Leeds", zip: "LS1" })
        expect(JSON.parse((yield* viewTraits(tenant, "email", "ann@x.example"))["address"]!), tenant).toEqual({ city: "Leeds", zip: "LS1" })
      }
    })), 60_000)

  it("Jitsu#1133: after stitching, the anonymous history belongs to the profile and a query by an identify's trait finds it", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pages = [1, 2].map((d) => eventOn(`page${d}`, d, { type: "page", anonymousId: "a7" }))
      const identify = eventOn("identify", 4, { type: "identify", userId: "u7", anonymousId: "a7", traits: { email: "ann@x.example", mobile: "5556668877" } })
      for (const tenant of yield* landInEveryOrder([pages[0]!, pages[1]!, identify])) {
        const p = yield* showProfile(tenant, ref("anonymous_id:a7"))
        expect(p.traits["mobile"]?.value, tenant).toBe("5556668877")
        // The segment query a marketer writes: by trait, then the person's events: both anonymous pages and the identify.
        const rows = yield* query<{ n: string }>(
          "SELECT count() AS n FROM events WHERE tenant = {tenant:String} AND profile_id IN " +
            "(SELECT profile_id FROM profiles WHERE tenant = {tenant:String} AND traits['mobile'] = '\"5556668877\"')", { tenant })
        expect(Number(rows[0]!.n), tenant).toBe(3)
      }
    })), 60_000)
})
