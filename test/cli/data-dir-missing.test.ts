// Commands that work on what a data dir holds (replay its archive, retry its dead letters, rebuild its identity
// graph, compute relationships, refresh audiences, apply retention, rescore texts) on a mistyped --data-dir made it
// empty on the spot and reported nothing to do, exit 0 (`cdp replay ... --data-dir NX`: 'replayed 0 archived
// messages from 0 batches'), as if the real one were empty. They now say it is not there, exit 1, and make nothing,
// as the commands that only read do (test/cli/newcomer.test.ts).
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { allLimited, runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a command working on stored data, on a data dir that is not there", () => {
  it("says so in one line naming the dir, exit 1, and makes nothing", async () => {
    const commands: ReadonlyArray<ReadonlyArray<string>> = [
      ["replay", "--from", "2026-01-01", "--to", "2026-01-31"],
      ["dlq", "retry"],
      ["identity", "rebuild"],
      ["relations", "compute"],
      ["audience", "refresh"],
      ["retention", "apply"],
      ["sentiment", "rescore", "--since", "2026-01-01"],
    ]
    const data = (i: number) => join(dir, `missing-${i}`)
    const results = await allLimited(commands.map((args, i) => () => runCdpAsync([...args, "--data-dir", data(i)])))
    results.forEach((r, i) => {
      expectOneLineError(r, `data dir ${data(i)}: it does not exist`)
      expect(existsSync(data(i))).toBe(false)
    })
  })
})
