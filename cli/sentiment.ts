// `cdp sentiment score`: texts in, one result per line out, in the same order; `cdp sentiment evaluate`: the
// model's agreement with a labelled set.
import { createReadStream } from "node:fs"
import { readFile } from "node:fs/promises"
import { Effect } from "effect"
import { FileUnreadable } from "../ingest/import.ts"
import { JSON_LIMITS } from "../ingest/json.ts"
import { boundedLines } from "../ingest/sources/items.ts"
import {
  evaluate, evaluateLabels, LabelledFileInvalid, MODEL_VERSION, parseLabelLines, parseRatedLines, parseTextLines,
  tenantScorers,
} from "../sentiment/index.ts"
import { sentimentSettings } from "./config.ts"
import { formatRows, type OutputFormat } from "./format.ts"

export const scoreTextLines = (file: string | undefined, format: OutputFormat, tenant: string) =>
  Effect.flatMap(sentimentSettings, (config) => Effect.tryPromise({
    try: async () => {
      const scorer = tenantScorers(config)(tenant)
      const input = file === undefined || file === "-" ? process.stdin : createReadStream(file)
      const table: Array<Record<string, unknown>> = []
      // Not readline: it held a line whole however long, and a file of 1 GB on one line crashed the command.
      const lines = boundedLines(input as AsyncIterable<Buffer>, JSON_LIMITS.maxBytes)
      let texts = 0
      for await (const line of lines) {
        texts++
        const r = scorer.score(line)
        if (format === "json") {
          process.stdout.write(`${JSON.stringify({
            status: r.status, score: Math.round(r.score * 10_000) / 10_000, label: r.label, evidence: r.evidence,
            aspects: r.aspects, ...(r.reason === undefined ? {} : { reason: r.reason }), model: r.model,
          })}\n`)
        } else {
          table.push({
            text: line, score: r.score.toFixed(3), label: r.status === "scored" ? r.label : `unscored (${r.reason})`,
            evidence: r.evidence.map((e) => `${e.token}:${e.rule}`).join(" "),
          })
        }
      }
      // Nothing scored is no answer: a wrong file name or an empty pipe is said so, exit 1, as evaluate does.
      if (texts === 0) throw new LabelledFileInvalid({ reason: `${file === undefined || file === "-" ? "stdin" : file} holds no texts to score (one a line); check the file name` })
      if (format === "table") process.stdout.write(`${formatRows(table, "table")}\n`)
    },
    catch: (cause) =>
      cause instanceof Error && "_tag" in cause
        ? cause
        : FileUnreadable.of(file ?? "-", cause),
  }))

export interface EvaluateOptions {
  /** A file with one label a line (0/1/2 or negative/neutral/positive) for the texts of `file`, one a line. */
  readonly labels?: string
  /** `file` holds rated texts: `id<TAB>rating<TAB>text` or `rating<TAB>text`. */
  readonly ratings?: boolean
  /** Ratings are divided by this to fall in [-1, 1] (4 for the VADER study's -4..+4). */
  readonly scale: number
  readonly format: OutputFormat
  readonly tenant: string
}

const readText = (path: string) =>
  Effect.tryPromise({ try: () => readFile(path, "utf8"), catch: (cause) => FileUnreadable.of(path, cause) })

const parsing = <A>(path: string, parse: () => A) =>
  Effect.try({
    try: parse,
    catch: (e) => new LabelledFileInvalid({ reason: `${path}: ${e instanceof LabelledFileInvalid ? e.reason : String(e)}` }),
  })

const fixed = (x: number): number | null => (Number.isNaN(x) ? null : Math.round(x * 1000) / 1000)

/** Metrics of no texts are no measurement: a wrong or empty file is said so, exit 1. */
const nothingToEvaluate = (file: string) =>
  Effect.fail(new LabelledFileInvalid({ reason: `${file} holds no texts to evaluate; check the file name` }))

/** `cdp sentiment evaluate`: the model's agreement with a labelled or rated set, with the metrics of the shared sets. */
export const evaluateFile = (file: string, options: EvaluateOptions) =>
  Effect.gen(function* () {
    if ((options.labels === undefined) === (options.ratings !== true)) {
      return yield* new LabelledFileInvalid({ reason: "give either --labels FILE (texts one a line) or --ratings (rated lines)" })
    }
    const scorer = tenantScorers(yield* sentimentSettings)(options.tenant)
    const content = yield* readText(file)
    let row: Record<string, unknown>
    if (options.labels !== undefined) {
      const labelsFile = options.labels
      const labelText = yield* readText(labelsFile)
      const labels = yield* parsing(labelsFile, () => parseLabelLines(labelText))
      const texts = parseTextLines(content)
      if (texts.length === 0) return yield* nothingToEvaluate(file)
      if (texts.length !== labels.length) {
        return yield* new LabelledFileInvalid({ reason: `${file} has ${texts.length} texts but ${labelsFile} has ${labels.length} labels` })
      }
      const m = evaluateLabels(texts.map((t) => scorer.score(t).score), labels)
      row = { n: m.n, macro_recall: fixed(m.macroRecall), f1_pos_neg: fixed(m.f1pn), accuracy: fixed(m.accuracy) }
    } else {
      const rated = yield* parsing(file, () => parseRatedLines(content, options.scale))
      if (rated.length === 0) return yield* nothingToEvaluate(file)
      const m = evaluate(rated.map((r) => scorer.score(r.text).score), rated.map((r) => r.rating), options.scale)
      row = { n: m.n, r: fixed(m.r), f1w: fixed(m.f1w) }
    }
    const out = { model: MODEL_VERSION, ...row }
    process.stdout.write(options.format === "json" ? `${JSON.stringify(out)}\n` : `${formatRows([out], "table")}\n`)
  })
