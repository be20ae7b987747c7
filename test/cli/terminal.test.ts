// What cdp prints is often what others sent (an event name from a public write key, a profile's traits, an audience
// or token name): control sequences in it must reach the operator's terminal as visible text, never as commands
// (clear the screen, set the window title, reorder text with bidi overrides).
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { terminalSafe } from "../../cli/format.ts"
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

  it("a hostile event name is printed escaped by cdp query, as a table and as JSON lines (still the same value)", () => {
    const data = join(dir, "data")
    const file = join(dir, "hostile.ndjson")
    writeFileSync(file, `${JSON.stringify({ type: "track", userId: "u1", event: HOSTILE, messageId: "m1" })}\n`)
    expect(runCdp(["ingest", "--source", "segment", file, "--data-dir", data]).status).toBe(0)
    const table = runCdp(["query", "SELECT event FROM events", "--format", "table", "--data-dir", data])
    expect(table.status).toBe(0)
    expect(table.stdout).not.toMatch(CONTROLS)
    expect(table.stdout).toContain("\\u001b[2J")
    const lines = runCdp(["query", "SELECT event FROM events", "--data-dir", data])
    expect(lines.stdout).not.toMatch(CONTROLS)
    expect(JSON.parse(lines.stdout)).toEqual({ event: HOSTILE })
  })
})
