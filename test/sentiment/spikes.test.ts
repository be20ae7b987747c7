import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { baselineAt, detectSpikes, median, medianAbsoluteDeviation } from "../../sentiment/index.ts"

const days = (n: number, value: number | ((i: number) => number)) =>
  Array.from({ length: n }, (_, i) => (typeof value === "number" ? value : value(i)))

describe("spike detection", () => {
  it("median and MAD are the robust centre and spread", () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([])).toBe(0)
    expect(medianAbsoluteDeviation([1, 2, 3, 4, 100])).toBe(1)
  })

  it("a flat series has no spikes", () => {
    expect(detectSpikes(days(60, 5))).toEqual([])
  })

  it("one day far above a flat history is a spike, with the baseline that made it one", () => {
    const series = [...days(30, 4), 20, ...days(5, 4)]
    const spikes = detectSpikes(series)
    expect(spikes).toHaveLength(1)
    expect(spikes[0]).toMatchObject({ index: 30, value: 20, median: 4, mad: 0, historyDays: 28 })
    // A flat history has MAD 0; the spread is then √median (count noise), so the threshold is 4 + 3·2.
    expect(spikes[0]!.threshold).toBe(10)
  })

  it("a small bump over a flat history is not a spike (the spread never drops to zero)", () => {
    expect(detectSpikes([...days(30, 4), 7])).toEqual([])
  })

  it("on a noisy history only a day beyond the noise is a spike", () => {
    const noisy = (i: number) => [2, 7, 4, 9, 3, 6, 8, 1, 5, 6][i % 10]!
    const series = [...days(40, noisy), 12, ...days(5, noisy), 30]
    const spikes = detectSpikes(series)
    expect(spikes.map((s) => s.index)).toEqual([46])
    // The noisy history has median 5.5 and MAD 2: 5.5 + 3 × 1.4826 × 2 ≈ 14.4, so 12 is within the usual range.
    expect(baselineAt(series, 40)).toMatchObject({ median: 5.5, mad: 2 })
    expect(baselineAt(series, 40)!.threshold).toBeCloseTo(14.4, 1)
  })

  it("a zero baseline does not alert on one or two mentions, but does on a real burst", () => {
    expect(detectSpikes([...days(30, 0), 1])).toEqual([])
    expect(detectSpikes([...days(30, 0), 2])).toEqual([])
    expect(detectSpikes([...days(30, 0), 3])).toEqual([])
    expect(detectSpikes([...days(30, 0), 8]).map((s) => s.index)).toEqual([30])
  })

  it("with a short history there is no verdict, however large the day", () => {
    expect(detectSpikes([0, 0, 0, 50])).toEqual([])
    expect(baselineAt([1, 1, 1, 1, 1, 1], 6)).toBeUndefined()
    expect(detectSpikes([...days(7, 1), 50]).map((s) => s.index)).toEqual([7])
  })

  it("an earlier spike does not lift the baseline enough to hide the next one", () => {
    const series = [...days(30, 2), 25, ...days(3, 2), 25]
    expect(detectSpikes(series).map((s) => s.index)).toEqual([30, 34])
  })

  it("k and the window are settings; days before `from` are history only", () => {
    const series = [...days(20, 3), 7]
    expect(detectSpikes(series)).toEqual([])
    expect(detectSpikes(series, { k: 1.5 }).map((s) => s.index)).toEqual([20])
    expect(detectSpikes([...days(20, 3), 30, 3], {}, 21)).toEqual([])
    expect(baselineAt([...days(10, 100), ...days(7, 1)], 17, { windowDays: 7 })!.median).toBe(1)
  })

  it("a day no higher than the median of its history is never a spike (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 500 }), { minLength: 1, maxLength: 80 }), (series) => {
        for (const spike of detectSpikes(series)) {
          expect(spike.value).toBeGreaterThan(spike.median)
          expect(spike.value).toBeGreaterThan(spike.threshold)
          expect(spike.value).toBeGreaterThanOrEqual(3)
        }
      }),
      { verbose: true },
    )
  })
})
