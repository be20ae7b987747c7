// The "see why" command `cdp ingest` prints after a rejection is one a user can paste as it is: it reads the dead
// letters of the tenant the file went to, in the data dir it went to (a path with a space included).
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { spawnSync } from "node:child_process"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CDP_BIN, REPO_ROOT, runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** The hint's command, run by a shell as the user would paste it (`npx cdp` being this checkout's cdp). */
const runHint = (stdout: string) => {
  const hint = /see why: (npx cdp .*)$/m.exec(stdout)?.[1]
  expect(hint, stdout).toBeDefined()
  const command = hint!.replace(/^npx cdp /, `"${process.execPath}" "${CDP_BIN}" `)
  return spawnSync("bash", ["-c", command], { cwd: REPO_ROOT, encoding: "utf8" })
}

describe("cdp ingest's see-why hint", () => {
  it("names the tenant and the data dir the file went to, so the pasted command shows the rejection", () => {
    const data = join(dir, "my data")
    const file = join(dir, "web.ndjson")
    writeFileSync(file, [
      JSON.stringify({ type: "track", event: "Order Completed", userId: "u1", messageId: "m1", timestamp: "2024-09-01T10:00:00Z" }),
      JSON.stringify({ type: "track", event: "Order Completed", userId: "u2", messageId: "m2", timestamp: "not a time" }),
    ].join("\n"))
    const r = runCdp(["ingest", "--source", "segment", file, "--tenant", "acme", "--data-dir", data])
    expect(r.stdout).toContain("1 rejected")
    const shown = runHint(r.stdout)
    expect(shown.stderr).toBe("")
    expect(shown.stdout).toContain("bad_timestamp")
  })
})
