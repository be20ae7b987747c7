// What cdp prints is often what others sent (an event name from a public write key, a profile's traits, an audience
// or token name): control sequences in it must reach the operator's terminal as visible text, never as commands
// (clear the screen, set the window title, reorder text with bidi overrides).
import { writeFileSync } from "node:fs"
import { Writable } from "node:stream"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { keepWritingWithoutReader, MAX_TABLE_ROWS, terminalSafe } from "../../cli/format.ts"
import { withoutControlCharacters } from "../../ingest/utf8.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const HOSTILE = "x\u001b]0;pwned\u0007\u001b[2Jy\u009b31mz\u202eabc\rq"
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

describe("cdp's output", () => {
  it("shows control characters as \\u escapes and leaves other text, tabs and line breaks alone", () => {
    expect(terminalSafe(HOSTILE)).toBe("x\\u001b]0;pwned\\u0007\\u001b[2Jy\\u009b31mz\\u202eabc\\u000dq")
    expect(terminalSafe("plain café 😀\tand\nlines")).toBe("plain café 😀\tand\nlines")
  })

  // A property value (an event name holding a control character is refused at the edge since 1cc937b). C0 and C1
  // controls are taken out of stored properties since db08e37/7688083; what is left (a bidi override, a carriage
  // return), and anything a query makes itself, must still reach the terminal escaped.
  it("a hostile property value is printed escaped by cdp query, as a table and as JSON lines (still the same value)", () => {
    const data = join(dir, "data")
    const file = join(dir, "hostile.ndjson")
    writeFileSync(file, `${JSON.stringify({ type: "track", userId: "u1", event: "Viewed", properties: { note: HOSTILE }, messageId: "m1" })}\n`)
    expect(runCdp(["ingest", "--source", "segment", file, "--data-dir", data]).status).toBe(0)
    const stored = withoutControlCharacters(HOSTILE).text
    expect(stored).toContain("\u202e")
    const sql = "SELECT JSONExtractString(properties, 'note') AS event, concat('a', char(27), '[2Jb') AS made FROM events"
    const table = runCdp(["query", sql, "--format", "table", "--data-dir", data])
    expect(table.status).toBe(0)
    expect(table.stdout).not.toMatch(CONTROLS)
    expect(table.stdout).toContain("\\u202eabc\\u000dq")
    expect(table.stdout).toContain("a\\u001b[2Jb")
    const lines = runCdp(["query", sql, "--data-dir", data])
    expect(lines.stdout).not.toMatch(CONTROLS)
    expect(JSON.parse(lines.stdout)).toEqual({ event: stored, made: "a\u001b[2Jb" })
  })

  it("carries on without a stack trace when its reader has gone (EPIPE), and says in one line when output fails otherwise", async () => {
    const failing = (code: string) => new Writable({
      write: (_chunk, _encoding, done) => done(Object.assign(new Error(`write ${code}`), { code })),
    })
    const piped = failing("EPIPE")
    const gone = keepWritingWithoutReader(piped)
    piped.write("first line\n")
    await new Promise((r) => setImmediate(r))
    // Without the listener the stream's error is unhandled, which ends the process with a stack trace.
    expect(gone()).toBe(true)
    expect(process.exitCode ?? 0).toBe(0)
    const full = failing("ENOSPC")
    const stopped = keepWritingWithoutReader(full)
    const stderr: Array<string> = []
    const write = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string) => { stderr.push(chunk); return true }) as typeof process.stderr.write
    try {
      full.write("x")
      await new Promise((r) => setImmediate(r))
    } finally {
      process.stderr.write = write
    }
    expect(stopped()).toBe(true)
    expect(stderr).toEqual(["cdp: cannot write the output: write ENOSPC\n"])
    expect(process.exitCode).toBe(1)
    process.exitCode = 0
  })

  // Seen: `cdp sentiment evaluate texts.txt --labels labels.txt` with a label line holding an OSC title sequence and
  // ESC[2J printed them raw in its error ('cdp: labels.txt: line 1: "<ESC>]0;pwned<BEL><ESC>[2Jevil" is not 0, 1, 2
  // ...'): a file from elsewhere could clear or retitle the terminal of whoever checked it.
  it("an error quoting a file's text shows its control characters escaped, in one line", () => {
    const texts = join(dir, "texts.txt")
    const labels = join(dir, "labels.txt")
    writeFileSync(texts, "hello\n")
    writeFileSync(labels, "\u001b]0;pwned\u0007\u001b[2Jevil\rfake\n")
    const r = runCdp(["sentiment", "evaluate", texts, "--labels", labels])
    expect(r.status).toBe(1)
    expect(r.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/)
    expect(r.stderr).toContain("\\u001b]0;pwned\\u0007\\u001b[2Jevil\\u000df")
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
  })

  it("a table longer than cdp shows is cut with a line saying how many rows there are; JSON lines hold them all", () => {
    const data = join(dir, "data")
    const file = join(dir, "one.ndjson")
    writeFileSync(file, `${JSON.stringify({ type: "track", userId: "u1", event: "Seen", messageId: "m1" })}\n`)
    expect(runCdp(["ingest", "--source", "segment", file, "--data-dir", data]).status).toBe(0)
    // 150,000 rows overflowed the table library's call stack: "cdp: internal error: RangeError ..." and exit 1.
    const table = runCdp(["query", "SELECT number FROM numbers(150000)", "--format", "table", "--data-dir", data])
    expect(table.stderr).toBe("")
    expect(table.status).toBe(0)
    const lines = table.stdout.trimEnd().split("\n")
    expect(lines.at(-1)).toBe(`(150,000 rows: the table shows the first ${MAX_TABLE_ROWS.toLocaleString("en")}; --format json prints them all)`)
    expect(lines.filter((l) => /^│ \d+ +│$/.test(l))).toHaveLength(MAX_TABLE_ROWS)
    const all = runCdp(["query", "SELECT number FROM numbers(150000)", "--data-dir", data])
    expect(all.status).toBe(0)
    expect(all.stdout.trimEnd().split("\n")).toHaveLength(150_000)
  })
})
