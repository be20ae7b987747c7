import { createHash } from "node:crypto"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { consentHistory, consentingProfiles, consentState, PREFERENCE_UPDATED, refusingProfiles } from "../../consent/index.ts"
import { identifierKey, makeKeys } from "../../consent/keys.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { ALL, prefs, submit, web, withConsent } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const profileOf = (messageId: string) =>
  Effect.map(query<{ profile_id: string }>("SELECT profile_id FROM events WHERE message_id = {id:String}", { id: messageId }), (r) => r[0]!.profile_id)

describe("the consent ledger from Segment's categoryPreferences", () => {
  it("records a change per purpose with basis, source, time and the carrying message; a repeat is no change", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("m1", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(true)) }),
        web("m2", "2024-10-01T11:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(true)) }),
        web("m3", "2024-10-02T10:00:00.000Z", { anonymousId: "a1", context: prefs({ ...ALL(true), Advertising: false }) }),
      ])
      const profile = yield* profileOf("m1")
      const history = yield* consentHistory("acme", profile)
      expect(history.filter((r) => r.purpose === "Advertising").map((r) => [r.messageId, r.state, r.source, r.basis])).toEqual([
        ["m1", "granted", "segment_preferences", "consent"], ["m3", "denied", "segment_preferences", "consent"],
      ])
      expect(history.filter((r) => r.messageId === "m2")).toEqual([])
      expect(JSON.parse(history.find((r) => r.messageId === "m3" && r.purpose === "Advertising")!.proof))
        .toEqual({ categoryPreferences: { ...ALL(true), Advertising: false } })
      expect((yield* consentState("acme", profile, "Advertising")).state).toBe("denied")
      expect((yield* consentState("acme", profile, "Analytics")).allowed).toBe(true)
      // Legitimate interest: the author said yes, and stays allowed.
      expect((yield* consentState("acme", profile, "SocialListening")).allowed).toBe(true)
    })))

  it("records every Segment Consent Preference Updated event, even one repeating the state in force", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("m1", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(false)) }),
        web("u1", "2024-10-01T10:05:00.000Z", { anonymousId: "a1", event: PREFERENCE_UPDATED, context: prefs(ALL(false)) }),
        web("u2", "2024-10-03T10:05:00.000Z", { anonymousId: "a1", event: PREFERENCE_UPDATED, context: prefs({ ...ALL(false), Analytics: true }) }),
      ])
      const profile = yield* profileOf("m1")
      const analytics = (yield* consentHistory("acme", profile)).filter((r) => r.purpose === "Analytics")
      expect(analytics.map((r) => [r.messageId, r.state, r.source])).toEqual([
        ["m1", "denied", "segment_preferences"], ["u1", "denied", "segment_preference_updated"], ["u2", "granted", "segment_preference_updated"],
      ])
      const state = yield* consentState("acme", profile, "Analytics")
      expect(state).toMatchObject({ state: "granted", allowed: true, since: { messageId: "u2", source: "segment_preference_updated", at: "2024-10-03T10:05:00.000Z" } })
    })))
})

