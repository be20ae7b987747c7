// `cdp token revoke` given what cannot be a token id names the CLI's command that lists ids, not the HTTP route.
// Found probing the CLI: `cdp token revoke nosuch` ended "(GET /v1/tokens lists them)".
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { expectOneLineError } from "../support/cli-expect.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("cdp token revoke with no token id", () => {
  it("names cdp token list, not the HTTP route", () => {
    const r = runCdp(["token", "revoke", "nosuch", "--data-dir", join(dir, "data")])
    expectOneLineError(r, 'no token "nosuch": a token id is tok_ and 6-40 letters, digits, _ or - (cdp token list lists them)')
    expect(r.stderr).not.toContain("/v1/tokens")
  })
})
