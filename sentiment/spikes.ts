// Spike detection on daily counts: a day is a spike when it exceeds a robust baseline of the days before it,
// the median plus k times the spread (MAD), so one earlier outlier neither hides nor fakes the next one.

export interface SpikeOptions {
  /** How many spreads above the median a day must be; default 3. */
  readonly k?: number
  /** Trailing days that form the baseline; default 28 (four of each weekday). */
  readonly windowDays?: number
  /** Fewer days of history than this, no verdict: too little to know what is usual; default 7. */
  readonly minHistoryDays?: number
  /** The spread never counts as less than this (counts of a flat or empty history have MAD 0); default 1. */
  readonly minSpread?: number
  /** A day with fewer than this many is never a spike, whatever its history; default 3. */
  readonly minCount?: number
}

export interface Baseline {
  readonly median: number
  /** Median absolute deviation of the history, unscaled. */
  readonly mad: number
  /** What the threshold is built from: max(1.4826 × MAD, √median, minSpread). */
  readonly spread: number
  readonly threshold: number
  readonly historyDays: number
}

export interface Spike extends Baseline {
  /** Index of the day in the series. */
  readonly index: number
  readonly value: number
}

export const DEFAULT_SPIKE_OPTIONS: Required<SpikeOptions> = {
  k: 3,
  windowDays: 28,
  minHistoryDays: 7,
  minSpread: 1,
  minCount: 3,
}

/** MAD × 1.4826 estimates the standard deviation of normally distributed values. */
const MAD_TO_SIGMA = 1.4826

export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const medianAbsoluteDeviation = (values: ReadonlyArray<number>, center = median(values)): number =>
  median(values.map((v) => Math.abs(v - center)))

/**
 * The baseline of day `index` from the `windowDays` days before it, or undefined with too little history.
 * Counts are noisy the way Poisson counts are (their natural spread is about √mean), so the spread is at least
 * √median: a history that happened to be perfectly flat does not turn every small bump into an alert.
 */
export const baselineAt = (
  series: ReadonlyArray<number>,
  index: number,
  options: SpikeOptions = {},
): Baseline | undefined => {
  const o = { ...DEFAULT_SPIKE_OPTIONS, ...options }
  const history = series.slice(Math.max(0, index - o.windowDays), index)
  if (history.length < o.minHistoryDays) return undefined
  const m = median(history)
  const mad = medianAbsoluteDeviation(history, m)
  const spread = Math.max(MAD_TO_SIGMA * mad, Math.sqrt(m), o.minSpread)
  return { median: m, mad, spread, threshold: m + o.k * spread, historyDays: history.length }
}

/** The spikes among days `from`.. of a daily series (earlier days serve as history only). */
export const detectSpikes = (series: ReadonlyArray<number>, options: SpikeOptions = {}, from = 0): Array<Spike> => {
  const minCount = options.minCount ?? DEFAULT_SPIKE_OPTIONS.minCount
  const spikes: Array<Spike> = []
  for (let i = Math.max(0, from); i < series.length; i++) {
    const value = series[i]!
    if (value < minCount) continue
    const baseline = baselineAt(series, i, options)
    if (baseline !== undefined && value > baseline.threshold) spikes.push({ index: i, value, ...baseline })
  }
  return spikes
}
