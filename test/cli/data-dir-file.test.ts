// A --data-dir that is a file: commands that write said "it is a file, not a directory", while commands that only
// read (cdp query, dsr list, token list, audience list, ...) and those that work on stored data said "it holds no
// warehouse", sending the user to look for a missing warehouse in what is no directory at all (found probing the CLI).
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { allLimited, runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a command given a --data-dir that is a file", () => {
  it("says it is a file, not a directory, in one line naming it, exit 1, and leaves the file as it was", async () => {
    const file = join(dir, "not-a-dir")
    writeFileSync(file, "x")
    const commands: ReadonlyArray<ReadonlyArray<string>> = [
      ["query", "SELECT 1"],
      ["dsr", "list"],
      ["token", "list"],
      ["audience", "list"],
      ["replay", "--from", "2026-01-01", "--to", "2026-01-31"],
      ["ingest", "--source", "segment", file],
    ]
    const results = await allLimited(commands.map((args) => () => runCdpAsync([...args, "--data-dir", file])))
    results.forEach((r) => expectOneLineError(r, `data dir ${file}: it is a file, not a directory`))
    expect(readFileSync(file, "utf8")).toBe("x")
  }, 120_000)
})
