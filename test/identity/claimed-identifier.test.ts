// A signed-in user who merely states another person's e-mail (an identify trait, a rectification) does not take it:
// found by a black-box probe, where the later statement cut the address in time and gave the later slice to the
// claimant, so a lookup by the address answered the claimant. A change of owner needs the value observed.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type Observation, resolveGraph, type Sighting } from "../../identity/graph.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { landClaim } from "../support/claims.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const DAY = 86_400_000
const s = (kind: Sighting["kind"], value: string, trust: Sighting["trust"] = "verified"): Sighting => ({ kind, value, trust })
const o = (messageId: string, day: number, ...sightings: Array<Sighting>): Observation => ({ messageId, timeMs: day * DAY, sightings })

const X = "x@example.com"
const profileOf = (obs: ReadonlyArray<Observation>, messageId: string) => {
  const r = resolveGraph("t", obs)
  return r.profileOf.get(r.anchorOf.get(messageId)!)
}
const holderOf = (obs: ReadonlyArray<Observation>, key: string) => resolveGraph("t", obs).profileOf.get(key)

describe("a value stated by a second user id", () => {
  const held = [
    o("u11-identify", 1, s("user_id", "u11"), s("email", X, "stated")),
    o("u11-mail", 2, s("email", X)),
    o("u11-again", 3, s("user_id", "u11"), s("email", X, "stated")),
  ]
  const claim = o("u10-identify", 5, s("user_id", "u10"), s("email", X, "stated"), s("anonymous_id", "a10"))

  it("stays with the user id that held it; the claim is refused with a reason a person can read", () => {
    const obs = [...held, claim]
    const r = resolveGraph("t", obs)
    expect(holderOf(obs, `email:${X}`)).toBe(profileOf(obs, "u11-identify"))
    expect(profileOf(obs, "u10-identify")).not.toBe(profileOf(obs, "u11-identify"))
    expect([...r.profileOf.keys()].filter((k) => k.startsWith("email:"))).toEqual([`email:${X}`])
    const refused = r.refused.filter((l) => l.messageId === "u10-identify")
    expect(refused).toEqual([expect.objectContaining({ a: "user_id:u10", b: `email:${X}` })])
    expect(refused[0]!.reason).toMatch(/another user id holds it: it stays with its holder/)
    // The claimant's other identifiers are still theirs.
    expect(r.profileOf.get("anonymous_id:a10")).toBe(profileOf(obs, "u10-identify"))
    // Whatever order the messages come in.
    expect(holderOf([...obs].reverse(), `email:${X}`)).toBe(profileOf(obs, "u11-identify"))
  })

  it("a statement carrying the value alone (a rectification's) after the claim does not hand it over", () => {
    const obs = [...held, claim, o("dsr:r1:0", 9, s("email", X, "stated"))]
    expect(holderOf(obs, `email:${X}`)).toBe(profileOf(obs, "u11-identify"))
    expect(profileOf(obs, "dsr:r1:0")).toBe(profileOf(obs, "u11-identify"))
  })

  it("an address unused for 90 days, then claimed and observed (mail from it), changed owner: each keeps their time", () => {
    const later = o("u10-identify", 100, s("user_id", "u10"), s("email", X, "stated"))
    const obs = [...held, later, o("mail-from-new-owner", 101, s("email", X))]
    expect(profileOf(obs, "mail-from-new-owner")).toBe(profileOf(obs, "u10-identify"))
    expect(profileOf(obs, "u11-mail")).toBe(profileOf(obs, "u11-identify"))
    expect(resolveGraph("t", obs).refused).toEqual([])
  })

  it("an address in use (mail to it in the 90 days before the claim) stays its holder's, whatever reaches it after", () => {
    const later = o("u10-identify", 100, s("user_id", "u10"), s("email", X, "stated"))
    const obs = [...held, o("newsletter-1", 40, s("email", X)), later, o("newsletter-2", 101, s("email", X))]
    expect(holderOf(obs, `email:${X}`)).toBe(profileOf(obs, "u11-identify"))
    expect(profileOf(obs, "newsletter-2")).toBe(profileOf(obs, "u11-identify"))
    expect(resolveGraph("t", obs).refused.map((l) => l.messageId)).toEqual(["u10-identify"])
    // So does one its holder stated in that time, and one mailed right after the claim.
    expect(holderOf([...held, claim, o("mail-after", 6, s("email", X))], `email:${X}`)).toBe(profileOf(obs, "u11-identify"))
  })

  it("a claim observed in its own message (a source that sees the address with the account) changes owner too", () => {
    const observed = o("u10-login", 5, s("user_id", "u10"), s("email", X))
    const obs = [...held, observed]
    expect(profileOf(obs, "u10-login")).not.toBe(profileOf(obs, "u11-identify"))
    expect(profileOf(obs, "u11-mail")).toBe(profileOf(obs, "u11-identify"))
    expect(resolveGraph("t", obs).refused).toEqual([])
  })
})

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a signed-in user's identify naming another person's e-mail, through the collector", () => {
  it("the lookup by the address still answers the person who held it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landClaim(url)
      const byAddress = yield* callApi(url, "GET", `/v1/profiles/${encodeURIComponent(`email:${X}`)}?tenant=acme`, TEST_ADMIN_TOKEN)
      const u11 = yield* callApi(url, "GET", "/v1/profiles/user_id:u11?tenant=acme", TEST_ADMIN_TOKEN)
      const u10 = yield* callApi(url, "GET", "/v1/profiles/user_id:u10?tenant=acme", TEST_ADMIN_TOKEN)
      expect(byAddress.status).toBe(200)
      expect(byAddress.body["profileId"]).toBe(u11.body["profileId"])
      expect(u10.body["profileId"]).not.toBe(u11.body["profileId"])
    })), 60_000)
})
