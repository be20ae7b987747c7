import { afterAll, describe, expect, it } from "vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  classReport, evaluate, evaluateLabels, LabelledFileInvalid, macroRecall, MODEL_VERSION, parseLabelLines, parseRatedLines,
  parseTextLines, pearson, polarityOf, weightedF1, type Polarity,
} from "../../sentiment/index.ts"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"

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

describe("3-class labelled sets", () => {
  const gold: Polarity[] = ["positive", "positive", "negative", "neutral", "neutral", "neutral"]
  const predicted: Polarity[] = ["positive", "neutral", "negative", "neutral", "positive", "positive"]

  it("macro recall averages the classes' recalls without weights: (1/2 + 1 + 1/3) / 3", () => {
    expect(macroRecall(gold, predicted)).toBeCloseTo((0.5 + 1 + 1 / 3) / 3, 12)
  })

  it("evaluateLabels cuts scores at +-0.05 and reports macro recall, F1 of positive and negative, accuracy", () => {
    const m = evaluateLabels([0.6, 0.05, -0.3, 0, 0.2, 0.051], gold)
    expect(m.n).toBe(6)
    expect(m.macroRecall).toBeCloseTo((0.5 + 1 + 1 / 3) / 3, 12)
    expect(m.accuracy).toBeCloseTo(3 / 6, 12)
    // positive: precision 1/3, recall 1/2 -> F1 0.4; negative: F1 1
    expect(m.f1pn).toBeCloseTo((0.4 + 1) / 2, 12)
  })
})

describe("reading labelled files", () => {
  it("reads the VADER study's rated lines and plain rating<TAB>text lines, CRLF and blank lines included", () => {
    expect(parseRatedLines("1_1\t2.5\tnice day\r\n\r\n-1\tstill grim\n")).toEqual([
      { text: "nice day", rating: 2.5 },
      { text: "still grim", rating: -1 },
    ])
  })

  it("reads 0/1/2 and class-name labels, and names the line of a bad one", () => {
    expect(parseLabelLines("0\n1\n2\npositive\nNEG\n")).toEqual(["negative", "neutral", "positive", "positive", "negative"])
    expect(() => parseLabelLines("0\nmaybe\n")).toThrow(LabelledFileInvalid)
    expect(() => parseLabelLines("0\nmaybe\n")).toThrow(/line 2: "maybe"/)
    expect(() => parseRatedLines("just text\n")).toThrow(/line 1: expected/)
    expect(parseTextLines("a\nb\n")).toEqual(["a", "b"])
  })

  it("refuses a rating that is no number or lies outside -scale..+scale, naming the line and the scale", () => {
    expect(() => parseRatedLines("a\t3\tfine\nb\tx\tbad\n")).toThrow(/^line 2: the rating "x" is not a number$/)
    // Stars 1..5 read on the default scale: 5 is beyond +4, and the gold labels would all be positive.
    expect(() => parseRatedLines("a\t5\tgreat\nb\t1\tbad\n")).toThrow(/^line 1: the rating 5 is outside -4\.\.4 \(--scale 4\)/)
    expect(() => parseRatedLines("-1.5\tmeh\n", 1)).toThrow(/^line 1: the rating -1\.5 is outside -1\.\.1 \(--scale 1\)/)
    expect(parseRatedLines("a\t-4\tawful\nb\t4\tgreat\n")).toHaveLength(2)
    expect(parseRatedLines("9\tgreat\n", 10)).toEqual([{ text: "great", rating: 9 }])
  })
})

describe("cdp sentiment evaluate", () => {
  const dir = mkdtempSync(join(tmpdir(), "cdp-evaluate-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const file = (name: string, content: string) => {
    const path = join(dir, name)
    writeFileSync(path, content)
    return path
  }
  const texts = file("texts.txt", "what a wonderful morning\nthe train leaves at nine\nthis is awful\n")

  it("prints macro recall, F1 pos/neg and accuracy for texts with labels, with the model version", () => {
    const r = runCdp(["sentiment", "evaluate", texts, "--labels", file("labels.txt", "2\n1\n0\n"), "--format", "json"])
    expect(r.stderr).toBe("")
    expect(JSON.parse(r.stdout)).toEqual({ model: MODEL_VERSION, n: 3, macro_recall: 1, f1_pos_neg: 1, accuracy: 1 })
  })

  it("refuses rated lines beyond the scale in one line, exit 1", () => {
    const stars = file("stars.tsv", "a\t5\twhat a wonderful morning\nb\t1\tthis is awful\n")
    const r = runCdp(["sentiment", "evaluate", stars, "--ratings"])
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toBe(`cdp: ${stars}: line 1: the rating 5 is outside -4..4 (--scale 4): ratings run from -scale (most negative) through 0 (neutral) to +scale`)
    expect(runCdp(["sentiment", "evaluate", stars, "--ratings", "--scale", "5", "--format", "json"]).status).toBe(0)
  })

  it("prints r and weighted F1 for rated lines", () => {
    const rated = file("rated.tsv", "a\t3\twhat a wonderful morning\nb\t0\tthe train leaves at nine\nc\t-3\tthis is awful\n")
    const out = JSON.parse(runCdp(["sentiment", "evaluate", rated, "--ratings", "--format", "json"]).stdout) as Record<string, number>
    expect(out).toMatchObject({ model: MODEL_VERSION, n: 3, f1w: 1 })
    expect(out["r"]).toBeGreaterThan(0.9)
  })

  it("refuses, in one line, labels that do not match the texts, a bad label, a missing file or no mode", () => {
    expectOneLineError(runCdp(["sentiment", "evaluate", texts, "--labels", file("short.txt", "2\n")]), "has 3 texts but")
    expectOneLineError(runCdp(["sentiment", "evaluate", texts, "--labels", file("bad.txt", "2\nyes\n0\n")]), "line 2")
    expectOneLineError(runCdp(["sentiment", "evaluate", join(dir, "missing.txt"), "--ratings"]), "no such file")
    expectOneLineError(runCdp(["sentiment", "evaluate", texts]), "--labels")
  })

  it("refuses, in one line, an empty set instead of printing metrics of nothing (n 0, nulls) with exit 0", () => {
    expectOneLineError(runCdp(["sentiment", "evaluate", file("empty.txt", ""), "--labels", file("no-labels.txt", "")]), "holds no texts to evaluate")
    expectOneLineError(runCdp(["sentiment", "evaluate", file("blank.tsv", "\n\n"), "--ratings"]), "holds no texts to evaluate")
  })
})
