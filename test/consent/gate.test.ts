import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { identifierKey, makeKeys } from "../../consent/keys.ts"
import { PREFERENCE_UPDATED, SUPPRESSED } from "../../consent/index.ts"
import { storeSuppressions } from "../../warehouse/suppressions.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { ALL, prefs, submit, web, withConsent } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const keys = makeKeys(new Uint8Array(32).fill(7))

describe("the suppression gate", () => {
  it("drops an erased person's messages before identity stores anything of them, counted as suppressed; a fresh grant lifts it", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* storeSuppressions([{ tenant: "acme", key: identifierKey(keys, "acme", "email", "ann@x.example"), suppressed: true, reason: "erasure", requestId: "r1", atMs: Date.now() }])
      const pipeline = yield* submit([
        // The erased address in another spelling, as a trait of a new browser.
        web("back", "2024-10-01T10:00:00.000Z", { type: "identify", anonymousId: "new-browser", traits: { email: " Ann@X.example" } }),
        web("mail", "2024-10-01T11:00:00.000Z", { channel: "email", source: "sendgrid", identifiers: [{ kind: "email", value: "ann@x.example" }] }),
        web("someone-else", "2024-10-01T10:00:00.000Z", { type: "identify", anonymousId: "b1", traits: { email: "bob@x.example" } }),
      ])
      expect(pipeline.counters.dropReasons).toEqual({ [SUPPRESSED]: 2 })
      expect(yield* query("SELECT message_id FROM events")).toEqual([{ message_id: "someone-else" }])
      expect(yield* query("SELECT message_id FROM identity_observations")).toEqual([{ message_id: "someone-else" }])
      // Ann comes back and says yes again: the suppression is lifted with that message as its proof, and she lands.
      yield* submit([web("yes-again", "2024-10-05T10:00:00.000Z", {
        anonymousId: "new-browser", event: PREFERENCE_UPDATED, traits: { email: "ann@x.example" }, context: prefs(ALL(true)),
      })])
      yield* submit([web("mail-2", "2024-10-06T11:00:00.000Z", { channel: "email", source: "sendgrid", identifiers: [{ kind: "email", value: "ann@x.example" }] })])
      expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([
        { message_id: "mail-2" }, { message_id: "someone-else" }, { message_id: "yes-again" },
      ])
      expect(yield* query("SELECT suppressed, request_id FROM suppressions WHERE reason = 'consent' AND key = {key:String}",
        { key: identifierKey(keys, "acme", "email", "ann@x.example") })).toEqual([{ suppressed: 0, request_id: "yes-again" }])
    }), undefined, keys))
})
