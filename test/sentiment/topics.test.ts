import { describe, expect, it } from "vitest"
import { createTermExtractor, emergingTopics } from "../../sentiment/index.ts"

const BRAND = ["Fernhill Gear", "@fernhillgear", "#fernhillgear"]

// A steady background of posts in both windows; the current window adds a new complaint about a broken strap.
const background = (n: number, offset = 0): Array<string> => {
  const templates = [
    "Loving my new @fernhillgear jacket on the morning walk",
    "Fernhill Gear delivery was quick, well packed",
    "Does #fernhillgear do student discount?",
    "The fleece is so warm, wearing it every day",
    "Customer service sorted my exchange, thanks Fernhill Gear",
    "Wet weekend in the hills, boots kept my feet dry",
  ]
  return Array.from({ length: n }, (_, i) => templates[(i + offset) % templates.length]!)
}

const previous = background(60)
const current = [
  ...background(54, 3),
  "@fernhillgear the shoulder strap snapped on my first trip",
  "Shoulder strap snapped after two days, Fernhill Gear please fix this",
  "Mine too, shoulder strap snapped at the airport https://t.co/x1",
  "Is anyone else's shoulder strap snapped? #fernhillgear",
  "Shoulder strap snapped again. Not happy.",
  "so the shoulder strap snapped on the new pack",
]

describe("emerging topics (TF-IDF against the previous window)", () => {
  it("a phrase new in the window surfaces first, with its related words", () => {
    const topics = emergingTopics(current, previous, { brand: BRAND, top: 5 })
    expect(topics[0]).toMatchObject({ mentions: 6, previousMentions: 0 })
    expect(["shoulder strap", "strap snapped"]).toContain(topics[0]!.phrase)
    const words = [topics[0]!.phrase, ...topics[0]!.related]
    expect(words).toEqual(expect.arrayContaining(["shoulder", "strap", "snapped"]))
    expect(topics[0]!.score).toBeGreaterThan(0)
    for (let i = 1; i < topics.length; i++) expect(topics[i]!.score).toBeLessThanOrEqual(topics[i - 1]!.score)
  })

  it("what was as common before does not surface", () => {
    const phrases = emergingTopics(current, previous, { brand: BRAND, top: 10 }).flatMap((t) => [t.phrase, ...t.related])
    for (const steady of ["jacket", "delivery", "fleece", "boots", "exchange"]) expect(phrases).not.toContain(steady)
  })

  it("brand names, handles, hashtags, links, stop words and numbers never are topics", () => {
    const phrases = emergingTopics(current, [], { brand: BRAND, top: 50, minMentions: 1 }).flatMap((t) => [t.phrase, ...t.related])
    for (const banned of ["fernhill", "gear", "fernhillgear", "fernhill gear", "the", "on", "https", "t.co", "x1"]) {
      expect(phrases).not.toContain(banned)
    }
    expect(phrases).toContain("shoulder strap")
  })

  it("unigrams and bigrams of adjacent words, not across punctuation or removed words", () => {
    const extractor = createTermExtractor({ brand: BRAND })
    expect(extractor.terms("Zip broke, totally useless. @fernhillgear not impressed!").sort()).toEqual(
      ["broke", "impressed", "not impressed", "totally", "totally useless", "useless", "zip", "zip broke"].sort(),
    )
    expect(extractor.terms("Waited 12 days for 2 parcels")).toEqual(["waited", "parcels"])
  })

  it("a phrase must be in a few texts of the window to count; empty windows give nothing", () => {
    expect(emergingTopics(["one odd remark about kayaks"], [], { minMentions: 3 })).toEqual([])
    expect(emergingTopics([], previous)).toEqual([])
    expect(emergingTopics(current, [], { top: 3 })).toHaveLength(3)
    // Only the strap rose; the steady background is no topic however many are asked for.
    expect(emergingTopics(current, previous, { top: 10 })).toHaveLength(1)
  })
})
