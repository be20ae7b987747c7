// `cdp listen report --out FILE` found out FILE could not be written only after the report had run, and a report
// records its spikes as alerts (and calls the alert webhook): `--out /tmp/p/nope/r.html` over the demo's four weeks
// recorded 4 alerts, then failed 'cannot write ...: its directory does not exist', and the report was lost; `--out ""`
// said 'cannot write : ...'. The path is now checked first: one line naming it, exit 1, no alert recorded.
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { landed } from "../support/landed.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("cdp listen report --out", () => {
  it("a path that cannot be written is refused before the report runs and records any alert", async () => {
    const data = join(dir, "demo")
    expect(runCdp(["demo", "--data-dir", data]).status).toBe(0)
    mkdirSync(join(dir, "a-dir"))
    const period = ["--since", "2026-03-02", "--until", "2026-03-28", "--format", "html", "--data-dir", data]
    for (const [out, names] of [
      [join(dir, "nope", "r.html"), "its directory does not exist"],
      [join(dir, "a-dir"), "it is a directory"],
      ["", "--out"],
    ] as const) {
      const r = runCdp(["listen", "report", ...period, "--out", out])
      expectOneLineError(r, names)
    }
    expect(await landed<{ n: string }>(data, "SELECT count() AS n FROM alerts")).toEqual([{ n: "0" }])
    // A path that can be written still gets the report (and the spikes their alerts).
    const ok = runCdp(["listen", "report", ...period, "--out", join(dir, "r.html")])
    expect(ok.status).toBe(0)
    expect(ok.stdout).toMatch(/^wrote .*r\.html: \d+ mentions, [1-9]\d* spikes\n$/)
  }, 90_000)
})
