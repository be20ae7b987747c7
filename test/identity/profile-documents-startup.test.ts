// Profile documents from `cdp serve`'s start (issue 17): the collector starts keeping them on the embedded warehouse,
// so the first reads after a restart find them built, and a keeper with nothing to build goes no further.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Pipeline } from "../../ingest/pipeline.ts"
import { profileCacheStats, profileDocumentStats } from "../../ingest/profile-read.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { withApi } from "../support/api.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"
import { untilDocumentsBuilt } from "../support/profile-documents.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const documents = query<{ n: string }>("SELECT uniqExact(tenant, profile_id) AS n FROM profile_documents")

describe("profile documents from the server's start", () => {
  it("are built for every landed profile after a restart, before any profile is read", async () => {
    await withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit([
        eventOn("m1", 1, { type: "identify", userId: "u1", traits: { email: "ann@x.example" } }),
        eventOn("m2", 2, { userId: "u2", event: "Signed Up" }),
        eventOn("m3", 3, { tenant: "globex", userId: "u1", event: "Signed Up" }),
      ], [])
    }))
    await withApi(dir, () => Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const stats = yield* untilDocumentsBuilt
      expect(profileCacheStats(warehouse).misses, "no profile was read").toBe(0)
      expect(stats.trusted).toBe(3)
      expect(yield* documents).toEqual([{ n: "3" }])
    }))
  }, 90_000)

  it("with nothing landed, or all built, the keeper goes to the warehouse no more", () =>
    withApi(dir, () => Effect.gen(function* () {
      const warehouse = yield* Warehouse
      yield* untilDocumentsBuilt
      const empty = profileDocumentStats(warehouse)
      // Started: it looked for tenants once and found none to build.
      expect(empty.runs).toBe(1)
      expect(empty.built).toBe(0)
      yield* Effect.sleep("1 second")
      expect(profileDocumentStats(warehouse)).toEqual(empty)
      // Once what landed is built, nothing more is done while nothing is written.
      yield* (yield* Pipeline).submit([eventOn("m1", 1, { userId: "u1", event: "Signed Up" })], [])
      const built = yield* untilDocumentsBuilt
      expect(built.trusted).toBe(1)
      yield* Effect.sleep("1 second")
      expect(profileDocumentStats(warehouse)).toEqual(built)
    })), 90_000)
})
