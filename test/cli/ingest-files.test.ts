// A directory given where a file is read is named as such in one line, not as the system's "EISDIR: illegal operation
// on a directory, read".
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a directory where a file is read", () => {
  it("is one line saying it is a directory", () => {
    const folder = join(dir, "exports")
    mkdirSync(folder)
    expectOneLineError(runCdp(["ingest", "--source", "segment", folder, "--dry-run"]), `cannot read ${folder}: it is a directory, not a file`)
    expectOneLineError(runCdp(["sentiment", "score", folder]), `cannot read ${folder}: it is a directory, not a file`)
  })
})
