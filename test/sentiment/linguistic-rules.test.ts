// Each scoring rule pinned by sentences written for it (none comes from an evaluation set).
import { describe, expect, it } from "vitest"
import { score, type EvidenceRule, type SentimentResult } from "../../sentiment/index.ts"

const s = (text: string): number => score(text).score
const rules = (r: SentimentResult): EvidenceRule[] => r.evidence.map((e) => e.rule)

describe("lexicon: human-rated valences, and no sentiment for words without their own", () => {
  it("quantity, comparison, novelty and ranking words are neutral", () => {
    for (const text of ["There are more chairs than tables", "The new timetable starts in March", "She came first in the heat",
      "Fewer trains run on Sundays", "The number of visitors doubled"]) {
      expect(s(text), text).toBe(0)
    }
  })

  it("verbs of thinking and wondering are neutral", () => {
    for (const text of ["I think the meeting moved to Tuesday", "I wonder where the ferry goes", "They believe it opens at nine"]) {
      expect(s(text), text).toBe(0)
    }
  })

  it("words the raters put near neutral carry nothing; clearly rated words carry their rating's sign", () => {
    expect(s("a challenge for the council")).toBe(0)
    expect(score("the soup was wonderful").label).toBe("positive")
    expect(score("the soup was dreadful").label).toBe("negative")
    expect(rules(score("the soup was wonderful"))).toEqual(["lexicon"])
  })

  it("an unlisted inflection takes its base word's rating", () => {
    expect(score("the noise horrifies the neighbours").label).toBe("negative")
  })
})

describe("negation scope", () => {
  it("a negation governs the next three words", () => {
    expect(score("the lecture was not interesting").label).toBe("negative")
    expect(score("not in the least bit interesting").label).toBe("positive") // five words away: out of scope
  })

  it("a negation stops at a clause boundary", () => {
    expect(score("not now, I am happy").label).toBe("positive")
    expect(score("no, the garden is lovely").label).toBe("positive")
  })

  it("a negation is counted once: two negators before one word flip it once", () => {
    expect(s("it is not never enjoyable")).toBeCloseTo(s("it is never enjoyable"), 6)
    expect(score("it is never enjoyable").label).toBe("negative")
  })

  it("a negated word that is neutral alone is a complaint, unless a sentiment word in the scope takes the negation", () => {
    expect(score("the kettle doesn't work").label).toBe("negative")
    const both = score("the kettle doesn't work well")
    expect(both.evidence.filter((e) => e.rule === "negation")).toHaveLength(1)
    expect(both.label).toBe("negative")
  })

  it("idioms whose negation does not reverse them", () => {
    for (const text of ["I can't wait for the weekend", "couldn't be happier with the flat", "honestly can't complain"]) {
      expect(score(text).label, text).toBe("positive")
    }
  })
})

describe("emphasis amplifies, never flips", () => {
  it("exclamation marks push further in the direction the text leans, and set none", () => {
    expect(s("what a lovely evening!!")).toBeGreaterThan(s("what a lovely evening"))
    expect(s("what a miserable evening!!")).toBeLessThan(s("what a miserable evening"))
    expect(s("the bus leaves at six!!!")).toBe(0)
  })

  it("capitals amid lower case amplify the word in its own direction", () => {
    expect(s("the play was AWFUL")).toBeLessThan(s("the play was awful"))
    expect(s("the play was SUPERB")).toBeGreaterThan(s("the play was superb"))
    expect(score("the film was NOT good").label).toBe("negative")
  })

  it("repeated letters amplify the word in its own direction", () => {
    expect(s("the view was beautifuuul")).toBeGreaterThan(s("the view was beautiful"))
    expect(s("that was borinnnng")).toBeLessThan(0)
  })
})

describe("intensifiers, profanity and slang among them, amplify and never flip", () => {
  it("an intensifier strengthens the sentiment word it precedes, either way", () => {
    expect(s("the pasta was really delicious")).toBeGreaterThan(s("the pasta was delicious"))
    expect(s("the pasta was really awful")).toBeLessThan(s("the pasta was awful"))
  })

  it("profanity before a positive word makes it more positive, not negative", () => {
    expect(s("that concert was fucking brilliant")).toBeGreaterThan(s("that concert was brilliant"))
    expect(s("damn good coffee")).toBeGreaterThan(s("good coffee"))
    expect(s("that concert was fucking terrible")).toBeLessThan(s("that concert was terrible"))
  })

  it("profanity with nothing to modify is emphasis in the text's direction, and sets none", () => {
    expect(s("finally got the fucking tickets")).toBeGreaterThanOrEqual(0)
    expect(s("the tram is bloody late again, so annoying")).toBeLessThan(s("the tram is late again, so annoying"))
    expect(s("love this song, freaking")).toBeGreaterThan(s("love this song"))
    expect(s("hate this song, freaking")).toBeLessThan(s("hate this song"))
  })

  it("slang intensifiers amplify a following word, and alone are the adjective they are", () => {
    expect(s("the band was mad good")).toBeGreaterThan(s("the band was good"))
    expect(score("my sister is so mad at me").label).toBe("negative")
  })
})

