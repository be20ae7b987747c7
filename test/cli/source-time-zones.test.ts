// A source's time zone ("timeZone" in CDP_SOURCE_OPTIONS or --source-options): a zone that is not an IANA name is
// refused in one line naming the setting and the zone; cdp ingest says how many times had no zone and in which zone
// they were read (UTC when none is set), and the stored times are read in that zone.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { expectOneLineError } from "../support/cli-expect.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const CALLS = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes\n" +
  "c1,2024-07-15 09:30:00,60,inbound,,P,q,resolved,ok\nc2,2024-01-15T09:30:00,60,inbound,,P,q,resolved,ok\nc3,2024-07-15T09:30:00Z,60,inbound,,P,q,resolved,ok\n"

describe("a source's time zone", () => {
  it("a zone that is not an IANA name, or a source that does not exist, is refused naming the setting and the zone", () => {
    const file = join(dir, "calls.csv")
    writeFileSync(file, CALLS)
    const data = join(dir, "data")
    expectOneLineError(runCdp(["ingest", "--source", "calls", file, "--data-dir", data], { env: { CDP_SOURCE_OPTIONS: '{"calls":{"timeZone":"Europe/Londn"}}' } }),
      'CDP_SOURCE_OPTIONS must be a JSON object per source, e.g. {"calls":{"defaultCountry":"GB","timeZone":"Europe/London"}} (calls.timeZone: "Europe/Londn" is not an IANA time zone name')
    expectOneLineError(runCdp(["ingest", "--source", "segment", file, "--data-dir", data], { env: { CDP_SOURCE_OPTIONS: '{"chat":{"timeZone":"+99:00"}}' } }),
      'chat.timeZone: "+99:00" is not an IANA time zone name')
    expectOneLineError(runCdp(["ingest", "--source", "calls", file, "--data-dir", data], { env: { CDP_SOURCE_OPTIONS: '{"cals":{"timeZone":"Europe/London"}}' } }),
      '"cals" is not a source (sources: ')
    expectOneLineError(runCdp(["ingest", "--source", "chat", file, "--data-dir", data, "--source-options", '{"timeZone":"Mars/Olympus"}']),
      '--source-options')
    expectOneLineError(runCdp(["ingest", "--source", "chat", file, "--data-dir", data, "--source-options", '{"timeZone":"Mars/Olympus"}']),
      'timeZone: "Mars/Olympus" is not an IANA time zone name')
  })

  it("cdp ingest counts the times without a zone and names the zone they were read in; the stored times are in it", () => {
    const file = join(dir, "calls.csv")
    writeFileSync(file, CALLS)
    const data = join(dir, "data")
    const utc = runCdp(["ingest", "--source", "calls", file, "--data-dir", data, "--tenant", "utc"])
    expect(utc.status, utc.stderr).toBe(0)
    expect(utc.stdout).toContain("  2 times had no zone and were read as UTC (set the source's \"timeZone\" in CDP_SOURCE_OPTIONS or --source-options)\n")
    const berlin = runCdp(["ingest", "--source", "calls", file, "--data-dir", data, "--tenant", "berlin"], { env: { CDP_SOURCE_OPTIONS: '{"calls":{"timeZone":"Europe/Berlin"}}' } })
    expect(berlin.status, berlin.stderr).toBe(0)
    expect(berlin.stdout).toContain("  2 times had no zone and were read in Europe/Berlin\n")
    const dry = runCdp(["ingest", "--source", "calls", file, "--dry-run", "--source-options", '{"timeZone":"Asia/Tokyo"}'])
    expect(dry.status, dry.stderr).toBe(0)
    expect(dry.stdout).toContain("  2 times had no zone and would be read in Asia/Tokyo\n")
    const rows = runCdp(["query", "SELECT tenant, message_id, toString(timestamp) AS t, JSONExtractString(extra, 'zoneless_time_read_in') AS zone FROM events ORDER BY tenant, message_id", "--all-tenants", "--data-dir", data, "--format", "json"])
    expect(rows.status, rows.stderr).toBe(0)
    expect(rows.stdout.trim().split("\n").map((l) => JSON.parse(l))).toEqual([
      { tenant: "berlin", message_id: "c1", t: "2024-07-15 07:30:00.000", zone: "Europe/Berlin" },
      { tenant: "berlin", message_id: "c2", t: "2024-01-15 08:30:00.000", zone: "Europe/Berlin" },
      { tenant: "berlin", message_id: "c3", t: "2024-07-15 09:30:00.000", zone: "" },
      { tenant: "utc", message_id: "c1", t: "2024-07-15 09:30:00.000", zone: "UTC" },
      { tenant: "utc", message_id: "c2", t: "2024-01-15 09:30:00.000", zone: "UTC" },
      { tenant: "utc", message_id: "c3", t: "2024-07-15 09:30:00.000", zone: "" },
    ])
  }, 120_000)
})
