// `cdp serve --host ""` (say `--host "$CDP_LISTEN"` with the variable unset) listened on every interface
// (http://[::]:8787): Node takes an empty host as "any". An empty or blank --host is refused naming the flag, before
// anything is made; the default stays 127.0.0.1 (an empty CDP_HOST is unset, as before).
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CDP_BIN, REPO_ROOT } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("cdp serve --host", () => {
  it("empty or blank is one line naming the flag, and nothing listens or is made", () => {
    const data = join(dir, "data")
    for (const host of ["", "  "]) {
      // Bounded: before the fix the server started and ran until killed.
      const r = spawnSync(process.execPath, [CDP_BIN, "serve", "--port", "0", "--host", host, "--data-dir", data],
        { cwd: REPO_ROOT, encoding: "utf8", timeout: 20_000 })
      expect(r.stderr).not.toContain("listening on")
      expectOneLineError(r, "--host")
    }
    expect(existsSync(data)).toBe(false)
  })
})
