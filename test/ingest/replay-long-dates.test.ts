// A date of 10,000 characters given to a replay or a rescore. Found probing the CLI: `cdp replay --from <10,000
// digits> --to 2026-01-01` and `cdp sentiment rescore --since <10,000 digits>` were refused in one line of 10,096 and
// 10,079 characters, the whole value echoed back (POST /v1/operations/replay the same in its JSON error). What was
// typed is shown cut, as every other refusal shows it.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { parseReplayRange } from "../../ingest/replay.ts"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"

const long = "2".repeat(10_000)

describe("a date of 10,000 characters", () => {
  it("a replay range names it cut, in a short message", () => {
    for (const [from, to, field] of [[long, "2026-01-01", "from"], ["2026-01-01", long, "to"]] as const) {
      const e = Effect.runSync(Effect.flip(parseReplayRange(from, to, { from: "from", to: "to" })))
      expect(e.message).toContain(`${field} must be a date`)
      expect(e.message.length).toBeLessThan(300)
    }
  })

  it("cdp replay and cdp sentiment rescore say so in a short line", () => {
    for (const args of [["replay", "--from", long, "--to", "2026-01-01"], ["sentiment", "rescore", "--since", long]]) {
      const r = runCdp(args)
      expectOneLineError(r, "a date")
      expect(r.stderr.length, args[0]).toBeLessThan(300)
    }
  }, 60_000)
})
