// Long and hostile texts: scoring is linear in text length, and only the beginning of a very long text is scored.
import { describe, expect, it } from "vitest"
import { cleanText, createScorer, score } from "../../sentiment/index.ts"
import { stem } from "../../sentiment/natural.ts"
import { MAX_SCORED_CHARS, scoringSteps } from "../../sentiment/score.ts"

const repeatTo = (unit: string, chars: number): string => unit.repeat(Math.ceil(chars / unit.length))

describe("a text longer than the scored limit", () => {
  it("a 9.5 MB text is scored on its first characters, and the result says how many of how many", () => {
    const text = repeatTo("I love this jacket but the delivery was slow. ", 9_500_000)
    const result = score(text)
    expect(result.status).toBe("scored")
    expect(result.truncated?.totalChars).toBe(text.length)
    const scored = result.truncated?.scoredChars ?? 0
    expect(scored).toBeLessThanOrEqual(MAX_SCORED_CHARS)
    expect(scored).toBeGreaterThan(MAX_SCORED_CHARS - 100)
    expect(result.reason).toBe(`scored the first ${scored} of ${text.length} characters`)
    // Exactly the beginning was scored, cut before a word rather than inside one.
    expect(text[scored]).toBe(" ")
    const { reason: _r, truncated: _t, ...rest } = result
    expect(score(text.slice(0, scored))).toEqual(rest)
  })

  it("a text at the limit is scored whole and says nothing about length", () => {
    const text = repeatTo("great fit. ", MAX_SCORED_CHARS).slice(0, MAX_SCORED_CHARS)
    const result = score(text)
    expect(result.truncated).toBeUndefined()
    expect(result.reason).toBeUndefined()
  })

  it("the cut never splits an emoji, and an unscored long text still says what was looked at", () => {
    const emoji = score("😡".repeat(30_000), undefined)
    expect(emoji.truncated?.scoredChars).toBe(MAX_SCORED_CHARS)
    const scorer = createScorer({ maxChars: 11 })
    expect(scorer.score("😡".repeat(20)).truncated?.scoredChars).toBe(10)
    expect(scorer.score(`${" ".repeat(20)}great`)).toMatchObject({
      status: "unscored", reason: "empty text (scored the first 11 of 25 characters)",
    })
  })
})

describe("scoring work grows linearly with text length", () => {
  // Each is repeated k and 4k times in one text; quadratic work would grow 16-fold, linear work at most 4-fold.
  const hostile: Record<string, string> = {
    "a run-on sentence full of contrasts": "it is good but it is bad ",
    "concessions in one sentence": "although it is good, it is bad and slow ",
    "sentences opening with But": "It was good.\nBut the fit was bad\n",
    "an aspect in every clause": "the delivery was bad, the price was good; support was slow and the app crashed, ",
    "negations and modifiers everywhere": "not very good, hardly really nice, never too bad ",
    "phrases and ratings": "out of stock 4 out of 5 never arrived 8/10 ",
  }
  const uncapped = createScorer({ maxChars: Number.POSITIVE_INFINITY })
  const stepsFor = (text: string): number => {
    const before = scoringSteps()
    uncapped.score(text)
    return scoringSteps() - before
  }
  for (const [name, unit] of Object.entries(hostile)) {
    it(name, () => {
      const small = stepsFor(unit.repeat(500))
      const large = stepsFor(unit.repeat(2_000))
      expect(small).toBeGreaterThan(500)
      expect(large / small).toBeLessThanOrEqual(4.05)
    })
  }

  it("only the first eight contrast words of a sentence move weight; each sentence has its own eight", () => {
    const contrasts = (text: string) => score(text).evidence.filter((e) => e.rule === "contrast").length
    expect(contrasts(Array(12).fill("it is good").join(" but "))).toBe(8)
    expect(contrasts(Array(12).fill("it is good but it is terrible").join(". "))).toBe(12)
  })
})

describe("hygiene and stemming stay linear on hostile input", () => {
  // Each of these took minutes to hours before (regular expressions that backtrack quadratically).
  it("a long run of address characters without a domain is left alone", () => {
    // Compared as booleans: a failure must not print megabytes.
    const local = `${"a".repeat(2_000_000)}@`
    expect(cleanText(local) === local).toBe(true)
    const dotted = `${"a.".repeat(1_000_000)}@`
    expect(cleanText(dotted) === dotted).toBe(true)
    expect(cleanText("mail me at jo.doe+shop@example.co.uk now")).toBe("mail me at   now")
  })

  it("a sign-off followed by a long run of spaces, and thousands of sign-off lines", () => {
    const spaced = `Thanks${" ".repeat(2_000_000)}x\nhello`
    expect(cleanText(spaced) === spaced).toBe(true)
    const lines = 250_000
    // Each sign-off line ends the text only when at most four lines follow it.
    expect(cleanText("Thanks,\n".repeat(lines)).split("\n")).toHaveLength(lines - 5)
  })

  it("a very long run of letters is its own stem", () => {
    const word = "bc".repeat(1_000_000)
    expect(stem(word) === word).toBe(true)
    expect(score(`on ${"x".repeat(1_000_000)}`).status).toBe("scored")
  })
})
