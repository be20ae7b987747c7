import { describe, expect, it } from "vitest"
import { classReport, evaluate, pearson, polarityOf, weightedF1, type Polarity } from "../../sentiment/index.ts"

describe("pearson", () => {
  it("is 1 for a perfect positive and -1 for a perfect negative relation", () => {
    expect(pearson([1, 2, 3], [10, 20, 30])).toBeCloseTo(1, 12)
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12)
  })

  it("matches a hand-computed value: x=[1,2,3,4], y=[2,1,4,3] gives 3/5", () => {
    // deviations ±1.5, ±0.5; Σdxdy = 3, Σdx² = Σdy² = 5
    expect(pearson([1, 2, 3, 4], [2, 1, 4, 3])).toBeCloseTo(0.6, 12)
  })

  it("is NaN for a constant series and rejects series of different lengths", () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN()
    expect(() => pearson([1, 2], [1])).toThrow(RangeError)
  })
})

describe("polarity classes", () => {
  it("uses strict ±0.05 thresholds", () => {
    expect(polarityOf(0.05)).toBe("neutral")
    expect(polarityOf(0.0501)).toBe("positive")
    expect(polarityOf(-0.05)).toBe("neutral")
    expect(polarityOf(-0.0501)).toBe("negative")
  })
})

describe("weighted F1", () => {
  const gold: Polarity[] = ["positive", "positive", "positive", "negative", "negative", "neutral"]
  const predicted: Polarity[] = ["positive", "positive", "negative", "negative", "neutral", "neutral"]

  it("reports per-class precision, recall and F1 with gold supports", () => {
    const report = Object.fromEntries(classReport(gold, predicted).map((c) => [c.label, c]))
    expect(report.positive).toMatchObject({ precision: 1, support: 3 })
    expect(report.positive?.recall).toBeCloseTo(2 / 3, 12)
    expect(report.positive?.f1).toBeCloseTo(0.8, 12)
    expect(report.negative).toMatchObject({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 })
    expect(report.neutral).toMatchObject({ precision: 0.5, recall: 1, support: 1 })
    expect(report.neutral?.f1).toBeCloseTo(2 / 3, 12)
  })

  it("weights each class's F1 by its gold support: (0.8·3 + 0.5·2 + 2/3·1) / 6", () => {
    expect(weightedF1(gold, predicted)).toBeCloseTo((0.8 * 3 + 0.5 * 2 + 2 / 3) / 6, 12)
  })

  it("is 1 for perfect predictions and counts a never-predicted class as F1 0", () => {
    expect(weightedF1(gold, gold)).toBe(1)
    const allPositive: Polarity[] = gold.map(() => "positive")
    // positive: precision 3/6, recall 1 → F1 2/3, weight 3/6; the other classes score 0
    expect(weightedF1(gold, allPositive)).toBeCloseTo((2 / 3) * 0.5, 12)
  })
})

describe("evaluate", () => {
  it("divides ratings by the scale and classifies both sides at ±0.05", () => {
    // ratings/4 = [0.5, -0.25, 0.025] → positive, negative, neutral; scores → positive, neutral, neutral
    const result = evaluate([0.3, -0.04, 0], [2, -1, 0.1])
    expect(result.n).toBe(3)
    expect(result.f1w).toBeCloseTo((1 + 0 + 2 / 3) / 3, 12)
    expect(result.r).toBeCloseTo(pearson([0.3, -0.04, 0], [0.5, -0.25, 0.025]), 12)
  })
})
