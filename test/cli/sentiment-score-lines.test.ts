// cdp sentiment score reads one text a line. Found probing: a file of 1 GB on one line crashed it with readline's
// "RangeError: Invalid string length" and a stack trace (exit 1, no cdp line). A line past the limit is now one line
// naming the file, the line and the limit, exit 1, before it is held in memory whole; lines as before score as before.
import { createWriteStream, writeFileSync } from "node:fs"
import { join } from "node:path"
import { once } from "node:events"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** `mb` MB of one line, written a megabyte at a time (never whole in memory), after `before`. */
const oneLongLine = async (path: string, mb: number, before = "") => {
  const out = createWriteStream(path)
  out.write(before)
  const chunk = Buffer.alloc(1024 * 1024, "a")
  for (let i = 0; i < mb; i++) if (!out.write(chunk)) await once(out, "drain")
  out.end("\n")
  await once(out, "finish")
}

describe("cdp sentiment score", () => {
  it("a line longer than 64 MB is refused in one line naming the file and the line, exit 1, without a stack trace", async () => {
    const file = join(dir, "long.txt")
    await oneLongLine(file, 80, "love it\n")
    const r = await runCdpAsync(["sentiment", "score", file, "--format", "json"])
    expectOneLineError(r, `${file}: line 2 is longer than 67108864 bytes`)
    expect(r.stderr).not.toContain("RangeError")
  }, 120_000)

  it("scores a text a line, LF, CRLF or CR ended, the last one without an end too", async () => {
    const r = await runCdpAsync(["sentiment", "score", "-", "--format", "json"], { input: "love it\r\nawful service\rfine\n\nok thanks" })
    expect(r.status).toBe(0)
    const labels = r.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { label: string; status: string }))
    expect(labels).toHaveLength(5)
    expect(labels[0]!.label).toBe("positive")
    expect(labels[1]!.label).toBe("negative")
    expect(labels[3]!.status).toBe("unscored")
  }, 120_000)

  it("an empty file, or empty stdin, is one line saying it holds no texts, exit 1, not an empty answer with exit 0", async () => {
    // Found probing: `cdp sentiment score EMPTY` printed nothing and exited 0, as if it had scored a file.
    const file = join(dir, "empty.txt")
    writeFileSync(file, "")
    expectOneLineError(await runCdpAsync(["sentiment", "score", file]), `${file} holds no texts to score`)
    expectOneLineError(await runCdpAsync(["sentiment", "score", "-"], { input: "" }), "stdin holds no texts to score")
    // A blank line is a text (scored as unscored), as before.
    expect((await runCdpAsync(["sentiment", "score", "-", "--format", "json"], { input: "\n" })).status).toBe(0)
  }, 120_000)
})
