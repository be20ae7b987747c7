// An audience's name is how people tell audiences apart in lists: two names that look the same must not both exist.
// A name holding an invisible (format) or control character is refused, naming the character's code point; a name is
// kept in Unicode's composed form (NFC), so "Dúp" typed with a combining accent is the same name as with a precomposed ú.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { createAudience, editAudience } from "../../../identity/audiences/index.ts"
import { withConsent } from "../../consent/support.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ANYONE = { channel: "web" }
const create = (name: string) => createAudience("acme", { name, purpose: "Personalization", condition: ANYONE }, "test")
const refusal = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (e) => `${(e as { field?: string }).field}: ${(e as { reason?: string }).reason}`)

describe("audience names", () => {
  it("a name holding a format or control character is refused naming its code point; names equal once composed collide", () =>
    withConsent(dir, Effect.gen(function* () {
      const dup = yield* create("Dup")
      for (const [name, point] of [
        ["Dup\u200b", "U+200B"], ["\u200bDup", "U+200B"], ["Du\u00adp", "U+00AD"], ["\ufeffDup", "U+FEFF"], ["D\u2060up", "U+2060"],
        ["Dup\u200d", "U+200D"], ["x\u202ey", "U+202E"], ["a\u0085b", "U+0085"], ["tag\u{e0041}", "U+E0041"], ["a\u2028b", "U+2028"],
      ] as const) {
        const message = yield* refusal(create(name))
        expect(message, JSON.stringify(name)).toContain(point)
        expect(message, JSON.stringify(name)).toMatch(/^name: /)
        expect(message, JSON.stringify(name)).not.toMatch(/[\u200b\u00ad\ufeff\u2060\u200d\u202e\u0085\u2028]/u)
      }
      // A rename is checked as a new name is.
      expect(yield* refusal(editAudience("acme", dup.id, { name: "Dup\u200b" }, "test"))).toContain("U+200B")

      const composed = yield* create("D\u00fap")
      expect(composed.name).toBe("D\u00fap")
      expect((yield* Effect.flip(create("Du\u0301p"))).message).toMatch(/already has an audience named "D\u00fap"/)
      // Kept composed whichever way it was typed.
      const other = yield* create("Cafe\u0301")
      expect(other.name).toBe("Caf\u00e9")
      // Letters, marks, emoji and spaces of every script are names, with the joiners that make what they show: an emoji
      // sequence (woman technologist, family, rainbow flag), a Devanagari or Malayalam conjunct after a virama, a
      // Persian word's non-joiner between Arabic letters.
      for (const name of [
        "Café — VIP 😀", "عملاء مخلصون", "顧客 リスト", "\u{1f469}\u200d\u{1f4bb} devs", "\u{1f468}\u200d\u{1f469}\u200d\u{1f467} families",
        "\u{1f3f3}\ufe0f\u200d\u{1f308} pride", "\u0915\u094d\u200d\u0937 list", "\u0d28\u0d4d\u200d \u0d31", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
      ]) expect((yield* create(name)).name).toBe(name)
      // A joiner that joins nothing there still makes a second name that looks like the first.
      for (const [name, point] of [["a\u200db", "U+200D"], ["Dup\u200c", "U+200C"], ["\u200d\u{1f600}", "U+200D"], ["x\u200c\u0645", "U+200C"]] as const) {
        expect(yield* refusal(create(name)), JSON.stringify(name)).toContain(point)
      }
    })))
})
