// Evaluation metrics for sentiment scorers against human ratings; pure functions over arrays.

export type Polarity = "positive" | "neutral" | "negative"

const CLASSES: ReadonlyArray<Polarity> = ["positive", "neutral", "negative"]

/** Pearson correlation of two equally long series; NaN when either is constant or they are shorter than 2. */
export const pearson = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>): number => {
  const n = xs.length
  if (n !== ys.length) throw new RangeError(`pearson: ${n} values against ${ys.length}`)
  if (n < 2) return Number.NaN
  let mx = 0
  let my = 0
  for (let i = 0; i < n; i++) {
    mx += xs[i] ?? 0
    my += ys[i] ?? 0
  }
  mx /= n
  my /= n
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] ?? 0) - mx
    const dy = (ys[i] ?? 0) - my
    sxy += dx * dy
    sxx += dx * dx
    syy += dy * dy
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy)
}

/** Three classes around zero: above `threshold` positive, below `-threshold` negative, else neutral. */
export const polarityOf = (x: number, threshold = 0.05): Polarity =>
  x > threshold ? "positive" : x < -threshold ? "negative" : "neutral"

export interface ClassReport {
  readonly label: Polarity
  readonly precision: number
  readonly recall: number
  readonly f1: number
  readonly support: number
}

/** Per-class precision, recall and F1; a class never predicted (or absent) has 0 where the ratio is undefined. */
export const classReport = (gold: ReadonlyArray<Polarity>, predicted: ReadonlyArray<Polarity>): ClassReport[] => {
  if (gold.length !== predicted.length) throw new RangeError(`classReport: ${gold.length} labels against ${predicted.length}`)
  return CLASSES.map((label) => {
    let tp = 0
    let fp = 0
    let fn = 0
    for (let i = 0; i < gold.length; i++) {
      const g = gold[i] === label
      const p = predicted[i] === label
      if (g && p) tp++
      else if (p) fp++
      else if (g) fn++
    }
    const precision = tp + fp === 0 ? 0 : tp / (tp + fp)
    const recall = tp + fn === 0 ? 0 : tp / (tp + fn)
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall)
    return { label, precision, recall, f1, support: tp + fn }
  })
}

/** F1 averaged over the classes, weighted by how often each class occurs in the gold labels. */
export const weightedF1 = (gold: ReadonlyArray<Polarity>, predicted: ReadonlyArray<Polarity>): number => {
  if (gold.length === 0) return Number.NaN
  let sum = 0
  for (const c of classReport(gold, predicted)) sum += c.f1 * c.support
  return sum / gold.length
}

export interface Evaluation {
  readonly n: number
  readonly r: number
  readonly f1w: number
}

/**
 * The metric of the human-rated sets: Pearson r between scores in [-1, 1] and ratings divided by `scale`, and
 * weighted F1 with both sides cut into three classes at ±`threshold`.
 */
export const evaluate = (
  scores: ReadonlyArray<number>,
  ratings: ReadonlyArray<number>,
  scale = 4,
  threshold = 0.05,
): Evaluation => {
  const gold = ratings.map((r) => r / scale)
  return {
    n: scores.length,
    r: pearson(scores, gold),
    f1w: weightedF1(gold.map((g) => polarityOf(g, threshold)), scores.map((s) => polarityOf(s, threshold))),
  }
}
