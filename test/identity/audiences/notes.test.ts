// The note kept with an audience's version (why it was saved) is read in its history by everyone who reads the
// audience: it is bounded and holds no control or invisible character (a line break or tab is fine).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { audienceHistory, createAudience, editAudience } from "../../../identity/audiences/index.ts"
import { withConsent } from "../../consent/support.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const INPUT = { name: "Web visitors", purpose: "Personalization", condition: { channel: "web" } }
const refusal = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (e) => `${(e as { field?: string }).field}: ${(e as { reason?: string }).reason}`)

describe("audience notes", () => {
  it("a note past 2,000 characters or holding a control or invisible character is refused naming it; nothing is saved", () =>
    withConsent(dir, Effect.gen(function* () {
      expect(yield* refusal(createAudience("acme", INPUT, "test", "x".repeat(200_000)))).toBe("note: may be at most 2000 characters (this one has 200000)")
      const audience = yield* createAudience("acme", INPUT, "test", "first cut\nfor the autumn\tcampaign")
      expect(yield* refusal(editAudience("acme", audience.id, { name: "Visitors" }, "test", "y".repeat(2001)))).toMatch(/^note: may be at most 2000/)
      expect(yield* refusal(editAudience("acme", audience.id, { name: "Visitors" }, "test", "ok\u202egnp.exe"))).toMatch(/^note: note ".*" holds U\+202E/)
      expect(yield* refusal(editAudience("acme", audience.id, { name: "Visitors" }, "test", "bell\u0007"))).toMatch(/^note: note ".*" holds U\+0007/)
      const history = yield* audienceHistory("acme", audience.id)
      expect(history.map((v) => v.note)).toEqual(["first cut\nfor the autumn\tcampaign"])
    })))
})
