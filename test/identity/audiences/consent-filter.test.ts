// The consent filter audiences and exports embed: a purpose granted unless refused names the profiles it may NOT use,
// an opt-in purpose the ones it may. Whichever way it is asked, members and export answers must follow a withdrawal
// after a grant and a merge that brings a refusal, exactly as the list of consenting profiles does.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { consentingProfiles, consentingProfilesSql, PREFERENCE_UPDATED } from "../../../consent/index.ts"
import { audienceMembers, createAudience, refreshAudiences } from "../../../identity/audiences/index.ts"
import { exportCandidates, exportRemovals, recordExportState } from "../../../warehouse/exports.ts"
import { ALL, prefs, submit, web, withConsent } from "../../consent/support.ts"
import { freshDir, query, removeDir } from "../../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const profileOf = (messageId: string) =>
  Effect.map(query<{ profile_id: string }>("SELECT profile_id FROM events WHERE message_id = {id:String}", { id: messageId }), (r) => r[0]!.profile_id)

// Personalization is opt-in ("only" the granted); SocialListening is granted unless refused ("allBut" the refused).
const PURPOSES = ["Personalization", "SocialListening"] as const

describe("the consent filter of audiences and exports", () => {
  it("a withdrawal after a grant, and a merge of a refusing profile into a consenting one, give the members the consenting list gives", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("ann", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(true)) }),
        web("bea", "2024-10-01T10:00:00.000Z", { anonymousId: "b1", userId: "bea", context: prefs(ALL(true)) }),
        web("cy", "2024-10-01T10:00:00.000Z", { anonymousId: "c1" }),
        web("dee", "2024-10-02T10:00:00.000Z", { anonymousId: "d1", context: prefs(ALL(false)) }),
      ])
      const [ann, bea, cy, dee] = [yield* profileOf("ann"), yield* profileOf("bea"), yield* profileOf("cy"), yield* profileOf("dee")]
      const audiences = new Map<string, string>()
      for (const purpose of PURPOSES) {
        audiences.set(purpose, (yield* createAudience("acme", { name: `On the web, ${purpose}`, purpose, condition: { channel: "web" } }, "test")).id)
      }
      const members = (purpose: string) =>
        Effect.gen(function* () {
          yield* refreshAudiences({ tenant: "acme" })
          return (yield* audienceMembers("acme", audiences.get(purpose)!)).members.map((m) => m.profileId).sort()
        })
      const expectMembers = (expected: Record<(typeof PURPOSES)[number], ReadonlyArray<string>>) =>
        Effect.gen(function* () {
          for (const purpose of PURPOSES) {
            const got = yield* members(purpose)
            expect(got, purpose).toEqual([...expected[purpose]].sort())
            // The list is read by enumerating the profiles with events: the audience's filter must agree with it.
            expect(yield* consentingProfiles("acme", purpose), purpose).toEqual(got)
          }
        })
      expect((yield* consentingProfilesSql("acme", "Personalization")).uses).toBe("only")
      expect((yield* consentingProfilesSql("acme", "SocialListening")).uses).toBe("allBut")
      yield* expectMembers({ Personalization: [ann, bea], SocialListening: [ann, bea, cy] })

      // ann withdraws everything she granted.
      yield* submit([web("ann-w", "2024-10-05T10:00:00.000Z", { anonymousId: "a1", event: PREFERENCE_UPDATED, context: prefs(ALL(false)) })])
      yield* expectMembers({ Personalization: [bea], SocialListening: [bea, cy] })

      // dee (who refused, later than bea's grant) logs in as bea: the profiles merge and the refusal is the latest.
      yield* submit([web("dee-login", "2024-10-06T10:00:00.000Z", { anonymousId: "d1", userId: "bea", type: "identify", event: "" })])
      const merged = yield* profileOf("dee-login")
      expect(yield* profileOf("bea")).toBe(merged)
      expect(yield* profileOf("dee")).toBe(merged)
      const gone = merged === bea ? dee : bea
      yield* expectMembers({ Personalization: [], SocialListening: [cy] })

      // An export of SocialListening holding all four as they were: it removes the refused and the merged-away one,
      // and sends only cy.
      const consent = yield* consentingProfilesSql("acme", "SocialListening")
      yield* recordExportState("acme", "files", [ann, bea, cy, dee].map((profileId) => ({ profileId, fingerprint: "f", present: true, remoteId: "" })))
      const removals = (yield* exportRemovals({ tenant: "acme", destination: "files", consent })).map((r) => r.profile_id)
      expect(removals).toEqual([ann, merged, gone].sort())
      expect((yield* exportCandidates({ tenant: "acme", destination: "files", consent })).map((r) => r.profile_id)).toEqual([cy])
    })), 120_000)
})
