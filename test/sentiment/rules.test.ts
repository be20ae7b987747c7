import { describe, expect, it } from "vitest"
import { createScorer, score, scoreMany, type EvidenceRule, type SentimentResult } from "../../sentiment/index.ts"

const rules = (r: SentimentResult): EvidenceRule[] => r.evidence.map((e) => e.rule)
const s = (text: string): number => score(text).score

describe("negation", () => {
  it("negation flips a positive word", () => {
    const plain = score("The jacket is comfortable")
    const negated = score("The jacket is not comfortable")
    expect(plain.label).toBe("positive")
    expect(negated.label).toBe("negative")
    expect(rules(negated)).toContain("negation")
  })

  it("negation flips a negative word to mildly positive", () => {
    expect(score("Never had a problem with them").label).toBe("positive")
    expect(s("Never had a problem with them")).toBeLessThan(-s("I had a problem with them") + 1e-9)
  })

  it("contracted and apostrophe-less negations both negate", () => {
    expect(score("I don't like it").label).toBe("negative")
    expect(score("I dont like it").label).toBe("negative")
    expect(score("I don\u2019t like it").label).toBe("negative")
  })

  it("negation does not reach past a clause boundary", () => {
    expect(score("It is not cheap, but it is good").label).toBe("positive")
    expect(s("no idea why, it is great")).toBeGreaterThan(0.5)
  })

  it("an intensifier under negation softens it: not very good is milder than not good", () => {
    expect(s("The fit was not very comfortable")).toBeLessThan(0)
    expect(s("The fit was not very comfortable")).toBeGreaterThan(s("The fit was not comfortable"))
  })

  it("a word that is neutral alone is a complaint when negated: doesn't work", () => {
    expect(score("The zipper works").score).toBe(0)
    expect(score("The zipper doesn't work").label).toBe("negative")
    expect(score("It never responded to my emails").label).toBe("negative")
  })

  it("'not only ... but also' is not a negation", () => {
    expect(score("Not only comfortable but also stylish").label).toBe("positive")
  })
})

describe("contrast", () => {
  it("the clause after 'but' outweighs the clause before it", () => {
    expect(score("The fabric is nice but the zipper broke").label).toBe("negative")
    expect(score("The zipper broke but the fabric is nice").label).toBe("positive")
    expect(rules(score("The fabric is nice but the zipper broke"))).toContain("contrast")
  })

  it("the main clause outweighs an 'although' clause, wherever it stands", () => {
    expect(score("Although the sizing is awful, I love the colour").label).toBe("positive")
    expect(score("I love the colour, although the sizing is awful").label).toBe("positive")
  })

  it("a sentence opening with 'But' contrasts with the sentence before", () => {
    expect(score("Great boots. But they fell apart in a week.").label).toBe("negative")
  })
})

describe("emphasis", () => {
  it("a word in capitals amid lower-case text counts more", () => {
    expect(s("This coat is GREAT")).toBeGreaterThan(s("This coat is great"))
    expect(rules(score("This coat is GREAT"))).toContain("caps")
  })

  it("text written entirely in capitals is not treated as shouting each word", () => {
    expect(rules(score("THIS COAT IS GREAT"))).not.toContain("caps")
    expect(s("THIS COAT IS GREAT")).toBeCloseTo(s("this coat is great"), 6)
  })

  it("repeated exclamation marks push further in the direction the text leans", () => {
    expect(s("good!!!")).toBeGreaterThan(s("good!"))
    expect(s("good!")).toBeGreaterThan(s("good"))
    expect(s("awful!!!")).toBeLessThan(s("awful"))
    expect(score("Order 1234 shipped!!!").score).toBe(0)
  })

  it("an elongated word counts as its word, emphasised: sooo goood", () => {
    const r = score("sooo goood")
    expect(r.label).toBe("positive")
    expect(rules(r)).toContain("elongation")
    expect(s("sooo goood")).toBeGreaterThan(s("so good"))
    expect(score("this is baaad").label).toBe("negative")
  })
})

describe("intensity", () => {
  it("an intensifier strengthens the next sentiment word", () => {
    expect(s("very good")).toBeGreaterThan(s("good"))
    expect(s("extremely disappointing")).toBeLessThan(s("disappointing"))
    expect(rules(score("very good"))).toContain("intensifier")
  })

  it("a dampener weakens it without flipping it", () => {
    expect(s("kind of good")).toBeLessThan(s("good"))
    expect(s("kind of good")).toBeGreaterThan(0)
    expect(s("slightly disappointing")).toBeGreaterThan(s("disappointing"))
    expect(s("slightly disappointing")).toBeLessThan(0)
    expect(rules(score("kind of good"))).toContain("dampener")
  })

  it("'pretty' modifies a following sentiment word and is not praise by itself", () => {
    expect(s("pretty bad")).toBeLessThan(0)
    expect(rules(score("pretty good"))).toContain("dampener")
  })
})

