// A misspelt or missing command followed by the flags the intended command takes names the command, not a flag. Seen
// probing: `cdp consent grant ID --data-dir d` (there is no grant) and `cdp dsr frobnicate --data-dir d` answered
// "unknown option '--data-dir'", a flag every such command takes, so a newcomer went looking for what was wrong with it.
import { describe, it } from "vitest"
import { allLimited, runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"

describe("an unknown command among flags", () => {
  it("is named, with the group's commands, whatever flags follow it; a group given flags alone names the flag and says it needs a command", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["consent", "grant", "x", "--data-dir", "/tmp/nowhere"], "unknown command 'grant' (cdp consent has: show)"],
      [["dsr", "frobnicate", "--data-dir", "/tmp/nowhere", "--tenant", "acme"], "unknown command 'frobnicate' (cdp dsr has: submit, status, list)"],
      [["querry", "SELECT 1", "--data-dir", "/tmp/nowhere"], "unknown command 'querry'"],
      [["dsr", "--data-dir", "/tmp/nowhere"], "unknown option '--data-dir' (cdp dsr needs a command first: submit, status, list)"],
      [["--bogus"], "unknown option '--bogus' (cdp needs a command first: serve,"],
    ]
    const results = await allLimited(cases.map(([args]) => () => runCdpAsync(args)))
    cases.forEach(([, names], i) => expectOneLineError(results[i]!, names))
  }, 120_000)
})