describe("contrast", () => {
  it("after 'but' counts more than before it", () => {
    expect(score("the hotel was charming but the staff were rude").label).toBe("negative")
    expect(score("the staff were rude but the hotel was charming").label).toBe("positive")
  })
})

describe("questions", () => {
  it("a question asks rather than asserts: its sentiment counts less, keeping its sign", () => {
    expect(s("is the museum good?")).toBeGreaterThan(0)
    expect(s("is the museum good?")).toBeLessThan(s("the museum is good"))
    expect(rules(score("is the museum good?"))).toContain("question")
  })
  it("a negative question that opens on an auxiliary and its subject asserts what it asks: the negation does not flip", () => {
    for (const text of ["Isn't it lovely?", "Wasn't the concert wonderful?", "Don't you love the new park?", "Aren't they cute?"]) {
      expect(score(text).label, text).toBe("positive")
    }
    expect(score("Wasn't that awful?").label).toBe("negative")
    // Not a question, not at the head of its clause, or not followed by a subject: the negation governs as ever.
    expect(score("Isn't it lovely.").label).toBe("negative")
    expect(score("The view isn't lovely?").label).toBe("negative")
    expect(score("It was fine, but isn't great?").score).toBeLessThan(s("It was fine, but is great?"))
    expect(score("Isn't lovely at all?").label).toBe("negative")
  })
})

describe("emoticons and emoji", () => {
  it("emoticons carry their own sentiment", () => {
    expect(score("see you tomorrow :)").label).toBe("positive")
    expect(score("see you tomorrow :(").label).toBe("negative")
    expect(score("see you tomorrow <3").label).toBe("positive")
  })

  it("emoji carry the emotion of their face or sign, skin tones and variation selectors aside", () => {
    expect(score("exam results are out 🎉").label).toBe("positive")
    expect(score("exam results are out 😭").label).toBe("negative")
    expect(score("exam results are out 👎🏻").label).toBe("negative")
    expect(score("exam results are out ❤️").label).toBe("positive")
  })

  it("character references social APIs leave in posts are read as what they stand for", () => {
    expect(score("see you tomorrow &lt;3").label).toBe("positive")
    expect(s("tea &gt; coffee")).toBe(0)
  })

  it("an emoji does not outweigh a clearly worded opposite with emphasis", () => {
    expect(score("the worst, most horrible day ever!!! 🙂").label).toBe("negative")
  })
})

describe("unmet expectations", () => {
  it("what was expected, hoped for or should have been, and was not, is a letdown", () => {
    for (const text of ["The service could have been better.", "I expected better.", "I was hoping for something better.",
      "It should have been great.", "I had hoped for a nicer welcome", "The fit should've been perfect"]) {
      expect(score(text).label, text).toBe("negative")
      expect(rules(score(text)), text).toContain("expectation")
    }
  })

  it("what could have been worse was not that bad", () => {
    expect(score("It could have been worse.").label).toBe("positive")
  })

  it("the expectation must come before the word, in its clause", () => {
    expect(score("Better than I expected!").label).toBe("positive")
    expect(score("Just as good as I hoped.").label).toBe("positive")
    expect(score("I expected a parcel. It arrived and it is great.").label).toBe("positive")
  })

  it("hope alone keeps its own warmth", () => {
    expect(score("I hope you have a lovely weekend").label).toBe("positive")
  })
})

describe("a wait or a fault that goes on", () => {
  it("'still' before a negation is a complaint, with or without a sentiment word", () => {
    for (const text of ["Two weeks on, there is still no answer from anyone.", "The replacement still hasn't come.",
      "My card still has not been credited.", "The app is still not loading", "still nothing from the courier"]) {
      expect(score(text).label, text).toBe("negative")
      expect(score(text).evidence.map((e) => e.token), text).toContain("still")
    }
  })

  it("not before can't, don't or won't, not without a negation, and a negated word after it keeps its own turn", () => {
    expect(score("Still love these boots after two winters").label).toBe("positive")
    expect(score("It is still warm after a day in the snow").label).not.toBe("negative")
    expect(score("I still don't know which colour to pick").evidence.map((e) => e.token)).not.toContain("still")
    expect(s("still not happy with the fix")).toBeLessThan(s("not happy with the fix"))
  })
})
