// `cdp dlq list|retry` refuse an empty --source or --rule (an empty --tenant was refused already), as GET /v1/dead-letters and POST
// /v1/dead-letters/retry do ("rule must not be empty (leave it out for every rule)"). Found probing the CLI: `cdp dlq
// list --rule ""` listed every rule's dead letters (the empty value was dropped), so `cdp dlq retry --rule "$RULE"` with
// RULE unset would re-drive every dead letter.
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { expectOneLineError } from "../support/cli-expect.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("an empty dead-letter filter", () => {
  it("is refused in one line naming the flag, before anything is read or re-driven", () => {
    const data = join(dir, "data")
    for (const [command, flag] of [["retry", "--rule"], ["list", "--source"], ["list", "--rule"]] as const) {
      const r = runCdp(["dlq", command, flag, "", "--data-dir", data])
      expectOneLineError(r, `${flag} must not be empty`)
      expect(r.stdout).toBe("")
    }
  }, 120_000)
})
