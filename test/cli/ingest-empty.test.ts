// `cdp ingest` of an empty or blank file says so in one line, exit 1, whatever the source: a source that reads a whole
// document (SendGrid's or X's JSON, a mail, a calls CSV) used to file it as one dead letter ("nothing landed: all 1
// items were rejected") while NDJSON sources said it holds nothing.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { landed } from "../support/landed.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let data: string
beforeAll(() => {
  dir = freshDir()
  data = join(dir, "data")
})
afterAll(() => removeDir(dir))

describe("cdp ingest of a file with nothing in it", () => {
  it("is refused as holding nothing, for every source, and keeps no dead letter", async () => {
    const empty = join(dir, "empty.json")
    writeFileSync(empty, "")
    const blank = join(dir, "blank.json")
    writeFileSync(blank, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(" \r\n\t\n")]))
    for (const source of ["sendgrid", "twitter", "email", "calls", "chat", "segment"]) {
      expectOneLineError(runCdp(["ingest", "--source", source, empty, "--data-dir", data]), `${empty} holds nothing to ingest`)
    }
    expectOneLineError(runCdp(["ingest", "--source", "sendgrid", blank, "--data-dir", data]), `${blank} holds nothing to ingest`)
    expectOneLineError(runCdp(["ingest", "--source", "calls", blank, "--dry-run"]), `${blank} holds nothing to ingest`)
    // Read in this process (a cdp process costs seconds of start-up; this test is about cdp ingest).
    expect(await landed(data, "SELECT count() AS n FROM dead_letters")).toEqual([{ n: "0" }])
  }, 120_000)

  it("a file holding one message after blank lines still lands it", () => {
    const file = join(dir, "late.ndjson")
    writeFileSync(file, `\n\n${JSON.stringify({ type: "track", userId: "u1", event: "E", messageId: "late-1" })}\n`)
    const r = runCdp(["ingest", "--source", "segment", file, "--data-dir", data])
    expect(r.stderr).toBe("")
    expect(r.stdout).toContain("1 accepted (1 landed")
  }, 60_000)
})
