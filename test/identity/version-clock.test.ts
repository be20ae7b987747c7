// Identity's versioned rows (a message's current profile, an identifier's owner) are decided by the highest version, so
// a later decision must carry a higher version even when it is made by another process whose clock is behind the last
// writer's (several Kafka workers, a restart on another machine).
import { spawnSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { CDP_BIN, REPO_ROOT } from "../support/cli.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const currentProfiles = Effect.gen(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ message_id: string; profile_id: string }>(
    "SELECT message_id, argMax(profile_id, version) AS profile_id FROM event_profiles GROUP BY message_id ORDER BY message_id")
  return Object.fromEntries(rows.map((r) => [r.message_id, r.profile_id]))
})

/** `cdp ingest` of Segment messages in a process whose clock is `skewMs` off this one's. */
const ingestSkewed = (name: string, messages: ReadonlyArray<object>, skewMs: number) => {
  const file = join(dir, `${name}.ndjson`)
  writeFileSync(file, messages.map((m) => JSON.stringify(m)).join("\n") + "\n")
  const skew = join(dir, "skew.mjs")
  writeFileSync(skew, "const now = Date.now; const off = Number(process.env.SKEW_MS); Date.now = () => now() + off\n")
  const r = spawnSync(process.execPath, ["--import", skew, CDP_BIN, "ingest", "--source", "segment", "--tenant", "acme", file, "--data-dir", join(dir, "data")], {
    cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, SKEW_MS: String(skewMs) },
  })
  expect(r.stderr).toBe("")
  expect(r.status).toBe(0)
}

const segment = (id: string, day: number, fields: object) => ({
  type: "identify", messageId: id, timestamp: `2024-10-${String(day).padStart(2, "0")}T10:00:00.000Z`, ...fields,
})

describe("identity versions", () => {
  it("a process whose clock is behind the last writer's still decides after it", async () => {
    // The first process, its clock ten minutes ahead: the e-mail's profile (from the 1st) and a1's; a2's profile is merged into
    // a1's by the login of the 4th, which moves m2 and m3 there.
    ingestSkewed("first", [
      segment("m0", 1, { anonymousId: "a0", traits: { email: "ann@x.example" } }),
      segment("m1", 2, { anonymousId: "a1" }),
      segment("m2", 3, { anonymousId: "a2" }),
      segment("m3", 3, { anonymousId: "a2", userId: "u1" }),
    ], 10 * 60_000)
    ingestSkewed("login", [segment("m4", 4, { anonymousId: "a1", userId: "u1" })], 10 * 60_000)
    const before = await withEmbeddedWarehouse(join(dir, "data"), currentProfiles)
    expect(Object.keys(before).sort()).toContain("m2")
    // Then, in a process with the right time: u1 states the e-mail, so a1's profile joins the e-mail's (the older).
    ingestSkewed("second", [segment("m5", 5, { userId: "u1", traits: { email: "ann@x.example" } })], 0)
    const after = await withEmbeddedWarehouse(join(dir, "data"), Effect.gen(function* () {
      const warehouse = yield* Warehouse
      return yield* warehouse.query<{ message_id: string; profile_id: string }>(
        "SELECT message_id, profile_id FROM events WHERE tenant = 'acme' ORDER BY message_id")
    }))
    expect(after.map((r) => r.message_id)).toEqual(["m0", "m1", "m2", "m3", "m4", "m5"])
    // Every message in the one profile left (before: m2 and m3 stayed in the profile merged away).
    expect(after.filter((r) => r.profile_id !== after[0]!.profile_id)).toEqual([])
  })
})
