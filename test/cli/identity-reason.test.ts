// `cdp identity split|separate|suggestions --accept/--dismiss` on a data dir no server holds refuse a reason with a
// control or invisible character, or past 1,000 characters, as the server's routes do (identity/decisions.ts holds the
// rule): one line naming --reason, exit 1, nothing recorded. Found probing the CLI: the route refused such a reason
// (3420861) but the commands called identity/ directly and stored it.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("an identity decision's reason on the command line", () => {
  it.each([
    ["split, an escape sequence", ["split", "email:ann@x.example", "--reason", "clear \u001b[2J"], "U+001B"],
    ["separate, a bidi override", ["separate", "email:ann@x.example", "user_id:u1", "--reason", "evil\u202e"], "U+202E"],
    ["split, 1,001 characters", ["split", "email:ann@x.example", "--reason", "r".repeat(1001)], "at most 1,000 characters"],
    ["suggestions --accept, a bell", ["suggestions", "--accept", "sug_x", "--reason", "bell\u0007"], "U+0007"],
    ["suggestions --dismiss, a bell", ["suggestions", "--dismiss", "sug_x", "--reason", "bell\u0007"], "U+0007"],
  ])("cdp identity %s is refused in one line naming --reason", (_, args, says) => {
    const data = join(dir, "data")
    const r = runCdp(["identity", ...args, "--data-dir", data])
    expectOneLineError(r, says)
    expect(r.stderr).toContain("--reason")
    expect(r.stderr.length).toBeLessThan(400)
    expect(existsSync(data)).toBe(false)
  })
})
