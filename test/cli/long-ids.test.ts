// An id that cannot be one, given to `cdp token revoke` or `cdp dsr status`, is refused in one short line, on the data
// dir itself and through `cdp serve`. Found probing the CLI while cdp serve held the data dir: `cdp token revoke
// tok_<100,000 letters>` printed "the request's headers are larger than the server takes (16 KB in all); send fewer
// or shorter ones" (the id went into the URL), and `cdp dsr status dsr_<100,000 letters>` printed the whole id back.
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { expectOneLineError } from "../support/cli-expect.ts"
import { runCdp, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let data: string
beforeEach(() => {
  dir = freshDir()
  data = join(dir, "data")
})
afterEach(() => removeDir(dir))

const LONG = "a".repeat(100_000)

const refusals = () => {
  const revoke = runCdp(["token", "revoke", `tok_${LONG}`, "--data-dir", data])
  expectOneLineError(revoke, "a token id is tok_ and 6-40 letters, digits, _ or -")
  expect(revoke.stderr.length).toBeLessThan(400)
  const status = runCdp(["dsr", "status", `dsr_${LONG}`, "--data-dir", data])
  expectOneLineError(status, "is not a request id (they look like dsr_...)")
  expect(status.stderr.length).toBeLessThan(400)
}

describe("an id too long to be one", () => {
  it("is refused in one short line on the data dir and through cdp serve", async () => {
    refusals()
    const serve = await startServe(["--data-dir", data])
    try {
      refusals()
    } finally {
      await serve.stop()
    }
  }, 120_000)
})