describe("a withdrawal takes effect from its timestamp", () => {
  it("answers by time: allowed before the withdrawal, not at or after it; consentingProfiles drops the profile at once", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("g", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(true)) }),
        web("other", "2024-10-01T10:00:00.000Z", { anonymousId: "b1", context: prefs(ALL(true)) }),
      ])
      const profile = yield* profileOf("g")
      const other = yield* profileOf("other")
      expect(yield* consentingProfiles("acme", "Personalization")).toEqual([other, profile].sort())
      yield* submit([web("w", "2024-10-05T10:00:00.000Z", { anonymousId: "a1", event: PREFERENCE_UPDATED, context: prefs(ALL(false)) })])
      expect((yield* consentState("acme", profile, "Personalization", Date.parse("2024-10-05T09:59:59.999Z"))).allowed).toBe(true)
      expect((yield* consentState("acme", profile, "Personalization", Date.parse("2024-10-05T10:00:00.000Z"))).allowed).toBe(false)
      expect(yield* consentingProfiles("acme", "Personalization")).toEqual([other])
      expect(yield* consentingProfiles("acme", "Personalization", Date.parse("2024-10-04T00:00:00.000Z"))).toEqual([other, profile].sort())
      expect(yield* refusingProfiles("acme", "SocialListening")).toEqual([profile])
    })))

  it("a message later than the withdrawal that arrives late is stripped; an earlier one arriving late is kept whole", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("g", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: { ...prefs(ALL(true)), ip: "192.0.2.1" } }),
        web("w", "2024-10-05T10:00:00.000Z", { anonymousId: "a1", event: PREFERENCE_UPDATED, context: prefs(ALL(false)) }),
      ])
      yield* submit([
        web("late-before", "2024-10-04T10:00:00.000Z", { anonymousId: "a1", context: { ip: "192.0.2.1" } }),
        web("late-after", "2024-10-06T10:00:00.000Z", { anonymousId: "a1", context: { ip: "192.0.2.1" } }),
      ])
      const rows = yield* query<{ message_id: string; anonymous_id: string; context: string; extra: string }>(
        "SELECT message_id, anonymous_id, context, extra FROM events ORDER BY message_id")
      const byId = new Map(rows.map((r) => [r.message_id, r]))
      expect(byId.get("late-before")).toMatchObject({ anonymous_id: "a1", context: '{"ip":"192.0.2.1"}' })
      expect(byId.get("late-after")).toMatchObject({ anonymous_id: "", context: "{}", extra: '{"consent_stripped":"Analytics"}' })
      expect(byId.get("w")!.anonymous_id).toBe("")
    })))

  it("a withdrawal arriving after later messages were stored applies to those stored messages too", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("g", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(true)) }),
        web("later", "2024-10-07T10:00:00.000Z", { anonymousId: "a1", traits: { email: "ann@x.example" }, context: { ip: "192.0.2.1", locale: "en-GB" }, properties: { price: 3, email: "ann@x.example" } }),
        web("earlier", "2024-10-02T10:00:00.000Z", { anonymousId: "a1", context: { ip: "192.0.2.1" } }),
      ])
      yield* submit([web("w", "2024-10-05T10:00:00.000Z", { anonymousId: "a1", event: PREFERENCE_UPDATED, context: prefs(ALL(false)) })])
      const rows = yield* query<{ message_id: string; anonymous_id: string; traits: string; context: string; properties: string; extra: string }>(
        "SELECT message_id, anonymous_id, traits, context, properties, extra FROM events ORDER BY message_id")
      const byId = new Map(rows.map((r) => [r.message_id, r]))
      expect(byId.get("later")).toMatchObject({ anonymous_id: "", traits: "{}", context: '{"locale":"en-GB"}', properties: '{"price":3}', extra: '{"consent_stripped":"Analytics"}' })
      expect(byId.get("earlier")!.anonymous_id).toBe("a1")
    })))
})

describe("the ledger's device is the deployment's keyed hash", () => {
  const keys = makeKeys(new Uint8Array(32).fill(9))
  const device = (anonymousId: string) => identifierKey(keys, "acme", "anonymous_id", anonymousId)
  const plain = (anonymousId: string) => createHash("sha256").update(`acme\u0000${anonymousId}`).digest("hex")

  it("new rows hold the keyed hash of the anonymous id, never a plain hash of it", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([web("m1", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(true)) })])
      const rows = yield* query<{ device: string }>("SELECT DISTINCT device FROM consent_ledger")
      expect(rows.map((r) => r.device)).toEqual([device("a1")])
      expect(rows[0]!.device).not.toContain(plain("a1").slice(0, 16))
    }), undefined, keys))

  it("a ledger written with the old plain hash keeps working: a device re-stating its own old choice is no change", async () => {
    // Written before the keyed hash (no keys: the legacy hash), by two browsers of one signed-in person.
    await withConsent(dir, submit([
      web("m1", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", userId: "u1", context: prefs({ ...ALL(true) }) }),
      web("m2", "2024-10-02T10:00:00.000Z", { anonymousId: "a2", userId: "u1", context: prefs({ ...ALL(true), Analytics: false }) }),
    ]))
    await withConsent(dir, Effect.gen(function* () {
      // The first browser's stored "yes", sent again with its next page view: what it said before, not a new choice.
      yield* submit([web("m3", "2024-10-03T10:00:00.000Z", { anonymousId: "a1", userId: "u1", context: prefs(ALL(true)) })])
      const profile = yield* profileOf("m1")
      const analytics = (yield* consentHistory("acme", profile)).filter((r) => r.purpose === "Analytics")
      expect(analytics.map((r) => [r.messageId, r.state])).toEqual([["m1", "granted"], ["m2", "denied"]])
      expect((yield* consentState("acme", profile, "Analytics")).allowed).toBe(false)
      // A change it does make is recorded under the keyed hash.
      yield* submit([web("m4", "2024-10-04T10:00:00.000Z", { anonymousId: "a1", userId: "u1", context: prefs({ ...ALL(true), Advertising: false }) })])
      const m4 = (yield* consentHistory("acme", profile)).filter((r) => r.messageId === "m4")
      expect(m4.map((r) => [r.purpose, r.state, r.device])).toEqual([["Advertising", "denied", device("a1")]])
    }), undefined, keys)
  })
})
