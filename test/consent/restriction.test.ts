// A restriction (GDPR Art. 18) attaches to the person's identifiers, not to the profile id of the day: a later merge
// carries it to the profile the person becomes part of, and a split leaves it with whoever holds the identifier.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { consentingProfiles, consentState } from "../../consent/index.ts"
import { Keys, makeKeys } from "../../consent/keys.ts"
import { restrictedProfiles, restrictSubject } from "../../consent/restriction.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { defaultIdentityConfig, rebuildIdentity, recordOperation } from "../../identity/index.ts"
import { storeRestriction } from "../../warehouse/dsr.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { ALL, prefs, submit, web, withConsent } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const keys = makeKeys(new Uint8Array(32).fill(3))

const profileOf = (messageId: string) =>
  Effect.map(query<{ profile_id: string }>("SELECT profile_id FROM events WHERE message_id = {id:String}", { id: messageId }), (r) => r[0]!.profile_id)

const mail = (id: string, at: string) =>
  web(id, at, { channel: "email", source: "sendgrid", identifiers: [{ kind: "email", value: "ann@x.example" }] })

const restricted = (profile: string) => Effect.map(consentState("acme", profile, "SocialListening"), (s) => s.restricted === true)

describe("a restriction follows the person's identifiers", () => {
  it("a merge after the request carries it to the merged profile; a split leaves it with the part holding the identifier", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("browse", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(true)) }),
        mail("letter", "2024-10-01T11:00:00.000Z"),
      ])
      const browser = yield* profileOf("browse")
      const mailbox = yield* profileOf("letter")
      expect(browser).not.toBe(mailbox)
      // The request names the e-mail address, which only the mailbox profile holds yet.
      const n = yield* restrictSubject(yield* resolveSubject("acme", "email:ann@x.example"), true, "dsr_test", Date.now())
      expect(n).toBe(1)
      expect(yield* restricted(mailbox)).toBe(true)
      expect(yield* restricted(browser)).toBe(false)
      expect(yield* consentingProfiles("acme", "SocialListening")).toEqual([browser])

      // Ann logs in on the browser: one person, under the browser's (older) profile id.
      yield* submit([web("login", "2024-10-02T10:00:00.000Z", { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example" } })])
      const person = yield* profileOf("login")
      expect(yield* profileOf("letter")).toBe(person)
      expect(person).toBe(browser)
      expect(yield* restricted(person)).toBe(true)
      expect((yield* consentState("acme", person, "Analytics")).allowed).toBe(false)
      expect(yield* consentingProfiles("acme", "SocialListening")).toEqual([])

      // An operator separates the user id from the address: the restriction stays with the address's holder.
      yield* recordOperation({ tenant: "acme", kind: "separate", a: "user_id:u1", b: "email:ann@x.example", reason: "two people" })
      yield* rebuildIdentity(defaultIdentityConfig(), "acme")
      const withAddress = yield* profileOf("letter")
      const withBrowser = yield* profileOf("browse")
      expect(withAddress).not.toBe(withBrowser)
      expect(yield* restrictedProfiles("acme", [withAddress, withBrowser])).toEqual(new Set([withAddress]))
      expect(yield* consentingProfiles("acme", "SocialListening")).toEqual([withBrowser])
    }).pipe(Effect.provideService(Keys, keys)), undefined, keys))

  it("a restriction recorded by profile id before still holds, and a lift by identifier lifts it too", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([mail("letter", "2024-10-01T11:00:00.000Z")])
      const mailbox = yield* profileOf("letter")
      yield* storeRestriction("acme", [mailbox], true, "dsr_old", Date.now() - 1000)
      expect(yield* restricted(mailbox)).toBe(true)
      expect(yield* consentingProfiles("acme", "SocialListening")).toEqual([])
      yield* restrictSubject(yield* resolveSubject("acme", "email:ann@x.example"), false, "dsr_lift", Date.now())
      expect(yield* restricted(mailbox)).toBe(false)
      expect(yield* consentingProfiles("acme", "SocialListening")).toEqual([mailbox])
    }).pipe(Effect.provideService(Keys, keys)), undefined, keys))

  it("without the deployment's keys, restrictions in force cannot be resolved: nothing is used (fail closed)", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([mail("letter", "2024-10-01T11:00:00.000Z"), web("other", "2024-10-01T11:00:00.000Z", { anonymousId: "b1" })])
      const other = yield* profileOf("other")
      yield* restrictSubject(yield* resolveSubject("acme", "email:ann@x.example"), true, "dsr_test", Date.now()).pipe(Effect.provideService(Keys, keys))
      expect(yield* consentingProfiles("acme", "SocialListening")).toEqual([])
      expect(yield* restricted(other)).toBe(true)
    })))
})
