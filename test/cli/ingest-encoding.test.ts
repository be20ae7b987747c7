// `cdp ingest` of a file saved as UTF-16 (PowerShell 5's `>`, Excel's "Unicode text") or UTF-32 is one line naming
// the encoding, exit 1, and nothing is kept: it used to be cut at the wrong bytes into dead letters that were not the
// sender's messages (2 messages made 3 dead letters: invalid_utf8, then not_json lines starting with a NUL), which no
// retry could bring back. A UTF-8 byte order mark is still read as before.
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

const lines = '{"type":"track","userId":"u","event":"E","messageId":"a1"}\n{"type":"track","userId":"u","event":"E","messageId":"a2"}\n'
const utf16be = (text: string) => Buffer.from(text, "utf16le").swap16()
const utf32le = (text: string) => Buffer.concat([...text].map((c) => { const b = Buffer.alloc(4); b.writeUInt32LE(c.codePointAt(0)!); return b }))

describe("cdp ingest of a file that is not UTF-8", () => {
  it("names UTF-16 (either byte order) and UTF-32 in one line, exit 1, and keeps no dead letter", async () => {
    const files: ReadonlyArray<readonly [string, Buffer, string]> = [
      ["le.ndjson", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(lines, "utf16le")]), "UTF-16"],
      ["be.ndjson", Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(lines)]), "UTF-16"],
      ["calls.csv", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("call_id,phone\r\nc1,+15551234567\r\n", "utf16le")]), "UTF-16"],
      ["32.ndjson", Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x00]), utf32le(lines)]), "UTF-32"],
    ]
    for (const [name, bytes, encoding] of files) {
      const file = join(dir, name)
      writeFileSync(file, bytes)
      const source = name.endsWith(".csv") ? "calls" : "segment"
      expectOneLineError(runCdp(["ingest", "--source", source, file, "--data-dir", data]), `cannot read ${file}: it is ${encoding} text; save it as UTF-8`)
    }
    const dry = runCdp(["ingest", "--source", "segment", join(dir, "le.ndjson"), "--dry-run"])
    expectOneLineError(dry, `cannot read ${join(dir, "le.ndjson")}: it is UTF-16 text; save it as UTF-8`)
    expect(dry.stdout).toBe("")
    // Read in this process (a cdp process costs seconds of start-up; this test is about cdp ingest).
    expect(await landed(data, "SELECT count() AS n FROM dead_letters")).toEqual([{ n: "0" }])
  })

  it("reads a UTF-8 file with a byte order mark as before", () => {
    const file = join(dir, "bom.ndjson")
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines)]))
    const r = runCdp(["ingest", "--source", "segment", file, "--data-dir", data])
    expect(r.stderr).toBe("")
    expect(r.stdout).toContain("2 accepted (2 landed, 0 duplicates), 0 rejected")
  })
})
