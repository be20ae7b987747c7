// Output of query results: JSON lines (for scripts) or a table (for people).
import Table from "cli-table3"
import { DISPLAY_CONTROLS } from "../warehouse/labels.ts"

export type OutputFormat = "json" | "table"

// C0 controls but tab and line feed, and the display controls (warehouse/labels.ts: DEL, C1, bidi overrides and
// isolates; JSON.stringify leaves C1 as it is).
const UNSAFE = new RegExp(`[\\u0000-\\u0008\\u000b-\\u001f${DISPLAY_CONTROLS}]`)
const UNSAFE_ALL = new RegExp(UNSAFE.source, "g")

/**
 * Text as a terminal shows it without obeying it: each control character becomes its \uXXXX escape, visible. Inside a
 * JSON string that escape is the same character, so JSON output stays the same value.
 */
export const terminalSafe = (text: string): string =>
  UNSAFE.test(text) ? text.replace(UNSAFE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) : text

/**
 * Every command's standard output goes through terminalSafe: what cdp prints is often what others sent (an event name
 * from a public write key, a trait, an audience or token name), and a terminal would run the escape sequences in it.
 * Only stdout: stderr carries the progress bar's own sequences, and errors name no stored text.
 */
export const guardStdout = (): void => {
  const write = process.stdout.write.bind(process.stdout) as (chunk: unknown, ...rest: Array<unknown>) => boolean
  process.stdout.write = ((chunk: unknown, ...rest: Array<unknown>) =>
    write(typeof chunk === "string" ? terminalSafe(chunk) : chunk, ...rest)) as typeof process.stdout.write
}

export const formatRows = (rows: ReadonlyArray<Record<string, unknown>>, format: OutputFormat): string => {
  if (format === "json") return rows.map((r) => JSON.stringify(r)).join("\n")
  if (rows.length === 0) return "(no rows)"
  const columns = Object.keys(rows[0]!)
  const table = new Table({
    head: columns,
    style: { head: [], border: [], compact: true },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  })
  for (const row of rows) {
    table.push(columns.map((c) => {
      const v = row[c]
      const text = typeof v === "string" ? v : JSON.stringify(v)
      return text.length > 80 ? `${text.slice(0, 77)}...` : text
    }))
  }
  return table.toString()
}
