import { describe, expect, it } from "vitest"
import { createScorer, score, type SentimentResult } from "../../sentiment/index.ts"

const aspect = (r: SentimentResult, name: string) => r.aspects.find((a) => a.aspect === name)

describe("aspects", () => {
  it("each aspect takes the sentiment of the clause that mentions it", () => {
    const r = score("The delivery was late, but the jacket is lovely")
    expect(aspect(r, "delivery")?.label).toBe("negative")
    expect(aspect(r, "product")?.label).toBe("positive")
  })

  it("the default aspects cover product, delivery, returns, price, support and the app", () => {
    const cases: Array<[string, string]> = [
      ["The stitching came apart", "product"],
      ["Shipping took three weeks", "delivery"],
      ["I am still waiting for my refund", "returns"],
      ["Way too expensive for what it is", "price"],
      ["The agent on the phone was rude", "support"],
      ["The app crashed at checkout", "app"],
    ]
    for (const [text, name] of cases) expect(score(text).aspects.map((a) => a.aspect), text).toContain(name)
  })

  it("keywords match inflected forms through their stems", () => {
    expect(aspect(score("They delivered it to the wrong house"), "delivery")?.terms).toEqual(["delivered"])
    expect(aspect(score("Refunds take forever"), "returns")?.terms).toEqual(["refunds"])
  })

  it("a phrase keyword is one mention: customer service", () => {
    const r = score("Customer service was excellent")
    expect(aspect(r, "support")).toMatchObject({ label: "positive", terms: ["customer service"] })
  })

  it("an aspect mentioned in a clause without sentiment is neutral", () => {
    expect(aspect(score("My parcel came on Tuesday. It is great."), "delivery")?.label).toBe("neutral")
  })

  it("a text about nothing in the taxonomy has no aspects", () => {
    expect(score("I am so happy today").aspects).toEqual([])
  })

  it("a tenant's own taxonomy adds aspects, matched on stems", () => {
    const tenant = createScorer({ aspects: { sustainability: ["recycled fabric", "eco friendly", "carbon"] } })
    const r = tenant.score("Love that it is made of recycled fabrics. Eco-friendly packaging too!")
    expect(aspect(r, "sustainability")).toMatchObject({ label: "positive" })
    expect(aspect(r, "sustainability")?.terms).toEqual(["recycled fabrics", "eco friendly"])
    expect(aspect(tenant.score("The carbon footprint claims are a scam"), "sustainability")?.label).toBe("negative")
  })

  it("a tenant can replace the default aspects", () => {
    const only = createScorer({ aspects: { fit: ["fit", "size"] }, defaultAspects: false })
    expect(only.score("The size is wrong and delivery was slow").aspects.map((a) => a.aspect)).toEqual(["fit"])
  })
})
