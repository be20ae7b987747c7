// The day flags of `cdp relations` (compute --as-of, summary and report --from/--to, explain --as-of) take a date
// YYYY-MM-DD by the rule every other date flag and the /v1/relations routes share (warehouse/calendar.ts): a day on
// the calendar, 1900-01-01 to 2299-12-31. `--as-of 0001-01-01` was taken and computed (and made the data dir),
// while POST /v1/relations/compute refused it.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Command, type CommanderError, Option } from "commander"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { dayOnly } from "../../cli/calendar.ts"
import { registerRelationsCommands } from "../../cli/relations.ts"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const RANGE = "dates run from 1900-01-01 to 2299-12-31"

/** What `cdp <args>` writes on stderr when commander refuses a flag, parsed in this process (no action runs). */
const refusal = (args: ReadonlyArray<string>): string => {
  let stderr = ""
  const program = new Command("cdp").exitOverride().configureOutput({ writeErr: (s) => { stderr += s }, writeOut: () => {} })
  registerRelationsCommands(program, {
    dataDirOption: () => new Option("--data-dir <dir>"),
    identity: () => { throw new Error("the identity settings are read by an action, which must not run") },
  })
  // An accepted flag must not run the command here (it would open a data dir): each action is replaced by a no-op.
  for (const command of program.commands.flatMap((c) => c.commands)) command.action(() => {})
  try {
    program.parse(["relations", ...args], { from: "user" })
  } catch (e) {
    expect((e as CommanderError).code).toBe("commander.invalidArgument")
    return stderr
  }
  throw new Error(`cdp relations ${args.join(" ")} was accepted`)
}

describe("cdp relations' day flags", () => {
  it("refuse a date the warehouse cannot hold, naming the flag and the range, before the data dir is touched", () => {
    const data = join(dir, "data")
    const r = runCdp(["relations", "compute", "--as-of", "0001-01-01", "--data-dir", data])
    expectOneLineError(r, "--as-of")
    expect(r.stderr).toContain(`0001-01-01 is before 1900-01-01, the earliest day the warehouse holds (${RANGE})`)
    expect(existsSync(data)).toBe(false)
  })

  it("every one of them takes YYYY-MM-DD on the calendar, 1900-01-01 to 2299-12-31, and refuses anything else", () => {
    const flags: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["compute"], "--as-of"],
      [["summary"], "--from"],
      [["summary"], "--to"],
      [["report"], "--from"],
      [["report"], "--to"],
      [["explain", "ann@x.example"], "--as-of"],
    ]
    for (const [command, flag] of flags) {
      expect(refusal([...command, flag, "0001-01-01"])).toMatch(new RegExp(`'${flag} <date>'.*0001-01-01 is before 1900-01-01.*${RANGE}`))
      expect(refusal([...command, flag, "9999-12-31"])).toMatch(new RegExp(`'${flag} <date>'.*9999-12-31 is after 2299-12-31.*${RANGE}`))
      expect(refusal([...command, flag, "2024-02-30"])).toMatch(new RegExp(`'${flag} <date>'.*2024-02-30 is not a day on the calendar`))
      expect(refusal([...command, flag, "2024-13-01"])).toMatch(new RegExp(`'${flag} <date>'.*must be a date YYYY-MM-DD, e\\.g\\. 2024-11-01 \\(got "2024-13-01"\\)`))
      expect(refusal([...command, flag, "2024-11-01T00:00:00Z"])).toMatch(new RegExp(`'${flag} <date>'.*must be a date YYYY-MM-DD`))
    }
  })

  it("compute --as-of refuses a day a run cannot be kept for (outside 1970-01-01 to 2149-06-06), naming the flag, before the data dir is touched", () => {
    for (const day of ["1900-01-01", "1969-12-31", "2149-06-07", "2299-12-31"]) {
      expect(refusal(["compute", "--as-of", day])).toMatch(new RegExp(`'--as-of <date>'.*${day} is outside the days relationship scores are kept for \\(1970-01-01 to 2149-06-06\\)`))
    }
    const data = join(dir, "data")
    expectOneLineError(runCdp(["relations", "compute", "--as-of", "2299-12-31", "--data-dir", data]), "--as-of")
    expect(existsSync(data)).toBe(false)
  })

  it("take the first and last days the warehouse holds, and 29 February of a leap year, as given", () => {
    for (const day of ["1900-01-01", "2299-12-31", "2024-02-29"]) expect(dayOnly(day)).toBe(day)
  })
})
