// Evaluation metrics for sentiment scorers against human ratings or labels, and readers of labelled files.
import { Data } from "effect"

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

/** Recall averaged over the three classes without weights: the metric of short-post sets (SemEval 2017 Task 4A). */
export const macroRecall = (gold: ReadonlyArray<Polarity>, predicted: ReadonlyArray<Polarity>): number => {
  const present = classReport(gold, predicted).filter((c) => c.support > 0)
  return present.length === 0 ? Number.NaN : present.reduce((s, c) => s + c.recall, 0) / present.length
}

export interface LabelEvaluation {
  readonly n: number
  readonly macroRecall: number
  /** Mean F1 of the positive and negative classes. */
  readonly f1pn: number
  readonly accuracy: number
}

/** The metric of 3-class labelled sets: scores cut into classes at ±`threshold`, compared with the gold labels. */
export const evaluateLabels = (
  scores: ReadonlyArray<number>,
  labels: ReadonlyArray<Polarity>,
  threshold = 0.05,
): LabelEvaluation => {
  if (scores.length !== labels.length) throw new RangeError(`evaluateLabels: ${scores.length} scores against ${labels.length} labels`)
  const predicted = scores.map((s) => polarityOf(s, threshold))
  const report = classReport(labels, predicted)
  const f1 = (label: Polarity) => report.find((c) => c.label === label)?.f1 ?? 0
  let correct = 0
  for (let i = 0; i < labels.length; i++) if (labels[i] === predicted[i]) correct++
  return {
    n: labels.length,
    macroRecall: macroRecall(labels, predicted),
    f1pn: (f1("positive") + f1("negative")) / 2,
    accuracy: labels.length === 0 ? Number.NaN : correct / labels.length,
  }
}

export interface RatedText {
  readonly text: string
  readonly rating: number
}

/** What is wrong with a labelled file, naming the file and the line. */
export class LabelledFileInvalid extends Data.TaggedError("LabelledFileInvalid")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/**
 * A rated set, one text a line: `id <TAB> rating <TAB> text` (the VADER study's format) or `rating <TAB> text`, each
 * rating a number from -scale to +scale (0 neutral). Blank lines are skipped; anything else that is not in that shape
 * is an error naming the line (a 1..5 star file read on the -4..+4 scale would make every gold label positive).
 */
export const parseRatedLines = (content: string, scale = 4): RatedText[] => {
  const out: RatedText[] = []
  const lines = content.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (line.trim() === "") continue
    const cells = line.split("\t")
    const ratingCell = cells.length >= 3 ? cells[1] : cells[0]
    const rating = Number(ratingCell)
    if (cells.length < 2 || ratingCell === undefined || ratingCell.trim() === "" || !Number.isFinite(rating)) {
      if (cells.length >= 2 && ratingCell !== undefined && ratingCell.trim() !== "") {
        throw new LabelledFileInvalid({ reason: `line ${i + 1}: the rating "${ratingCell.slice(0, 20)}" is not a number` })
      }
      throw new LabelledFileInvalid({ reason: `line ${i + 1}: expected "id<TAB>rating<TAB>text" or "rating<TAB>text"` })
    }
    if (Math.abs(rating) > scale) {
      throw new LabelledFileInvalid({
        reason: `line ${i + 1}: the rating ${rating} is outside -${scale}..${scale} (--scale ${scale}): ratings run from ` +
          "-scale (most negative) through 0 (neutral) to +scale",
      })
    }
    out.push({ text: cells.slice(cells.length >= 3 ? 2 : 1).join("\t"), rating })
  }
  return out
}

const LABEL_WORDS: Readonly<Record<string, Polarity>> = {
  "0": "negative", "1": "neutral", "2": "positive", negative: "negative", neutral: "neutral", positive: "positive",
  neg: "negative", neu: "neutral", pos: "positive", "-1": "negative", "+1": "positive",
}

/** One label a line: 0/1/2 (TweetEval's negative/neutral/positive), -1/+1, or the class names. */
export const parseLabelLines = (content: string): Polarity[] => {
  const lines = content.split(/\r?\n/)
  if (lines.at(-1) === "") lines.pop()
  return lines.map((line, i) => {
    const label = LABEL_WORDS[line.trim().toLowerCase()]
    if (label === undefined) {
      throw new LabelledFileInvalid({ reason: `line ${i + 1}: "${line.slice(0, 20)}" is not 0, 1, 2 or negative/neutral/positive` })
    }
    return label
  })
}

/** The texts of a labelled set, one a line, as many as the labels (a trailing empty line is not a text). */
export const parseTextLines = (content: string): string[] => {
  const lines = content.split(/\r?\n/)
  if (lines.at(-1) === "") lines.pop()
  return lines
}
