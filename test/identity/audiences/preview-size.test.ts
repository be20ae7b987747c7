// A preview's "why each is in" is bounded: a sample of 1,000 of a 200-node condition repeated every condition for
// every profile (35 MB through POST /v1/audiences/preview). The first profiles of the sample are explained, as many as
// MAX_EXPLAINED_RESULTS leaf results allow (every profile when the condition has few leaves), the rest carry only their
// id (`explained` says how many are explained), and each condition's text and value seen are cut to PREVIEW_TEXT_CHARS.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type Condition, ConditionInvalid, MAX_EXPLAINED_RESULTS, parseCondition, PREVIEW_TEXT_CHARS, previewAudience } from "../../../identity/audiences/index.ts"
import { prefs, ALL, submit, web, withConsent } from "../../consent/support.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const PEOPLE = 60
const landPeople = submit(Array.from({ length: PEOPLE }, (_, i) =>
  web(`p${i}`, "2024-10-01T10:00:00.000Z", { userId: `p${i}`, type: "identify", event: "", traits: { plan: "pro", note: "n".repeat(500) }, context: prefs(ALL(true)) })))

const parsed = (c: Condition) => {
  const node = parseCondition(c)
  if (node instanceof ConditionInvalid) throw node
  return node
}

// 200 nodes: an and of four ors, each of a matching leaf and 48 (47) that match too (a trait that does not exist).
const WIDE: Condition = {
  and: Array.from({ length: 4 }, (_, a) => ({
    or: [{ trait: "plan", equals: "pro" }, ...Array.from({ length: a < 3 ? 48 : 47 }, (_, k) => ({ trait: `absent_${a}_${k}`, exists: false }))],
  })),
}

describe("an audience preview's explanation", () => {
  it("explains the first profiles of a large sample within the budget, the rest by id only", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const p = yield* previewAudience("acme", "Personalization", parsed(WIDE), 1000)
      expect(p.count).toBe(PEOPLE)
      expect(p.sample).toHaveLength(PEOPLE)
      const perProfile = Math.floor(MAX_EXPLAINED_RESULTS / 195)
      expect(p.explained).toBe(perProfile)
      expect(p.sample.slice(0, perProfile).every((s) => s.conditions.length === 195)).toBe(true)
      expect(p.sample.slice(perProfile).every((s) => s.conditions.length === 0 && s.profileId.startsWith("prof_"))).toBe(true)
      expect(p.sample.reduce((n, s) => n + s.conditions.length, 0)).toBeLessThanOrEqual(MAX_EXPLAINED_RESULTS)
      // A condition with few leaves: every sampled profile explained, as before.
      const few = yield* previewAudience("acme", "Personalization", parsed({ trait: "plan", equals: "pro" }), 1000)
      expect(few.explained).toBe(PEOPLE)
      expect(few.sample.every((s) => s.conditions.length === 1)).toBe(true)
    })), 120_000)

  it("cuts a long condition text and a long value seen", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const long = `n${"x".repeat(999)}`
      const p = yield* previewAudience("acme", "Personalization", parsed({ or: [{ trait: "note", in: [long, "y".repeat(1000)] }, { trait: "note", exists: true }] }), 5)
      expect(p.sample).toHaveLength(5)
      for (const c of p.sample.flatMap((s) => s.conditions)) {
        expect(c.condition.length).toBeLessThanOrEqual(PREVIEW_TEXT_CHARS)
        expect(c.value.length).toBeLessThanOrEqual(PREVIEW_TEXT_CHARS)
        expect(c.condition.startsWith('trait "note"')).toBe(true)
      }
      expect(p.sample[0]!.conditions[0]!.condition.endsWith("…")).toBe(true)
      expect(p.sample[0]!.conditions[1]!.value).toMatch(/^"nnnn.*…$/)
    })), 120_000)
})
