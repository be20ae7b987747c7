// cdp audit verify on a data dir that is not there, or holds nothing yet. Found probing: on a mistyped --data-dir it
// answered "the audit signing key DIR/audit-signing-key.pem cannot be used: ENOENT: no such file or directory, open
// '...'" instead of saying the data dir is not there, as cdp audit log and the other commands that only read do.
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { allLimited, runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("cdp audit verify on a data dir that is not there", () => {
  it("says the data dir does not exist (or holds nothing), exit 1, as cdp audit log does, and makes nothing", async () => {
    const missing = join(dir, "missing")
    const empty = join(dir, "empty")
    mkdirSync(empty)
    const [verify, log, verifyEmpty] = await allLimited([
      () => runCdpAsync(["audit", "verify", "--data-dir", missing]),
      () => runCdpAsync(["audit", "log", "--data-dir", missing]),
      () => runCdpAsync(["audit", "verify", "--data-dir", empty]),
    ])
    expectOneLineError(log!, `data dir ${missing}: it does not exist`)
    expectOneLineError(verify!, `data dir ${missing}: it does not exist`)
    expect(existsSync(missing)).toBe(false)
    expectOneLineError(verifyEmpty!, `data dir ${empty}: it holds no`)
    expect(verifyEmpty!.stderr).not.toContain("ENOENT")
  })
})
