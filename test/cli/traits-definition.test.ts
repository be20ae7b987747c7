// `cdp traits preview --definition '[]'` (or a string, a number, null) answered 'cdp: --definition /: first, last and
// latest_sentiment take no windowDays; latest_sentiment takes no of or events': the schema's conditional rules were
// the first to fail on a value that is not an object at all. It now says the definition must be a JSON object.
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { allLimited, runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("cdp traits preview --definition that is not an object", () => {
  it("is one line saying it must be a JSON object", async () => {
    const values = ["[]", "[1]", '"count"', "1", "null"]
    const results = await allLimited(values.map((v) => () => runCdpAsync(["traits", "preview", "--definition", v, "--data-dir", join(dir, "data")])))
    for (const r of results) {
      expectOneLineError(r, "--definition /: must be a JSON object")
      expect(r.stderr).not.toContain("take no windowDays")
    }
  })
})
