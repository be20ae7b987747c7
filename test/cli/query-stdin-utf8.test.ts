// `cdp query -` given bytes that are not UTF-8 says so, naming the byte and its offset, rather than running what a
// lenient decoding made of them: a Latin-1 'é' in a string literal became U+FFFD and the query answered with it; a
// stray byte elsewhere was blamed as a syntax error or as a statement that is not a read.
import { spawnSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CDP_BIN, runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { expectOneLineError } from "../support/cli-expect.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const query = (data: string, input: Buffer) => {
  const r = spawnSync(process.execPath, [CDP_BIN, "query", "-", "--data-dir", data], { input, encoding: "utf8", timeout: 120_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe("cdp query - with stdin that is not UTF-8", () => {
  it("is refused naming the first byte that is not UTF-8 and its offset; valid UTF-8 still runs", () => {
    const data = join(dir, "data")
    const file = join(dir, "one.ndjson")
    writeFileSync(file, `${JSON.stringify({ type: "identify", userId: "u1", messageId: "m1", traits: { email: "ann@acme.example" } })}\n`)
    expect(runCdp(["ingest", "--source", "segment", file, "--tenant", "acme", "--data-dir", data]).status).toBe(0)
    const cases: ReadonlyArray<readonly [Buffer, string]> = [
      [Buffer.from("SELECT 'caf\xe9' AS x", "latin1"), "stdin is not valid UTF-8: byte 0xe9 at offset 11"],
      [Buffer.from("\xe9", "latin1"), "stdin is not valid UTF-8: byte 0xe9 at offset 0"],
      [Buffer.concat([Buffer.from("SELECT 'é' AS x, "), Buffer.from([0xff]), Buffer.from(" 1")]), "stdin is not valid UTF-8: byte 0xff at offset 18"],
    ]
    for (const [input, words] of cases) {
      const r = query(data, input)
      expectOneLineError(r, words)
      expect(r.stdout).toBe("")
    }
    // PowerShell 5's pipe and Notepad's "Unicode": named as the encoding it is, with how to convert it.
    const utf16 = query(data, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("SELECT 1", "utf16le")]))
    expectOneLineError(utf16, "stdin is UTF-16 text, not UTF-8: save or pipe it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)")
    const ok = query(data, Buffer.from("SELECT 'café' AS x"))
    expect(ok.status, ok.stderr).toBe(0)
    expect(JSON.parse(ok.stdout.trim())).toEqual({ x: "café" })
  }, 120_000)
})
