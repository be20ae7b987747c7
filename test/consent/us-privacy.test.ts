// IAB US Privacy strings (CCPA, "1YNN": version, notice, opt-out of sale, LSPA): checked at the edge, and read into
// the ledger for the purposes the policy maps an opt-out of sale to (`usPrivacy`).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { consentHistory, consentState, DEFAULT_POLICY, parseConsentPolicies, readSignals } from "../../consent/index.ts"
import { validateSegmentMessage } from "../../ingest/sources/segment.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { submit, web, withConsent } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const profileOf = (messageId: string) =>
  Effect.map(query<{ profile_id: string }>("SELECT profile_id FROM events WHERE message_id = {id:String}", { id: messageId }), (r) => r[0]!.profile_id)

const track = (context: Record<string, unknown>, properties: Record<string, unknown> = {}) =>
  ({ type: "track", event: "E", anonymousId: "a1", messageId: "m1", context, properties })

describe("US Privacy strings", () => {
  it("are checked at the edge: version 1, then Y, N or - three times; anything else is bad_consent naming the field", () => {
    for (const ok of ["1YNN", "1YYN", "1---", "1nyy", "1-Y-"]) {
      expect(validateSegmentMessage(track({ consent: { usPrivacy: ok } })), ok).toBeNull()
    }
    for (const [context, field] of [
      [{ consent: { usPrivacy: "2YNN" } }, "/context/consent/usPrivacy"],
      [{ consent: { usPrivacy: "1YN" } }, "/context/consent/usPrivacy"],
      [{ consent: { us_privacy: "1XYZ" } }, "/context/consent/us_privacy"],
      [{ us_privacy: 1 }, "/context/us_privacy"],
      [{ consent: { usPrivacy: true } }, "/context/consent/usPrivacy"],
    ] as const) {
      expect(validateSegmentMessage(track(context)), field).toMatchObject({ rule: "bad_consent", field })
    }
  })

  it("an opt-out of sale (third character Y) refuses the purposes `usPrivacy` maps it to; N and - refuse nothing", () => {
    const signals = (usPrivacy: string, policy = DEFAULT_POLICY) =>
      readSignals(web("m", 1, { context: { consent: { usPrivacy } } }), policy).map((s) => [s.purpose, s.state, s.source])
    expect(signals("1YYN")).toEqual([["Advertising", "denied", "us_privacy"]])
    expect(signals("1NYN")).toEqual([["Advertising", "denied", "us_privacy"]])
    expect(signals("1yyn")).toEqual([["Advertising", "denied", "us_privacy"]])
    expect(signals("1YNN")).toEqual([])
    expect(signals("1---")).toEqual([])
    const policy = parseConsentPolicies({ "*": { usPrivacy: ["Advertising", "CrmSync"] } })["*"]
    expect(signals("1YYY", policy)).toEqual([["Advertising", "denied", "us_privacy"], ["CrmSync", "denied", "us_privacy"]])
    // Not opted out grants no consent-based purpose (an opt-out framework asks for no consent), but lifts an opt-out
    // of a purpose held on another basis.
    const objection = parseConsentPolicies({ "*": { usPrivacy: ["SocialListening"] } })["*"]
    expect(signals("1YNN", objection)).toEqual([["SocialListening", "granted", "us_privacy"]])
    expect(signals("1YYN", objection)).toEqual([["SocialListening", "denied", "us_privacy"]])
    // IAB's parameter name, on the context or in properties, is read too.
    expect(readSignals(web("m", 1, { context: { us_privacy: "1YYN" } }), DEFAULT_POLICY).map((s) => s.purpose)).toEqual(["Advertising"])
    expect(readSignals(web("m", 1, { properties: { us_privacy: "1YYN" } }), DEFAULT_POLICY).map((s) => s.purpose)).toEqual(["Advertising"])
  })

  it("a policy's usPrivacy must name existing purposes", () => {
    expect(() => parseConsentPolicies({ "*": { usPrivacy: ["Adverts"] } })).toThrow(/usPrivacy: names purpose "Adverts"/)
    expect(() => parseConsentPolicies({ "*": { usPrivacy: "Advertising" } })).toThrow(/usPrivacy: must be an array of purpose names/)
  })

  it("lands in the ledger with the string as its proof", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([web("u1", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: { consent: { usPrivacy: "1YYN" } } })])
      const profile = yield* profileOf("u1")
      expect(yield* consentState("acme", profile, "Advertising")).toMatchObject({ state: "denied", since: { source: "us_privacy", messageId: "u1" } })
      expect(JSON.parse((yield* consentHistory("acme", profile))[0]!.proof)).toEqual({ usPrivacy: "1YYN" })
    })))
})