describe("emoji, emoticons, slang", () => {
  it("emoji carry sentiment", () => {
    expect(score("new boots 😍").label).toBe("positive")
    expect(score("new boots 😡").label).toBe("negative")
    expect(score("new boots 👍🏽").label).toBe("positive")
    expect(rules(score("new boots 😍"))).toContain("emoji")
  })

  it("emoticons carry sentiment, and a colon in prose is not one", () => {
    expect(score("arrived today :)").label).toBe("positive")
    expect(score("arrived today :(").label).toBe("negative")
    expect(score("Note: Done").score).toBe(0)
  })

  it("common slang and initialisms carry sentiment", () => {
    expect(score("my order is lost again smh").label).toBe("negative")
    expect(score("wtf is this").label).toBe("negative")
    expect(score("yay it came").label).toBe("positive")
    // VADER's lexicon rates the common ones ("wtf", "smh"); ours adds what it lacks ("fml", "yikes").
    expect(score("fml, missed it again").label).toBe("negative")
    expect(rules(score("fml, missed it again"))).toContain("slang")
  })

  it("'like' as a comparison is not liking", () => {
    expect(score("It looks like a tent").score).toBe(0)
    expect(score("I really like this tent").label).toBe("positive")
  })
})

describe("retail customer service", () => {
  it("delivery and product complaints are negative", () => {
    for (const text of ["My parcel never arrived", "late delivery again", "the strap fell apart after one wash", "wrong item sent"]) {
      expect(score(text).label, text).toBe("negative")
    }
    expect(rules(score("My parcel never arrived"))).toContain("domain")
  })

  it("words naming a topic are not praise: customer support, please help", () => {
    expect(score("I emailed customer support").score).toBe(0)
    expect(score("please help").score).toBe(0)
  })

  it("a size, a purchase order or a status is no sentiment; an escalation is a complaint", () => {
    expect(score("Does the coat run small? I am normally an L.").label).not.toBe("positive")
    expect(score("Invoice for PO 4471 attached").score).toBe(0)
    expect(score("The tracking page says label created").score).toBe(0)
    expect(score("Billing dispute, escalated to a team lead.").label).toBe("negative")
  })

  it("ratings in text become sentiment: 2/10, 5 stars, 4 out of 5", () => {
    expect(score("2/10").label).toBe("negative")
    expect(score("5 stars").label).toBe("positive")
    expect(score("I give it 4 out of 5").label).toBe("positive")
    expect(score("open 24/7").score).toBe(0)
  })
})

describe("result", () => {
  it("the score lies in [-1, 1] and the label follows the ±0.05 thresholds", () => {
    for (const text of ["AMAZING!!!! 😍😍😍 best best best LOVE", "awful terrible horrible 😡😡 worst!!!", "ok", "hello"]) {
      const r = score(text)
      expect(r.score).toBeGreaterThanOrEqual(-1)
      expect(r.score).toBeLessThanOrEqual(1)
      expect(r.label).toBe(r.score > 0.05 ? "positive" : r.score < -0.05 ? "negative" : "neutral")
    }
  })

  it("evidence weights add up to the raw sum the score is computed from", () => {
    const texts = ["good", "very good", "not good", "awful!!", "nice but late", "kind of nice 😍", "meh"]
    const rows = texts.map((t) => {
      const r = score(t)
      return { score: r.score, sum: r.evidence.reduce((n, e) => n + e.weight, 0) }
    })
    rows.sort((a, b) => a.sum - b.sum)
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.score).toBeGreaterThanOrEqual(rows[i - 1]!.score)
    for (const row of rows) expect(Math.sign(row.score)).toBe(Math.sign(Math.round(row.sum * 1000)))
  })

  it("text without sentiment words is scored neutral with no evidence", () => {
    const r = score("The order number is 5512")
    expect(r).toMatchObject({ status: "scored", score: 0, label: "neutral", language: "en" })
    expect(r.evidence).toEqual([])
  })

  it("scoreMany scores each text as score does", () => {
    const texts = ["love it", "hate it", "it is a shirt"]
    expect(scoreMany(texts)).toEqual(texts.map((t) => score(t)))
  })

  it("a text's score does not depend on the texts scored before it", () => {
    const texts = ["five tents and two stars", "5", "out of", "3 out of", "not", "but also", "good", "I like", "x y z w 10"]
    const forward = texts.map((t) => score(t))
    const backward = [...texts].reverse().map((t) => score(t)).reverse()
    expect(backward).toEqual(forward)
    score("two stars")
    expect(score("5")).toEqual(forward[1])
  })

  it("turning evidence off changes nothing but the evidence", () => {
    const bare = createScorer({ evidence: false })
    for (const text of ["not very good!!", "The zipper broke but the fabric is nice 😍"]) {
      expect(bare.score(text)).toEqual({ ...score(text), evidence: [] })
    }
  })
})
