// `cdp x-search` with a bearer token but no recent-search query (CDP_X_QUERIES unset, empty, "[]" or " ; ") printed
// nothing and exited 0, as if it had searched and found nothing. It now says there is nothing to search, exit 1.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { allLimited, runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("cdp x-search without a query", () => {
  it("is one line naming CDP_X_QUERIES, exit 1, and makes no data dir", async () => {
    const data = join(dir, "data")
    const results = await allLimited([undefined, "", "[]", " ; "].map((queries) => () =>
      runCdpAsync(["x-search", "--data-dir", data], { env: { CDP_X_BEARER_TOKEN: "test-token", CDP_X_QUERIES: queries } })))
    for (const r of results) expectOneLineError(r, "CDP_X_QUERIES")
    expect(existsSync(data)).toBe(false)
  })
})
