// (hY) A replay hands the pipeline a tenant's turn (ingest/bus.ts TENANT_TURN) at a time, so another tenant's message waits
// for one turn of it, not for a replay's larger call. Seen probing cdp serve: while acme's 130,000 archived messages
// were replayed (POST /v1/operations/replay) in calls of 5,000, globex's one-message tracks waited up to 2.1 s (load 10).
import { cpSync } from "node:fs"
import { join } from "node:path"
import { Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { TENANT_TURN } from "../../ingest/bus.ts"
import { replayArchive } from "../../ingest/replay.ts"
import { freshDirsPerTest, post, query, withCollector } from "../support/pipeline.ts"
import { acmeLandedWhenGlobexIsAnswered } from "../support/tenant-turns.ts"

const dirs = freshDirsPerTest("a", "b")

const MESSAGES = 2 * TENANT_TURN
const tracks = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ type: "track", userId: `u${from + i}`, event: "Viewed", messageId: `m${from + i}` }))

describe("replay: tenants take turns", () => {
  it("another tenant's message is answered after one turn of a replay, and the replay lands whole", async () => {
    const started = new Date()
    // acme's messages, archived as received.
    await withCollector(dirs.a, (url) => Effect.gen(function* () {
      for (let from = 0; from < MESSAGES; from += 500) expect((yield* post(`${url}/v1/batch`, { batch: tracks(from, 500) })).status).toBe(200)
    }))
    cpSync(join(dirs.a, "objects"), join(dirs.b, "objects"), { recursive: true })
    // Replayed into a warehouse that has only the archive, while globex sends one message.
    await withCollector(dirs.b, (url) => Effect.gen(function* () {
      const replay = yield* Effect.forkChild(replayArchive({ from: started, to: new Date(Date.now() + 60_000), tenant: "acme" }))
      // The replay's messages are in the pipeline before globex sends. Before: 5,000 landed (globex's message waited for
      // the replay's one call of all of them).
      expect(yield* acmeLandedWhenGlobexIsAnswered(url)).toBeLessThan(MESSAGES)
      expect(yield* Fiber.join(replay)).toMatchObject({ records: MESSAGES, accepted: MESSAGES, duplicates: 0, rejected: 0 })
      expect(yield* query("SELECT count() AS n, uniqExact(message_id) AS ids FROM events WHERE tenant = 'acme'"))
        .toEqual([{ n: String(MESSAGES), ids: String(MESSAGES) }])
    }))
  }, 180_000)
})
