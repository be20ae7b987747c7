// An operator's decision on a mistyped data dir. Found probing the CLI: `cdp identity split x@y.example --reason r
// --data-dir /tmp/typo` made /tmp/typo (an empty warehouse) and answered 'no profile of tenant "default" holds
// email:x@y.example', as did `cdp identity separate`; `cdp token revoke tok_...` answered "no token ... is known". The
// operator was told their customer or token does not exist, and a stray data dir was left behind.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a decision on a data dir that is not there", () => {
  it("is refused in one line saying the data dir does not exist, and makes none", async () => {
    const typo = join(dir, "dta")
    const runs = [
      ["identity", "split", "x@y.example", "--reason", "r"],
      ["identity", "separate", "x@y.example", "z@y.example", "--reason", "r"],
      ["token", "revoke", "tok_abcdefgh"],
      // Told "this command only reads" before: a decision on a suggestion writes one.
      ["identity", "suggestions", "--accept", "sug_abc", "--reason", "r"],
      ["identity", "suggestions", "--dismiss", "sug_abc"],
    ]
    // One after another: each must find the data dir still not there.
    for (const args of runs) {
      const r = await runCdpAsync([...args, "--data-dir", typo])
      expect(r.stderr, args.join(" ")).toContain(`cannot use data dir ${typo}: it does not exist, and this command works on what is stored there`)
      expectOneLineError(r, "check --data-dir")
      expect(existsSync(typo), args.join(" ")).toBe(false)
    }
  }, 120_000)
})
