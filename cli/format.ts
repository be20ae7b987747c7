// Output of query results: JSON lines (for scripts) or a table (for people).
import Table from "cli-table3"
import { DISPLAY_CONTROLS } from "../warehouse/labels.ts"

export type OutputFormat = "json" | "table"

/** One word of a command line cdp prints for the user to paste: quoted for a POSIX shell when it holds anything but safe characters. */
export const shellWord = (word: string): string => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)

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
 * Only stdout: stderr carries the progress bar's own sequences; a command's error line is made safe where it is
 * written (cli/run.ts).
 * Output whose reader has gone (`cdp ... | head -1`) is dropped quietly (keepWritingWithoutReader).
 */
export const guardStdout = (): void => {
  const write = process.stdout.write.bind(process.stdout) as (chunk: unknown, ...rest: Array<unknown>) => boolean
  const gone = keepWritingWithoutReader(process.stdout)
  process.stdout.write = ((chunk: unknown, ...rest: Array<unknown>) =>
    gone() ? true : write(typeof chunk === "string" ? terminalSafe(chunk) : chunk, ...rest)) as typeof process.stdout.write
}

/**
 * When the reader of `stream` goes away (EPIPE: `cdp token create | head -1`), the command carries on and finishes
 * its work with its own exit code, its later output dropped, as Unix tools do; Node would otherwise stop the process
 * with an unhandled error's stack trace, whatever the command was in the middle of. Any other failure to write is
 * one line on stderr and exit code 1. Returns whether the reader has gone.
 */
export const keepWritingWithoutReader = (stream: NodeJS.EventEmitter): (() => boolean) => {
  let gone = false
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") gone = true
    else if (!gone) {
      gone = true
      process.stderr.write(`cdp: cannot write the output: ${error.message}\n`)
      process.exitCode = 1
    }
  })
  return () => gone
}

/**
 * Most rows a table shows: cli-table3 lays out every row at once and fails past about 120,000 rows (the call stack),
 * and no one reads a table that long; JSON lines have no limit.
 */
export const MAX_TABLE_ROWS = 10_000

export const formatRows = (rows: ReadonlyArray<Record<string, unknown>>, format: OutputFormat): string => {
  if (format === "json") return rows.map((r) => JSON.stringify(r)).join("\n")
  if (rows.length === 0) return "(no rows)"
  if (rows.length > MAX_TABLE_ROWS) {
    return `${formatRows(rows.slice(0, MAX_TABLE_ROWS), format)}\n(${rows.length.toLocaleString("en")} rows: the table shows the first ` +
      `${MAX_TABLE_ROWS.toLocaleString("en")}; --format json prints them all)`
  }
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
