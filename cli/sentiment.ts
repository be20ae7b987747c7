// `cdp sentiment score`: texts in, one result per line out, in the same order.
import { createReadStream } from "node:fs"
import { createInterface } from "node:readline"
import { Effect } from "effect"
import { FileUnreadable } from "../ingest/import.ts"
import { sentimentConfigFromEnv, tenantScorers } from "../sentiment/index.ts"
import { formatRows, type OutputFormat } from "./format.ts"

export const scoreTextLines = (file: string | undefined, format: OutputFormat, tenant: string) =>
  Effect.tryPromise({
    try: async () => {
      const scorer = tenantScorers(sentimentConfigFromEnv())(tenant)
      const input = file === undefined || file === "-" ? process.stdin : createReadStream(file)
      const lines = createInterface({ input, crlfDelay: Infinity })
      const table: Array<Record<string, unknown>> = []
      for await (const line of lines) {
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
      if (format === "table") process.stdout.write(`${formatRows(table, "table")}\n`)
    },
    catch: (cause) =>
      cause instanceof Error && "_tag" in cause
        ? cause
        : FileUnreadable.of(file ?? "-", cause),
  })
