// `cdp identity explain|separate|split` given too few identifiers say in one line what the command takes, with an
// example, before any data dir is opened (not commander's "missing required argument 'b'").
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("identity commands given too few identifiers", () => {
  it.each([
    [["explain", "email:ann@x.example"], "cdp identity explain takes two identifiers (A and B), got one", "e.g. cdp identity explain email:ann@x.example user_id:u1"],
    [["explain"], "cdp identity explain takes two identifiers (A and B), got none", "e.g. cdp identity explain email:ann@x.example user_id:u1"],
    [["separate", "user_id:u1", "--reason", "x"], "cdp identity separate takes two identifiers (A and B) to keep apart, got one", "e.g. cdp identity separate user_id:u1 email:"],
    [["split", "--reason", "x"], "cdp identity split takes the identifier to take out of linking (KIND:VALUE), got none", "e.g. cdp identity split phone:"],
  ])("cdp identity %j says what it takes", (args, says, example) => {
    const data = join(dir, "data")
    const r = runCdp(["identity", ...args, "--data-dir", data])
    expectOneLineError(r, says)
    expect(r.stderr).toContain(example)
    expect(r.stderr).not.toContain("missing required argument")
    expect(existsSync(data)).toBe(false)
  })
})
